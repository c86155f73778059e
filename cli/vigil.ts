/** The `vigil` command. Every command that a script would read takes --json. */
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/errors.js';
import { audit } from './commands/audit.js';
import { shadow } from './commands/shadow.js';
import { whatif } from './commands/whatif.js';
import { dlq } from './commands/dlq.js';
import { incidents, show } from './commands/incidents.js';
import { mail } from './commands/mail.js';
import { model } from './commands/model.js';
import { verdict } from './commands/verdict.js';
import { send } from './commands/send.js';
import { approvals, decideApproval, operator, resolveIncident } from './commands/approvals.js';
import { policyCheck } from './commands/policy.js';
import { agents, automation, changeContainment, containments } from './commands/response.js';
import { rpa } from './commands/rpa.js';
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
  vigil approvals [--as <dev operator>] [--json]      pending approvals (operator token: VIGIL_OPERATOR_TOKEN)
  vigil approve|deny <incident> <approval-id> [--reason "..."]   decide one, as an authenticated operator
  vigil resolve <incident> --note "..."              close an incident left to a human (lead or admin)
  vigil verdict <incident> tp|fp [--note "..."]      mark an incident a true or false positive (any operator)
  vigil verdict stats [--json] | export --out F      FP/FN rates per model and rule; labelled traces for retraining
  vigil operator list | add <id> --role analyst|lead|admin [--slack <user id>] | disable <id>
  vigil agents [--json]                             endpoint agents: host, live/offline, version, actions
  vigil automation [status] | killswitch on|off --reason "..." | budget <N> [--window <seconds>]
                                                    stop all automatic actions now; cap them per window
  vigil containments [--all] [--json]               containment in place (isolation lifts itself at its limit)
  vigil extend <containment> --for 2h --reason "..." keep an isolation longer (analyst, lead, admin)
  vigil release <containment> --reason "..."        undo a containment now (lead, admin)
  vigil operator link-slack <id> <slack user id> | unlink-slack <id>   map an operator to a Slack user
  vigil policy check [dir] [--json]                  validate the Cedar policies and run their tests
  vigil dlq list [--state pending|resubmitted] | show <id> | retry <id>   [--json]
  vigil mail [show <id>] [--json]                   the dev stack's mailbox
  vigil rpa bot add <name> --queues q1,q2 | bot list | bot disable <name>   RPA bots (token shown once)
  vigil rpa jobs <queue> [--json] | dispatch <queue> <type> '<json>' [--deadline 10m]   RPA jobs
  vigil model list | verify [dir] | eval <labelled.jsonl[.gz]>   [--json]   scoring models: signature, metrics
  vigil model compare <candidate dir> [--on <labelled.jsonl[.gz]>] [--json]   agreement, decisions that would change
  vigil audit verify [log|bundle] [--head F] [--trust FP,..] [--json]   offline; exit 0 only when valid
  vigil audit show [incident] [--json]              an incident's record in the audit log (who, what, when, why)
  vigil audit export <incident> --out F             a self-contained bundle with inclusion proofs
  vigil audit head | seal | keygen --out F | rotate-key <new key file>   [--key F]
  vigil shadow report [--since 24h] [--json]        shadow-mode decisions against live ones (audit log)
  vigil whatif <incident> [--playbooks <dir|git ref>] [--json]   replay a recorded incident against other
                                                    playbooks, side effects answered from the record

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
      reason: { type: 'string' },
      note: { type: 'string' },
      as: { type: 'string' },
      role: { type: 'string' },
      slack: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      head: { type: 'string' },
      out: { type: 'string' },
      trust: { type: 'string' },
      key: { type: 'string' },
      window: { type: 'string' },
      for: { type: 'string' },
      all: { type: 'boolean', default: false },
      queues: { type: 'string' },
      deadline: { type: 'string' },
      since: { type: 'string' },
      playbooks: { type: 'string' },
      on: { type: 'string' },
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
    case 'approvals':
      await approvals({ json, as: values.as });
      return 0;
    case 'approve':
    case 'deny':
      return decideApproval({
        decision: cmd,
        incident: rest[0],
        approval: rest[1],
        reason: values.reason,
        as: values.as,
        json,
      });
    case 'resolve':
      return resolveIncident({ incident: rest[0], note: values.note, as: values.as });
    case 'operator':
      return operator({
        action: rest[0],
        id: rest[1],
        slackUser: rest[2],
        role: values.role,
        slack: values.slack,
        json,
      });
    case 'agents':
      return agents({ json, as: values.as });
    case 'automation':
      return automation({
        action: rest[0],
        arg: rest[1],
        reason: values.reason,
        window: values.window,
        as: values.as,
        json,
      });
    case 'containments':
      return containments({ json, all: values.all ?? false, as: values.as });
    case 'extend':
    case 'release':
      return changeContainment({
        action: cmd,
        id: rest[0],
        for: values.for,
        reason: values.reason,
        as: values.as,
        json,
      });
    case 'policy':
      if ((rest[0] ?? 'check') !== 'check') throw new UsageError('vigil policy check [dir] [--json]');
      return policyCheck({ dir: rest[1], json });
    case 'dlq':
      return dlq({ action: rest[0], id: rest[1], state: values.state, json });
    case 'mail':
      mail({ action: rest[0], id: rest[1], json });
      return 0;
    case 'verdict':
      return verdict({
        action: rest[0],
        arg: rest[1],
        note: values.note,
        out: values.out,
        as: values.as,
        json,
      });
    case 'model':
      return model({ action: rest[0], arg: rest[1], on: values.on, json });
    case 'audit':
      return audit({
        action: rest[0],
        arg: rest[1],
        head: values.head,
        out: values.out,
        trust: values.trust,
        key: values.key,
        json,
      });
    case 'rpa':
      return rpa({ args: rest, queues: values.queues, deadline: values.deadline, json });
    case 'shadow':
      return shadow({ action: rest[0], since: values.since, json });
    case 'whatif':
      return whatif({ incident: rest[0], playbooks: values.playbooks, json });
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
