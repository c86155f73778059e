import { describe, expect, it } from 'vitest';
import type { ApprovalNotice } from '../contracts/playbook.js';
import {
  ACTION_APPROVE,
  approvalRef,
  BLOCK_ACTIONS,
  BLOCK_OUTCOME,
  escapeMrkdwn,
  LIMITS,
  parseApprovalRef,
  renderApproval,
  renderIncident,
  truncate,
  withDecision,
  parseVerdictRef,
  verdictRef,
  withVerdict,
  BLOCK_VERDICT,
  BLOCK_VERDICT_ACTIONS,
} from './blocks.js';
import { pendingApproval } from '../../test/helpers/approvals.js';

const record = pendingApproval;
const notice = (over: Partial<ApprovalNotice> = {}, rec = record()): ApprovalNotice => ({
  stage: 'requested',
  record: rec,
  host: 'web-01',
  rule: 'Reverse shell',
  verdict: 'malicious',
  riskScore: 92,
  reasons: ['shell spawned by php-fpm'],
  ...over,
});
type Btn = {
  action_id: string;
  value: string;
  text: { text: string };
  confirm: { title: { text: string }; text: { text: string } };
};
const buttons = (blocks: Record<string, unknown>[]) =>
  (blocks.find((b) => b.block_id === BLOCK_ACTIONS) as { elements: Btn[] } | undefined)?.elements ?? [];
const texts = (blocks: unknown) => JSON.stringify(blocks);

describe('mrkdwn escaping', () => {
  it('escapes &, < and > so event text cannot form links or mentions', () => {
    expect(escapeMrkdwn('a & b <http://evil|click> <!channel> <@U123>').replace(/\u2060/g, '')).toBe(
      'a &amp; b &lt;http://evil|click&gt; &lt;!channel&gt; &lt;@U123&gt;',
    );
  });

  it('defuses @channel, @here and @everyone written as plain words', () => {
    const s = escapeMrkdwn('ping @channel and @here and @Everyone');
    expect(s).not.toMatch(/@(channel|here|everyone)\b/i);
    expect(s.replace(/\u2060/g, '')).toBe('ping @channel and @here and @Everyone');
  });

  it('puts no event-derived < or > into a rendered approval', () => {
    const evil = '<!here> <https://phish.example|login> @channel';
    const { blocks, text } = renderApproval(
      notice({ host: evil, rule: evil, reasons: [evil] }, record({ params: { host: evil, path: '`x```' } })),
    );
    // mrkdwn is parsed by Slack; plain_text (the header) never is.
    const mrkdwnTexts = JSON.stringify(blocks).match(/"type":"mrkdwn","text":"(?:[^"\\]|\\.)*"/g) ?? [];
    expect(mrkdwnTexts.length).toBeGreaterThan(5);
    const all = mrkdwnTexts.join('\n') + text;
    expect(all).not.toContain('<!here>');
    expect(all).not.toContain('<https://phish');
    expect(all).not.toMatch(/@channel/);
    expect(all.replace(/\u2060/g, '')).toContain('&lt;!here&gt;');
  });

  it('never cuts an escape sequence in half', () => {
    expect(truncate('abc&amp;def', 6)).toBe('abc…');
    expect(truncate('short', 10)).toBe('short');
  });
});

describe('approval request blocks', () => {
  it('shows the action, its exact parameters, host, rule, risk, verdict and reasons, with Approve and Deny', () => {
    const { blocks } = renderApproval(notice({}, record({ params: { host: 'web-01', pid: 4242 } })));
    const all = texts(blocks);
    for (const s of [
      'isolate-host',
      'web-01',
      'Reverse shell',
      '92/100',
      'malicious',
      'shell spawned by php-fpm',
      '4242',
    ])
      expect(all).toContain(s);
    const [approve, deny] = buttons(blocks);
    expect(approve?.action_id).toBe(ACTION_APPROVE);
    expect(deny?.action_id).toBe('vigil_deny');
    expect(approve?.confirm.title.text).toMatch(/Approve isolate-host/);
  });

  it('puts only an opaque approval reference in the button value, never the decision or parameters', () => {
    const r = record({ params: { host: 'secret-host-name' } });
    const [approve, deny] = buttons(renderApproval(notice({}, r)).blocks);
    expect(approve?.value).toBe(deny?.value);
    expect(approve?.value).not.toContain('secret-host-name');
    expect(approve?.value).not.toMatch(/approve|deny/i);
    expect(parseApprovalRef(approve?.value)).toEqual({
      incidentId: r.incidentId,
      approvalId: r.approvalId,
      paramsHash: r.paramsHash,
    });
  });

  it('refuses button values that are not exactly one of ours', () => {
    const good = approvalRef(record());
    for (const bad of [
      undefined,
      42,
      'apv1.',
      'apv2.' + good.slice(5),
      good.slice(0, -3),
      'apv1.' + Buffer.from(JSON.stringify(['inc', 'isolate-host-1', 'NOTHEX'])).toString('base64url'),
      'apv1.' +
        Buffer.from(JSON.stringify(['inc', 'isolate-host-1', '0123456789abcdef', 'x'])).toString('base64url'),
      'apv1.' + 'A'.repeat(3000),
    ])
      expect(parseApprovalRef(bad)).toBeUndefined();
  });

  it('stays within Block Kit limits however long the event text is', () => {
    const long = 'x'.repeat(10_000);
    const { blocks, text } = renderApproval(
      notice(
        { host: long, rule: long, reasons: Array.from({ length: 100 }, () => long) },
        record({ params: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, long])) }),
      ),
    );
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    expect(text.length).toBeLessThanOrEqual(LIMITS.fallbackText);
    for (const b of blocks as { type: string; text?: { text: string }; fields?: { text: string }[] }[]) {
      if (b.type === 'header') expect(b.text?.text.length).toBeLessThanOrEqual(LIMITS.header);
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(LIMITS.field);
    }
    for (const btn of buttons(blocks)) {
      expect(btn.text.text.length).toBeLessThanOrEqual(LIMITS.buttonText);
      expect(btn.value.length).toBeLessThanOrEqual(LIMITS.buttonValue);
      expect(btn.confirm.title.text.length).toBeLessThanOrEqual(LIMITS.confirmTitle);
      expect(btn.confirm.text.text.length).toBeLessThanOrEqual(LIMITS.confirmText);
    }
  });

  it('mentions only configured user groups, and links the incident in the Temporal UI', () => {
    const { blocks } = renderApproval(notice(), {
      mention: ['S0LEADS01', 'not-a-group'],
      temporalUiUrl: 'http://127.0.0.1:8233/',
      namespace: 'vigil',
    });
    const all = texts(blocks);
    expect(all).toContain('<!subteam^S0LEADS01>');
    expect(all).not.toContain('not-a-group');
    expect(all).toContain('<http://127.0.0.1:8233/namespaces/vigil/workflows/inc-web-01-0123456789abcdef|');
  });
});

describe('the outcome', () => {
  it('replaces the buttons with who decided what and when', () => {
    const { blocks } = renderApproval(notice());
    const decided = record({
      status: 'approved',
      approvers: [{ operator: 'lead-1', role: 'lead', at: '2026-11-26T09:01:00Z', via: 'slack' }],
      decidedBy: { operator: 'lead-1', at: '2026-11-26T09:01:00Z', via: 'slack' },
    });
    const after = withDecision(blocks, decided);
    expect(buttons(after)).toHaveLength(0);
    const outcome = after.find((b) => b.block_id === BLOCK_OUTCOME);
    expect(texts(outcome)).toContain('*Approved* by `lead-1` via slack at 2026-11-26T09:01:00Z');
    // Everything above the decision stays as posted.
    expect(after.slice(0, -1)).toEqual(blocks.slice(0, -2));
  });

  it('keeps the buttons and shows progress while a critical action waits for its second approver', () => {
    const half = record({
      class: 'critical',
      needed: 2,
      approvers: [{ operator: 'lead-1', role: 'lead', at: '2026-11-26T09:01:00Z', via: 'slack' }],
    });
    const after = withDecision(renderApproval(notice({}, half)).blocks, half);
    expect(buttons(after)).toHaveLength(2);
    expect(texts(after)).toContain('(1 of 2)');
  });

  it('says the safe default applied when nobody answered', () => {
    const out = withDecision(renderApproval(notice()).blocks, record({ status: 'expired' }));
    expect(texts(out)).toMatch(/Expired\*.*safe default \(deny\)/);
  });
});

describe('incident notices', () => {
  const incident = () =>
    renderIncident({
      incidentId: 'inc-1',
      host: 'web-01',
      rule: '<!channel> rule',
      severity: 'high',
      verdict: 'malicious',
      riskScore: 80,
      techniques: [{ id: 'T1059', known: true, name: 'Command & Scripting', tactics: [] }],
      lineage: ['sh', 'php-fpm'],
      reasons: ['r'],
      recommended: ['isolate-host: because'],
      eventCount: 1,
      firstSeen: '2026-11-26T09:00:00Z',
      playbook: 'suspicious-process',
    });

  it('renders an escaped notice whose only buttons are the verdict buttons, naming only the incident', () => {
    const { blocks } = incident();
    const all = texts(blocks);
    expect(all).not.toContain('<!channel>');
    expect(all).toContain('Command &amp; Scripting');
    const actions = blocks.filter((b) => b.type === 'actions');
    expect(actions.map((b) => b.block_id)).toEqual([BLOCK_VERDICT_ACTIONS]);
    const buttons = (actions[0] as { elements: { action_id: string; value: string }[] }).elements;
    expect(buttons.map((e) => e.action_id)).toEqual(['vigil_verdict_tp', 'vigil_verdict_fp']);
    expect(buttons.every((e) => e.value === verdictRef('inc-1'))).toBe(true);
    expect(parseVerdictRef(verdictRef('inc-1'))).toEqual({ incidentId: 'inc-1' });
    expect(parseVerdictRef(approvalRef(record()))).toBeUndefined();
    expect(parseVerdictRef('vdv1.' + Buffer.from('["a","b"]').toString('base64url'))).toBeUndefined();
    expect(parseVerdictRef('vdv1.' + Buffer.from('["a b"]').toString('base64url'))).toBeUndefined();
  });

  it('shows the verdict and who gave it, keeping the buttons and the rest of the message', () => {
    const { blocks } = incident();
    const once = withVerdict(blocks, 'inc-1', {
      verdict: 'fp',
      operator: 'ana-1',
      at: '2026-11-26T10:00:00Z',
    });
    const twice = withVerdict(once, 'inc-1', {
      verdict: 'tp',
      operator: '<@U1> lead',
      at: '2026-11-26T11:00:00Z',
      previous: 'fp',
    });
    expect(once).toHaveLength(blocks.length);
    expect(twice).toHaveLength(blocks.length);
    expect(texts(once)).toContain('*Verdict: False positive* by `ana-1` at 2026-11-26T10:00:00Z');
    const line = texts(twice.filter((b) => b.block_id === BLOCK_VERDICT));
    expect(line).toContain('*Verdict: True positive* by `&lt;@U1&gt; lead`');
    expect(line).toContain('changed from false positive');
    expect(twice.some((b) => b.block_id === BLOCK_VERDICT_ACTIONS)).toBe(true);
  });
});
