import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
const { code } = await bundleWorkflowCode({ workflowsPath: '/work/main/dist/playbooks/index.js', logger: { log(){}, trace(){}, debug(){}, info(){}, warn(){}, error(){} } });
const history = JSON.parse(readFileSync('/tmp/notifier-big.json', 'utf8'));
const t = performance.now();
try {
  await Worker.runReplayHistory({ workflowBundle: { code } }, history, 'vigil-notifier-probe');
  console.log('replayed ok');
} catch (e) { console.log('replay error', e.message?.slice(0, 300)); }
console.log('ms', Math.round(performance.now() - t));
