/** Run a process entry point: a ConfigError stops it at start with the message naming the key (exit 2). */
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../src/errors.js';

export function isEntryPoint(moduleUrl: string): boolean {
  const argv1 = process.argv[1];
  return argv1 !== undefined && pathToFileURL(argv1).href === moduleUrl;
}

export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    if (e instanceof ConfigError) {
      process.stderr.write(`${name}: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}

/** Resolve once on the first SIGINT/SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => resolve(s);
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}
