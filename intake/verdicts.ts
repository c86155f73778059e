/**
 * Analyst verdicts: an authenticated operator marks an incident a true or a false positive
 * (`vigil verdict <incident> tp|fp`). Stored in SQLite beside the other intake stores (durable commits),
 * not in the incident's history: verdicts usually come after the incident closed, when a workflow can no
 * longer take a signal, and they must outlive history retention to feed retraining. Each verdict keeps a
 * snapshot of what it judges, taken from the incident (its rule, the engine's verdict, the model score(s)
 * with hash and threshold, the scored syscall window), so rates per model and per rule, and the labelled
 * export, do not depend on the incident still being queryable. Every change is kept (verdict_history).
 *
 * Rates (per model, from the model's own decision on the incident and the analyst's verdict):
 *   tp: flagged, analyst tp   fp: flagged, analyst fp   tn: not flagged, analyst fp   fn: not flagged, analyst tp
 *   falsePositiveRate = fp / (fp + tn), falseNegativeRate = fn / (fn + tp), falseDiscoveryRate = fp / (fp + tp)
 * Per rule (every incident is a detection of its rule): fpShare = fp / (tp + fp); missedByEngine = analyst tp
 * on incidents the engine judged benign.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type Database from 'better-sqlite3';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { openBytes, sealBytes, type AesGcmCodec } from '../src/codec/aes-gcm.js';
import { INCIDENT_WORKFLOW, statusQuery, type IncidentStatus } from '../src/contracts/incident.js';
import type { Operator, OperatorStore } from './operators.js';
import { openSqlite } from './sqlite.js';

export type VerdictLabel = 'tp' | 'fp';

/** What a verdict judges, as the incident recorded it. */
export interface VerdictSubject {
  rule: string;
  host: string;
  engineVerdict: string | null;
  riskScore: number | null;
  model: ModelView | null;
  shadow: ModelView | null;
  /** the syscall window the model scored (names), if the incident had one */
  syscalls: string[] | null;
}
interface ModelView {
  id: string;
  version: string;
  sha256: string;
  score: number;
  threshold: number;
}

export interface VerdictRecord extends VerdictSubject {
  incidentId: string;
  verdict: VerdictLabel;
  note: string | null;
  operator: string;
  at: string;
}

/** Incidents shorter than this carry no scored window (the playbook's own minimum). */
const MIN_WINDOW = 20;

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The snapshot a verdict keeps, from the incident's status (decision records and evidence). */
export function subjectOf(s: IncidentStatus): VerdictSubject {
  const score = s.decisions.find((d) => d.kind === 'score');
  let model: ModelView | null = null;
  let shadow: ModelView | null = null;
  if (score) {
    const [version = '', sha = ''] = score.version.split(' sha256:');
    const inputs = score.inputs ?? {};
    const sc = num(inputs.score);
    const th = num(inputs.threshold);
    if (sc !== undefined && th !== undefined)
      model = { id: score.by, version, sha256: sha, score: sc, threshold: th };
    const sh = inputs.shadow as Record<string, unknown> | undefined;
    if (sh && num(sh.score) !== undefined && num(sh.threshold) !== undefined)
      shadow = {
        id: String(sh.modelId),
        version: String(sh.version),
        sha256: String(sh.sha256),
        score: sh.score as number,
        threshold: sh.threshold as number,
      };
  }
  const window = s.evidence
    .map((e) => e.telemetry?.syscalls)
    .find((w): w is string[] => Array.isArray(w) && w.length >= MIN_WINDOW);
  return {
    rule: s.rule,
    host: s.host,
    engineVerdict: s.verdict ?? null,
    riskScore: s.riskScore ?? null,
    model,
    shadow,
    syscalls: window ?? null,
  };
}

export interface ModelRates {
  model: string;
  sha256: string;
  role: 'active' | 'shadow';
  verdicts: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  falsePositiveRate: number | null;
  falseNegativeRate: number | null;
  falseDiscoveryRate: number | null;
}
export interface RuleRates {
  rule: string;
  verdicts: number;
  tp: number;
  fp: number;
  fpShare: number | null;
  missedByEngine: number;
}
export interface VerdictStats {
  verdicts: number;
  /**
   * Rows that could not be read (sealed with a payload key that is no longer configured, or failing their
   * authentication): left out of the rates, counted here, so one bad row does not take the metrics down.
   */
  unreadable: number;
  tp: number;
  fp: number;
  byModel: ModelRates[];
  byRule: RuleRates[];
}

/** One exported trace, in ADFA-LD's traces.jsonl format (`vigil model eval|compare --on` read it). */
export interface LabelledTraceLine {
  id: string;
  label: 'attack' | 'normal';
  attack_type: string | null;
  syscalls: string[];
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

interface Row {
  incident_id: string;
  verdict: VerdictLabel;
  note: string | null;
  operator: string;
  at: string;
  /** JSON, or its AES-256-GCM sealing (a Buffer) when subject_key_id names the key */
  subject: string | Buffer;
  subject_key_id: string | null;
}

export class VerdictStore {
  private readonly db: Database.Database;

  /**
   * @param sealer when given (the payload codec, VIGIL_PAYLOAD_KEYS), each verdict's snapshot (the syscall
   * window, host, rule and scores) is encrypted at rest with its active key, as dead letters are; rows
   * written without one stay readable.
   */
  constructor(
    file: string,
    private readonly sealer?: AesGcmCodec,
  ) {
    this.db = openSqlite(file, {
      durable: true,
      schema: `CREATE TABLE IF NOT EXISTS verdicts (
        incident_id TEXT PRIMARY KEY, verdict TEXT NOT NULL CHECK (verdict IN ('tp', 'fp')), note TEXT,
        operator TEXT NOT NULL, at TEXT NOT NULL, subject TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS verdict_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL, verdict TEXT NOT NULL, note TEXT,
        operator TEXT NOT NULL, at TEXT NOT NULL);`,
    });
    const cols = this.db.prepare('PRAGMA table_info(verdicts)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'subject_key_id'))
      this.db.exec('ALTER TABLE verdicts ADD COLUMN subject_key_id TEXT');
  }

  /**
   * Record (or change) an incident's verdict. The same verdict again by anyone is a no-op (a retried
   * request records nothing twice); a different one replaces it, and both stay in the history.
   */
  record(
    incidentId: string,
    verdict: VerdictLabel,
    operator: string,
    subject: VerdictSubject,
    note?: string,
  ): { record: VerdictRecord; changed: boolean; previous?: VerdictLabel } {
    const tx = this.db.transaction(() => {
      const before = this.row(incidentId);
      if (before && before.verdict === verdict && (note === undefined || note === before.note))
        return { record: this.toRecord(before), changed: false };
      const at = new Date().toISOString();
      this.db
        .prepare(
          `INSERT INTO verdicts (incident_id, verdict, note, operator, at, subject, subject_key_id)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(incident_id) DO UPDATE SET verdict = excluded.verdict, note = excluded.note,
             operator = excluded.operator, at = excluded.at, subject = excluded.subject,
             subject_key_id = excluded.subject_key_id`,
        )
        .run(incidentId, verdict, note ?? null, operator, at, ...this.seal(subject));
      this.db
        .prepare(
          'INSERT INTO verdict_history (incident_id, verdict, note, operator, at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(incidentId, verdict, note ?? null, operator, at);
      return {
        record: this.toRecord(this.row(incidentId)!),
        changed: true,
        ...(before ? { previous: before.verdict } : {}),
      };
    });
    return tx();
  }

  get(incidentId: string): VerdictRecord | undefined {
    const r = this.row(incidentId);
    return r ? this.toRecord(r) : undefined;
  }

  history(
    incidentId: string,
  ): { verdict: VerdictLabel; note: string | null; operator: string; at: string }[] {
    return this.db
      .prepare('SELECT verdict, note, operator, at FROM verdict_history WHERE incident_id = ? ORDER BY id')
      .all(incidentId) as { verdict: VerdictLabel; note: string | null; operator: string; at: string }[];
  }

  *all(): Generator<VerdictRecord> {
    for (const r of this.db.prepare('SELECT * FROM verdicts ORDER BY at, incident_id').iterate())
      yield this.toRecord(r as Row);
  }

  stats(): VerdictStats {
    const models = new Map<string, ModelRates>();
    const rules = new Map<string, RuleRates>();
    let tp = 0;
    let fp = 0;
    const judge = (m: ModelView, role: 'active' | 'shadow', v: VerdictLabel) => {
      const key = `${role}:${m.id}@${m.version}:${m.sha256}`;
      const r = models.get(key) ?? {
        model: `${m.id}@${m.version}`,
        sha256: m.sha256,
        role,
        verdicts: 0,
        tp: 0,
        fp: 0,
        tn: 0,
        fn: 0,
        falsePositiveRate: null,
        falseNegativeRate: null,
        falseDiscoveryRate: null,
      };
      const flagged = m.score >= m.threshold;
      r.verdicts++;
      if (v === 'tp') {
        if (flagged) r.tp++;
        else r.fn++;
      } else if (flagged) r.fp++;
      else r.tn++;
      models.set(key, r);
    };
    let unreadable = 0;
    for (const row of this.db.prepare('SELECT * FROM verdicts ORDER BY at, incident_id').iterate()) {
      let v: VerdictRecord;
      try {
        v = this.toRecord(row as Row);
      } catch {
        unreadable++;
        continue;
      }
      if (v.verdict === 'tp') tp++;
      else fp++;
      if (v.model) judge(v.model, 'active', v.verdict);
      if (v.shadow) judge(v.shadow, 'shadow', v.verdict);
      const r = rules.get(v.rule) ?? {
        rule: v.rule,
        verdicts: 0,
        tp: 0,
        fp: 0,
        fpShare: null,
        missedByEngine: 0,
      };
      r.verdicts++;
      if (v.verdict === 'tp') {
        r.tp++;
        if (v.engineVerdict === 'benign') r.missedByEngine++;
      } else r.fp++;
      rules.set(v.rule, r);
    }
    for (const r of models.values()) {
      r.falsePositiveRate = ratio(r.fp, r.fp + r.tn);
      r.falseNegativeRate = ratio(r.fn, r.fn + r.tp);
      r.falseDiscoveryRate = ratio(r.fp, r.fp + r.tp);
    }
    for (const r of rules.values()) r.fpShare = ratio(r.fp, r.tp + r.fp);
    return {
      verdicts: tp + fp,
      unreadable,
      tp,
      fp,
      byModel: [...models.values()].sort(
        (a, b) => a.role.localeCompare(b.role) || a.model.localeCompare(b.model),
      ),
      byRule: [...rules.values()].sort((a, b) => b.verdicts - a.verdicts || a.rule.localeCompare(b.rule)),
    };
  }

  /** The verdicts with a syscall window, as labelled traces (tp -> attack, typed by the rule; fp -> normal). */
  exportLabelled(): { traces: LabelledTraceLine[]; withoutWindow: number } {
    const traces: LabelledTraceLine[] = [];
    let withoutWindow = 0;
    for (const v of this.all()) {
      if (!v.syscalls) {
        withoutWindow++;
        continue;
      }
      traces.push({
        id: `vigil/${v.incidentId}`,
        label: v.verdict === 'tp' ? 'attack' : 'normal',
        attack_type: v.verdict === 'tp' ? v.rule : null,
        syscalls: v.syscalls,
      });
    }
    return { traces, withoutWindow };
  }

  close() {
    this.db.close();
  }

  private row(incidentId: string): Row | undefined {
    return this.db.prepare('SELECT * FROM verdicts WHERE incident_id = ?').get(incidentId) as Row | undefined;
  }

  private seal(subject: VerdictSubject): [string | Buffer, string | null] {
    const json = JSON.stringify(subject);
    if (!this.sealer) return [json, null];
    const sealed = sealBytes(this.sealer.activeKey, Buffer.from(json));
    return [sealed.data, sealed.keyId];
  }

  private toRecord(r: Row): VerdictRecord {
    let subject = r.subject;
    if (r.subject_key_id) {
      const key = this.sealer?.keyFor(r.subject_key_id);
      if (!key)
        throw new Error(
          `the verdict on ${r.incident_id} is sealed with key ${r.subject_key_id}, which is not configured (VIGIL_PAYLOAD_KEYS)`,
        );
      subject = openBytes(key, subject as Buffer).toString('utf8');
    }
    return {
      incidentId: r.incident_id,
      verdict: r.verdict,
      note: r.note,
      operator: r.operator,
      at: r.at,
      ...(JSON.parse(String(subject)) as VerdictSubject),
    };
  }
}

/**
 * Verdict gauges on the intake's registry, read from the store at each scrape:
 *   vigil_verdicts{scope="model"|"rule",name,role,outcome="tp"|"fp"|"tn"|"fn"}
 *   vigil_verdict_false_positive_rate{scope="model",name,role}   fp / (fp + tn)
 *   vigil_verdict_false_positive_rate{scope="rule",name,role=""}  fp / (tp + fp)
 *   vigil_verdict_false_negative_rate{scope="model",name,role}   fn / (fn + tp)
 */
export function registerVerdictMetrics(registry: Registry, store: VerdictStore): void {
  let cached: { at: number; stats: VerdictStats } | undefined;
  // One computation per scrape, shared by the three gauges.
  const stats = () => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), stats: store.stats() };
    return cached.stats;
  };
  new Gauge({
    name: 'vigil_verdicts',
    help: 'Analyst verdicts by model (its own decision vs the verdict) and by rule',
    labelNames: ['scope', 'name', 'role', 'outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const s = stats();
      for (const m of s.byModel)
        for (const outcome of ['tp', 'fp', 'tn', 'fn'] as const)
          this.set({ scope: 'model', name: m.model, role: m.role, outcome }, m[outcome]);
      for (const r of s.byRule)
        for (const outcome of ['tp', 'fp'] as const)
          this.set({ scope: 'rule', name: r.rule, role: '', outcome }, r[outcome]);
    },
  });
  new Gauge({
    name: 'vigil_verdict_false_positive_rate',
    help: 'From analyst verdicts: per model fp/(fp+tn); per rule fp/(tp+fp)',
    labelNames: ['scope', 'name', 'role'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const s = stats();
      for (const m of s.byModel)
        if (m.falsePositiveRate !== null)
          this.set({ scope: 'model', name: m.model, role: m.role }, m.falsePositiveRate);
      for (const r of s.byRule)
        if (r.fpShare !== null) this.set({ scope: 'rule', name: r.rule, role: '' }, r.fpShare);
    },
  });
  new Gauge({
    name: 'vigil_verdict_false_negative_rate',
    help: 'From analyst verdicts: per model fn/(fn+tp)',
    labelNames: ['scope', 'name', 'role'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of stats().byModel)
        if (m.falseNegativeRate !== null)
          this.set({ scope: 'model', name: m.model, role: m.role }, m.falseNegativeRate);
    },
  });
}

export interface VerdictDeps {
  operators: OperatorStore;
  verdicts: VerdictStore;
  /** The incident's status (the workflow's `status` query); undefined when there is no such incident. */
  incidentStatus: (incidentId: string) => Promise<IncidentStatus | undefined>;
}

/**
 * The incident's status through its `status` query (open or closed), with a deadline; undefined when no
 * workflow has that id or it is not an incident (an id must not let a verdict land on another workflow).
 */
export function incidentStatusVia(client: Client, timeoutMs = 10_000) {
  return async (incidentId: string): Promise<IncidentStatus | undefined> => {
    try {
      return await client.withDeadline(Date.now() + timeoutMs, async () => {
        const h = client.workflow.getHandle(incidentId);
        if ((await h.describe()).type !== INCIDENT_WORKFLOW) return undefined;
        return h.query(statusQuery);
      });
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return undefined;
      throw e;
    }
  };
}

export type GiveVerdictResult =
  | { ok: true; record: VerdictRecord; changed: boolean; previous?: VerdictLabel }
  | { ok: false; code: 'not-found' | 'unavailable'; message: string };

/**
 * The one way a verdict is given, whoever gives it (HTTP and the CLI, Slack's buttons): the incident's
 * snapshot from its `status` query, then the store (the same verdict again is a no-op; a different one
 * replaces it, and both stay in the history). The caller has authenticated `op`.
 */
export async function giveVerdict(
  d: Pick<VerdictDeps, 'verdicts' | 'incidentStatus'>,
  incidentId: string,
  verdict: VerdictLabel,
  op: Operator,
  note?: string,
): Promise<GiveVerdictResult> {
  let status: IncidentStatus | undefined;
  try {
    status = await d.incidentStatus(incidentId);
  } catch {
    return { ok: false, code: 'unavailable', message: 'the workflow engine did not answer in time; retry' };
  }
  if (!status) return { ok: false, code: 'not-found', message: `no incident ${incidentId}` };
  return { ok: true, ...d.verdicts.record(incidentId, verdict, op.id, subjectOf(status), note) };
}

const VerdictBody = z.strictObject({
  verdict: z.enum(['tp', 'fp']),
  note: z.string().min(1).max(2000).optional(),
});

/** Exports hold hosts' syscall windows: leads and admins only. */
const MAY_EXPORT: readonly string[] = ['lead', 'admin'];

export function registerVerdictRoutes(app: FastifyInstance, d: VerdictDeps): void {
  app.register(async (r) => {
    r.addHook('onRequest', async (req, reply) => {
      const auth = req.headers.authorization;
      const op = auth?.startsWith('Bearer ') ? d.operators.authenticate(auth.slice(7).trim()) : undefined;
      if (!op)
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'operator token required' });
      (req as FastifyRequest & { operator?: Operator }).operator = op;
    });

    r.post<{ Params: { id: string } }>('/v1/incidents/:id/verdict', async (req, reply) => {
      const op = (req as FastifyRequest & { operator: Operator }).operator;
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '{}');
      } catch {
        return reply.code(400).send({ error: 'invalid-request', issues: ['body: not JSON'] });
      }
      const body = VerdictBody.safeParse(raw);
      if (!body.success)
        return reply.code(400).send({
          error: 'invalid-request',
          issues: body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
        });
      const out = await giveVerdict(d, req.params.id, body.data.verdict, op, body.data.note);
      if (!out.ok)
        return out.code === 'unavailable'
          ? reply.code(503).header('retry-after', '5').send({ error: out.code, message: out.message })
          : reply.code(404).send({ error: out.code, message: out.message });
      const { syscalls, ...rest } = out.record;
      return {
        ...rest,
        window: syscalls?.length ?? 0,
        changed: out.changed,
        ...(out.previous ? { previous: out.previous } : {}),
      };
    });

    r.get<{ Params: { id: string } }>('/v1/incidents/:id/verdict', async (req, reply) => {
      const v = d.verdicts.get(req.params.id);
      if (!v) return reply.code(404).send({ error: 'not-found', message: `no verdict on ${req.params.id}` });
      const { syscalls, ...rest } = v;
      return { ...rest, window: syscalls?.length ?? 0, history: d.verdicts.history(req.params.id) };
    });

    r.get('/v1/verdicts/stats', async () => d.verdicts.stats());

    r.get('/v1/verdicts/export', async (req, reply) => {
      const op = (req as FastifyRequest & { operator: Operator }).operator;
      if (!MAY_EXPORT.includes(op.role))
        return reply.code(403).send({
          error: 'unauthorized',
          message: "a lead or admin exports labelled traces (they hold hosts' syscalls)",
        });
      return d.verdicts.exportLabelled();
    });
  });
}
