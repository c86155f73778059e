#!/usr/bin/env node
// Entry point of the `vigil` command: runs the built CLI (npm install builds it; or: npm run build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli/vigil.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('vigil: the CLI is not built yet; run `npm run build` (npm install does it too)\n');
  process.exit(1);
}
await import(cli);
