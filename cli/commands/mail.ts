/** `vigil mail [show <id>]`: what the dev stack's mailbox received. */
import { readMailbox } from '../stack/devmail.js';
import { printJson, table, UsageError } from '../output.js';
import { readStack } from '../state.js';

export function mail(opts: { action?: string; id?: string; json: boolean }): void {
  const { state } = readStack();
  if ((opts.action ?? 'list') === 'list') {
    const items = readMailbox(state.smtp.mailbox);
    if (opts.json) return printJson(items);
    process.stdout.write(
      `${table(
        items.map((m) => ({
          id: String(m.id),
          receivedAt: m.receivedAt,
          to: m.to.join(','),
          subject: m.subject,
        })),
        ['id', 'receivedAt', 'to', 'subject'],
      )}\n`,
    );
    return;
  }
  if (opts.action !== 'show' || !opts.id) throw new UsageError('vigil mail [list] | vigil mail show <id>');
  const [m] = readMailbox(state.smtp.mailbox, { id: Number(opts.id) });
  if (!m) throw new UsageError(`no mail ${opts.id}`);
  if (opts.json) return printJson(m);
  process.stdout.write(
    `From: ${m.from}\nTo: ${m.to.join(', ')}\nMessage-ID: ${m.messageId ?? ''}\nSubject: ${m.subject}\n\n${m.text}\n`,
  );
}
