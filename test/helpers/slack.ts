/**
 * Clicks as Slack sends them: a block_actions payload, form-encoded as `payload=<json>`, signed with
 * `v0=` + hex HMAC-SHA256(signing secret, `v0:<timestamp>:<body>`) in `x-slack-signature`, the timestamp
 * in `x-slack-request-timestamp` (https://docs.slack.dev/authentication/verifying-requests-from-slack).
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { FakeMessage } from '../fakes/slack.js';

export const SIGNING_SECRET = '8f742231b10e8888abcd99eeeeee85a5';

export function sign(secret: string, ts: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
}

export interface ClickOptions {
  user: string;
  teamId: string;
  appId: string;
  action: 'vigil_approve' | 'vigil_deny' | 'vigil_verdict_tp' | 'vigil_verdict_fp';
  message: FakeMessage;
  userTeamId?: string;
  value?: string;
}

/** A block_actions payload for a click on one of the message's buttons. */
export function clickPayload(o: ClickOptions): Record<string, unknown> {
  type Actions = { block_id: string; elements: { action_id: string; value: string; text: unknown }[] };
  const all = (o.message.blocks ?? []).filter((b) => b.type === 'actions') as unknown as Actions[];
  const actions = all.find((b) => b.elements.some((e) => e.action_id === o.action)) ?? all[0];
  const button = actions?.elements.find((e) => e.action_id === o.action);
  const nowS = Date.now() / 1000;
  return {
    type: 'block_actions',
    user: {
      id: o.user,
      username: o.user.toLowerCase(),
      name: o.user.toLowerCase(),
      team_id: o.userTeamId ?? o.teamId,
    },
    api_app_id: o.appId,
    token: 'deprecated-verification-token',
    container: {
      type: 'message',
      message_ts: o.message.ts,
      channel_id: o.message.channel,
      is_ephemeral: false,
    },
    trigger_id: `${Math.floor(nowS)}.${randomUUID()}`,
    team: { id: o.teamId, domain: 'vigil-test' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: o.message.channel, name: 'soc' },
    message: { type: 'message', ts: o.message.ts, text: o.message.text, blocks: o.message.blocks },
    state: { values: {} },
    response_url: 'https://hooks.slack.com/actions/T0/1/x',
    actions: [
      {
        type: 'button',
        block_id: actions?.block_id ?? 'b',
        action_id: o.action,
        value: o.value ?? button?.value,
        text: button?.text ?? { type: 'plain_text', text: 'x' },
        action_ts: nowS.toFixed(6),
      },
    ],
  };
}

export function formBody(payload: Record<string, unknown>): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** POST a signed body; `ts`, `signature` override what Slack would send. */
export async function postSigned(
  url: string,
  body: string,
  o: { secret?: string; ts?: number; signature?: string } = {},
): Promise<{ status: number; headers: { ts: string; signature: string } }> {
  const ts = o.ts ?? Math.floor(Date.now() / 1000);
  const signature = o.signature ?? sign(o.secret ?? SIGNING_SECRET, ts, body);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': signature,
    },
    body,
  });
  await res.text();
  return { status: res.status, headers: { ts: String(ts), signature } };
}

export async function until<T>(
  f: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
