/**
 * Workflow: incident (one per correlation key).
 * Trigger: the intake's signalWithStart(detection; `detections` for several events of the incident that
 * arrived while a signal was in flight) with workflow id = incident id (inc-<host>-<key hash>).
 * Flow: absorb detections (duplicates join as signals; a redelivered event id counts once) -> route the
 * first event to a playbook -> run it -> stay open for the quiet period; a higher-severity detection
 * re-runs the playbook -> close with the result. Continue-as-new bounds the history of a noisy incident.
 * Side effects: only through the playbook's activities. Queries: `status`.
 */
import { decidePatchesUpFront, since, sinceV3, sinceV4, sinceV5 } from './lib/patches.js';
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  detectionSignal,
  detectionsSignal,
  statusQuery,
  type IncidentInput,
  type IncidentResult,
  type IncidentStatus,
  type TimelineEntry,
} from '../src/contracts/incident.js';
import { resolveSignal } from '../src/contracts/approval.js';
import type { DecideAheadRequest, PlaybookSettings } from '../src/contracts/playbook.js';
import { ErrorType } from '../src/errors.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { SEVERITY_RANK } from '../src/events/severity.js';
import { SA } from '../src/search-attributes.js';
import type { Playbook, PlaybookContext } from './lib/playbook.js';
import { firstLookupsActivities, settingsActivities } from './lib/presets.js';
import { collectAhead, provideAhead } from './lib/prefetch.js';
import { closeIncidentTicket, ticketingOf } from './lib/ticket.js';
import { describeFailure } from './lib/failures.js';
import { ApprovalGate } from './lib/approval-gate.js';
import { route } from './registry.js';

const MAX_TIMELINE = 500;
const MAX_REMEMBERED_IDS = 2_000;

const now = () => new Date().toISOString();

function newStatus(input: IncidentInput, ev: DetectionEvent): IncidentStatus {
  return {
    incidentId: input.incidentId,
    correlationKey: input.correlationKey,
    status: 'open',
    stage: 'received',
    host: ev.host.id,
    severity: ev.detection.severity,
    rule: ev.detection.ruleName,
    techniques: [...ev.detection.techniques],
    eventCount: 0,
    firstSeen: ev.observedAt,
    lastSeen: ev.observedAt,
    evidence: [],
    decisions: [],
    actions: [],
    timeline: [],
  };
}

/**
 * The incident's facts a decision reads (count, severity, techniques) once `events` are absorbed, as
 * `absorb` below would make them: for deciding ahead (./lib/prefetch.ts; a difference only means the
 * playbook asks again).
 */
function absorbedFrom(input: IncidentInput, events: DetectionEvent[]): DecideAheadRequest['incident'] {
  const [first] = events;
  const facts = {
    incidentId: input.incidentId,
    eventCount: events.length,
    severity: first?.detection.severity ?? 'info',
    techniques: [...(first?.detection.techniques ?? [])],
  };
  for (const ev of events) {
    for (const t of ev.detection.techniques) if (!facts.techniques.includes(t)) facts.techniques.push(t);
    if (SEVERITY_RANK[ev.detection.severity] > SEVERITY_RANK[facts.severity])
      facts.severity = ev.detection.severity;
  }
  return facts;
}

export async function incident(input: IncidentInput): Promise<IncidentResult> {
  const seen: string[] = [...(input.recentEventIds ?? [])];
  const seenSet = new Set(seen);
  const inbox: DetectionEvent[] = [];
  let state: IncidentStatus | undefined = input.carried;
  // Set once the settings are read; detections that arrive before that wait in the inbox.
  const loaded: { settings?: PlaybookSettings } = {};
  let escalation: DetectionEvent | undefined;
  let eventsThisRun = 0;

  const log = (kind: TimelineEntry['kind'], summary: string, data?: Record<string, unknown>) => {
    if (!state) return;
    if (state.timeline.length >= MAX_TIMELINE) state.timeline.splice(1, 1); // keep the first entry and the newest
    state.timeline.push({ at: now(), kind, summary, ...(data ? { data } : {}) });
  };

  const absorb = (s: IncidentStatus, cfg: PlaybookSettings, ev: DetectionEvent) => {
    s.eventCount += 1;
    if (ev.observedAt < s.firstSeen) s.firstSeen = ev.observedAt;
    if (ev.observedAt > s.lastSeen) s.lastSeen = ev.observedAt;
    for (const t of ev.detection.techniques) if (!s.techniques.includes(t)) s.techniques.push(t);
    if (s.evidence.length < cfg.evidenceLimit) {
      s.evidence.push(ev);
      log('event', `${ev.source}: ${ev.detection.ruleName} (${ev.detection.severity}) on ${ev.host.id}`, {
        eventId: ev.id,
      });
    }
    if (SEVERITY_RANK[ev.detection.severity] > SEVERITY_RANK[s.severity]) {
      log('note', `severity escalated ${s.severity} -> ${ev.detection.severity}`, { eventId: ev.id });
      s.severity = ev.detection.severity;
      if (s.stage !== 'received') escalation = ev;
    }
  };

  // Registered before anyone can be asked: the approval Update, its query, refused attempts, resolve.
  const gate = new ApprovalGate(input.incidentId, (summary, data) => log('decision', summary, data));
  let resolved: { operator: string; note: string; at: string } | undefined;
  setHandler(resolveSignal, (r) => {
    resolved ??= r;
    log('note', `resolved by ${r.operator}: ${r.note}`);
  });

  const receive = (ev: DetectionEvent) => {
    if (seenSet.has(ev.id)) return; // the same delivery again (a sender's retry): counted once
    seenSet.add(ev.id);
    seen.push(ev.id);
    if (seen.length > MAX_REMEMBERED_IDS) seenSet.delete(seen.shift() ?? '');
    eventsThisRun += 1;
    if (state && loaded.settings) absorb(state, loaded.settings, ev);
    else inbox.push(ev);
  };
  setHandler(detectionSignal, receive);
  // The intake's coalesced form: each event exactly as if it had come in its own `detection` signal.
  // Only a handler (no command), so histories recorded before it replay unchanged.
  setHandler(detectionsSignal, (evs) => {
    for (const ev of evs) receive(ev);
  });
  setHandler(statusQuery, (): IncidentStatus => {
    if (state) return state;
    const first = inbox[0];
    if (!first)
      throw ApplicationFailure.nonRetryable(
        'the incident has not received its first detection yet',
        ErrorType.NotFound,
      );
    return newStatus(input, first);
  });

  // Before the first local activity (./lib/patches.ts).
  decidePatchesUpFront();
  let cfg: PlaybookSettings;
  if (!state && sinceV4('first-lookups-v1')) {
    // The first detection comes with the start: the settings and its playbook's first lookups are asked
    // in one local activity (one activation when it resolves, instead of one per lookup).
    await condition(() => inbox.length > 0);
    const first = inbox[0] as DetectionEvent;
    const pb = route(first);
    // Deciding ahead: what the incident will have absorbed from these events when its playbook decides.
    const want = collectAhead(
      () => pb.lookupsAhead?.(first),
      sinceV5('decide-ahead-v1') ? absorbedFrom(input, inbox) : undefined,
    );
    const askedAt = now();
    const got = await firstLookupsActivities.firstLookups(want);
    provideAhead(want, got, askedAt);
    cfg = got.settings;
  } else {
    if (!state && sinceV3('lookups-ahead-v1')) {
      // Runs started before: the first lookups start beside the settings, three local activities.
      await condition(() => inbox.length > 0);
      const first = inbox[0] as DetectionEvent;
      route(first).lookupsAhead?.(first);
    }
    cfg = await settingsActivities.playbookSettings();
  }
  let trigger: DetectionEvent | undefined;
  if (!state) {
    // signalWithStart delivers the first detection together with the start.
    await condition(() => inbox.length > 0);
    const first = inbox[0] as DetectionEvent;
    state = newStatus(input, first);
    trigger = first;
  }
  const s: IncidentStatus = state;
  for (const ev of inbox.splice(0)) absorb(s, cfg, ev);
  loaded.settings = cfg;

  // Stages waiting on people are visible in the status search attribute (`vigil approvals`, the UI);
  // closing sets it explicitly below.
  const WAITING = ['awaiting-approval', 'needs-human'];
  const setStage = (stage: IncidentStatus['stage']) => {
    if (s.stage === stage) return;
    log('stage', stage);
    if (WAITING.includes(stage)) upsertSearchAttributes([{ key: SA.status, value: stage }]);
    else if (WAITING.includes(s.stage) && stage !== 'closed')
      upsertSearchAttributes([{ key: SA.status, value: 'open' }]);
    s.stage = stage;
  };

  // The build that handles the incident (recorded through the settings activity; older histories lack it).
  if (cfg.build) s.build = cfg.build;

  const runPlaybook = async (pb: Playbook, ev: DetectionEvent) => {
    const shadow = cfg.shadowPlaybooks?.includes(pb.name) ?? false;
    const ref = { name: pb.name, version: pb.version, ...(cfg.build ? { build: cfg.build.id } : {}) };
    s.playbook = ref;
    if (shadow) s.shadow = true;
    upsertSearchAttributes([
      { key: SA.playbook, value: pb.name },
      { key: SA.severity, value: s.severity },
      { key: SA.technique, value: s.techniques },
      { key: SA.status, value: 'open' },
    ]);
    log(
      'note',
      `playbook ${pb.name}@${pb.version}${cfg.build ? ` (build ${cfg.build.id})` : ''}${shadow ? ' in SHADOW mode' : ''} started for event ${ev.id}`,
    );
    const ctx: PlaybookContext = {
      incident: s,
      event: ev,
      settings: cfg,
      shadow,
      stage: setStage,
      decision: (rec) => {
        const d = { ...rec, playbook: rec.playbook ?? ref, ...(shadow ? { shadow: true } : {}) };
        s.decisions.push(d);
        s.verdict = d.verdict;
        s.riskScore = d.riskScore;
        log('decision', `${d.by}@${d.version}: ${d.verdict} (risk ${d.riskScore})`, {
          reasons: d.reasons,
          actions: d.actions,
        });
      },
      action: (a) => {
        s.actions.push({ at: now(), ...a });
        log('action', `${a.action}: ${a.status}${a.error ? ` (${a.error})` : ''}`);
      },
      note: (summary, data) => log('note', summary, data),
      approvals: gate,
    };
    try {
      const out = await pb.run(ctx);
      s.verdict = out.verdict;
      s.riskScore = out.riskScore;
      s.outcome = out.outcome;
      if (out.needsHuman) needsHuman = true;
    } catch (e) {
      // A step ran out of its retry budget: say so and leave the verdict to a human.
      if (!(e instanceof ActivityFailure)) throw e;
      s.outcome = `playbook ${pb.name} could not finish (${describeFailure(e)}): needs analyst review`;
      log('note', s.outcome);
      needsHuman = true;
    }
  };

  let needsHuman = input.needsHuman ?? false;
  if (trigger) await runPlaybook(route(trigger), trigger);

  // Quiet period: duplicates join; a higher severity re-runs the playbook; silence closes the incident.
  for (;;) {
    setStage('quiet');
    const seenCount = s.eventCount;
    const woke = await condition(
      () => escalation !== undefined || s.eventCount !== seenCount,
      cfg.quietPeriodMs,
    );
    if (!woke) break;
    if (escalation) {
      const ev: DetectionEvent = escalation;
      escalation = undefined;
      await runPlaybook(route(ev), ev);
    }
    if (eventsThisRun >= cfg.maxEventsPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(() => inbox.length === 0);
      return continueAsNew<typeof incident>({
        ...input,
        carried: s,
        recentEventIds: seen.slice(-MAX_REMEMBERED_IDS),
        needsHuman,
      });
    }
  }

  // The safe default left a decision to a human: the incident stays open until an operator resolves it.
  if (needsHuman) {
    setStage('needs-human');
    await condition(() => resolved !== undefined);
    s.outcome = `${s.outcome ?? ''}; resolved by ${resolved?.operator ?? '?'}: ${resolved?.note ?? ''}`;
  }

  // The incident's ticket (if one was opened) closes with it.
  if (ticketingOf(cfg) && since('ticketing-v1')) {
    const closed = await closeIncidentTicket(s, cfg);
    if (closed) log('note', closed);
  }

  s.status = 'closed';
  s.closedAt = now();
  setStage('closed');
  s.outcome ??= 'closed';
  upsertSearchAttributes([
    { key: SA.status, value: 'closed' },
    { key: SA.severity, value: s.severity },
  ]);
  return s;
}
