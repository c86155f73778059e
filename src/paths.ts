import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (the folder with package.json), from source (cli/stack) or build output (dist/cli/stack). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Vigil project root');
    dir = up;
  }
  return dir;
}

/** Where a built entry point lives: dist/<rel>.js. */
export function distEntry(rel: string): string {
  return join(repoRoot(), 'dist', `${rel}.js`);
}
