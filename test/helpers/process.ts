/** A built process entry (dist/...) as a child process, ready once it says it is polling. */
import { spawn, type ChildProcess } from 'node:child_process';
import { distEntry } from '../../src/paths.js';

export function spawnEntry(
  entry: string,
  env: Record<string, string>,
  children: ChildProcess[],
  ready = 'polling',
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [distEntry(entry)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(ready)) resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${entry} exited early (${code}): ${out.slice(-2000)}`)));
  });
}
