/** The `vigil` command. Every command that a script would read takes --json. */
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/errors.js';
import { dlq } from './commands/dlq.js';
import { incidents, show } from './commands/incidents.js';
import { mail } from './commands/mail.js';
import { send } from './commands/send.js';
import { setup } from './commands/setup.js';
import { up } from './commands/up.js';
import { UsageError } from './output.js';
import { NotRunning } from './state.js';

const HELP = `vigil: SOAR playbooks on Temporal

Usage:
  vigil up [--json]                                 start the stack (Temporal, worker, intake, dev mailbox)
  vigil setup [--json]                              prepare TEMPORAL_ADDRESS's namespace (retention, search attributes)
  vigil send --source <falco|generic> <file|->      sign and post events; prints the incident ids
  vigil incidents [--status open|closed] [--host H] [--limit N] [--json]
  vigil show <incident> [--json]                    stage, verdict, decisions, actions, timeline
  vigil dlq list [--state pending|resubmitted] | show <id> | retry <id>   [--json]
  vigil mail [show <id>] [--json]                   the dev stack's mailbox

Environment: VIGIL_HOME (state and data, default <repo>/.vigil), TEMPORAL_ADDRESS (use an existing server).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      source: { type: 'string' },
      status: { type: 'string' },
      state: { type: 'string' },
      host: { type: 'string' },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [cmd, ...rest] = positionals;
  const json = values.json ?? false;
  if (values.help || !cmd) {
    process.stdout.write(`${HELP}\n`);
    return cmd || values.help ? 0 : 64;
  }
  switch (cmd) {
    case 'up':
      await up({ json });
      return 0;
    case 'setup':
      await setup({ json });
      return 0;
    case 'send':
      return send({ source: values.source, file: rest[0], json });
    case 'incidents':
      await incidents({
        status: values.status,
        host: values.host,
        limit: values.limit ? Number(values.limit) : undefined,
        json,
      });
      return 0;
    case 'show':
      await show({ incident: rest[0], json });
      return 0;
    case 'dlq':
      return dlq({ action: rest[0], id: rest[1], state: values.state, json });
    case 'mail':
      mail({ action: rest[0], id: rest[1], json });
      return 0;
    default:
      throw new UsageError(`unknown command "${cmd}"\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError || e instanceof NotRunning || e instanceof ConfigError) {
      process.stderr.write(`vigil: ${e.message}\n`);
      process.exit(e instanceof ConfigError ? 2 : 64);
    }
    process.stderr.write(`vigil: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
