/**
 * The models a worker holds: the active one (it decides) and an optional shadow (VIGIL_MODEL_SHADOW_DIR:
 * scored beside it and recorded, never deciding). Both are verified the same way (trusted signature, hash,
 * revocation). Revocation is checked at load, on every reload (SIGHUP in the worker), and whenever the
 * revocation file changes (looked at, at most once a second, by the scoring call itself): a loaded model
 * whose hash appears there is dropped at once and refused like a tampered one, so playbooks fall back to a
 * person. A change of the file only ever adds revocations to a running worker; taking a hash off the list
 * takes a reload, so a truncated or unreadable file never brings a revoked model back.
 */
import { resolve } from 'node:path';
import type { ScoringConfig } from './config.js';
import type { ScoringMetrics } from './metrics.js';
import { ModelRejected, openScoringModel, type ScoringModel } from './model.js';
import { fileStamp, readRevocationFile, revokedHashes } from './revocation.js';

export type Held = ScoringModel | ModelRejected;
export type ModelsConfig = Pick<
  ScoringConfig,
  | 'VIGIL_MODEL_DIR'
  | 'VIGIL_MODEL_KEYS_DIR'
  | 'VIGIL_MODEL_TRUSTED_KEYS'
  | 'VIGIL_MODEL_REVOKED'
  | 'VIGIL_MODEL_REVOKED_FILE'
  | 'VIGIL_MODEL_SHADOW_DIR'
>;

export interface ModelsOptions {
  metrics?: ScoringMetrics;
  /** where warnings go (a refused model, an unreadable revocation file) */
  warn?: (message: string) => void;
  /** how often the revocation file is looked at, at most (ms) */
  revocationCheckMs?: number;
}

async function openOrRefuse(cfg: ModelsConfig, dir: string, revoked: readonly string[]): Promise<Held> {
  try {
    return await openScoringModel({ ...cfg, VIGIL_MODEL_DIR: dir }, revoked);
  } catch (e) {
    if (e instanceof ModelRejected) return e;
    throw e;
  }
}

export class ScoringModels {
  private revoked: Set<string>;
  private stamp: string | undefined;
  private lastCheck = 0;

  private constructor(
    private readonly cfg: ModelsConfig,
    private activeModel: Held,
    private shadowModel: Held | undefined,
    revoked: readonly string[],
    private readonly opts: ModelsOptions,
  ) {
    this.revoked = new Set(revoked);
    this.stamp = cfg.VIGIL_MODEL_REVOKED_FILE ? fileStamp(cfg.VIGIL_MODEL_REVOKED_FILE) : undefined;
    this.lastCheck = Date.now();
    this.publish();
  }

  /** Verify and open the active model and the shadow (if configured). A bad revocation file throws. */
  static async open(cfg: ModelsConfig, opts: ModelsOptions = {}): Promise<ScoringModels> {
    const revoked = revokedHashes(cfg);
    const active = await openOrRefuse(cfg, resolve(cfg.VIGIL_MODEL_DIR), revoked);
    const shadow = cfg.VIGIL_MODEL_SHADOW_DIR
      ? await openOrRefuse(cfg, resolve(cfg.VIGIL_MODEL_SHADOW_DIR), revoked)
      : undefined;
    const m = new ScoringModels(cfg, active, shadow, revoked, opts);
    m.warnRefused();
    return m;
  }

  /** A fixed pair (tests, tools): no revocation file, no reload. */
  static of(active: Held, shadow?: Held, opts: ModelsOptions = {}): ScoringModels {
    const cfg = {
      VIGIL_MODEL_DIR: active.dir,
      VIGIL_MODEL_KEYS_DIR: '',
      VIGIL_MODEL_REVOKED: [],
      VIGIL_MODEL_SHADOW_DIR: shadow?.dir,
    } satisfies ModelsConfig;
    return new ScoringModels(cfg, active, shadow, [], opts);
  }

  get active(): Held {
    this.checkRevocations();
    return this.activeModel;
  }

  get shadow(): Held | undefined {
    this.checkRevocations();
    return this.shadowModel;
  }

  /** Re-read the revocation file if it changed since last time (throttled); drop newly revoked models. */
  checkRevocations(now = Date.now()): void {
    const file = this.cfg.VIGIL_MODEL_REVOKED_FILE;
    if (!file || now - this.lastCheck < (this.opts.revocationCheckMs ?? 1000)) return;
    this.lastCheck = now;
    const stamp = fileStamp(file);
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    let listed: string[];
    try {
      listed = readRevocationFile(file);
    } catch (e) {
      // Keep every revocation known so far: an unreadable list must not un-revoke anything.
      this.warn(
        `the revocation file changed but cannot be read; keeping the previous list: ${(e as Error).message}`,
      );
      return;
    }
    for (const h of listed) this.revoked.add(h);
    this.applyRevocations();
  }

  /**
   * Re-verify both model folders from scratch with the current lists (the env's and the file's). A bad
   * revocation file keeps the models held now and throws (a ConfigError naming the key).
   */
  async reload(): Promise<{ active: Held; shadow?: Held }> {
    const revoked = revokedHashes(this.cfg);
    const active = await openOrRefuse(this.cfg, resolve(this.cfg.VIGIL_MODEL_DIR), revoked);
    const shadow = this.cfg.VIGIL_MODEL_SHADOW_DIR
      ? await openOrRefuse(this.cfg, resolve(this.cfg.VIGIL_MODEL_SHADOW_DIR), revoked)
      : undefined;
    this.revoked = new Set(revoked);
    this.activeModel = active;
    this.shadowModel = shadow;
    if (this.cfg.VIGIL_MODEL_REVOKED_FILE) this.stamp = fileStamp(this.cfg.VIGIL_MODEL_REVOKED_FILE);
    this.publish();
    this.warnRefused();
    return { active, shadow };
  }

  private applyRevocations(): void {
    const revoke = (m: Held): Held => {
      if (m instanceof ModelRejected || !this.revoked.has(m.sha256)) return m;
      this.warn(
        `model ${m.manifest.id}@${m.manifest.version} (${m.sha256}) was revoked: it no longer scores`,
      );
      return new ModelRejected(
        'revoked',
        `${m.dir}: model ${m.sha256} is revoked (VIGIL_MODEL_REVOKED_FILE, seen while running)`,
        m.dir,
      );
    };
    this.activeModel = revoke(this.activeModel);
    if (this.shadowModel) this.shadowModel = revoke(this.shadowModel);
    this.publish();
  }

  private warn(message: string): void {
    (this.opts.warn ?? ((m: string) => process.stderr.write(`scoring: WARNING: ${m}\n`)))(message);
  }

  private warnRefused(): void {
    if (this.activeModel instanceof ModelRejected)
      this.warn(`scoring model refused (${this.activeModel.reason}): ${this.activeModel.message}`);
    if (this.shadowModel instanceof ModelRejected)
      this.warn(`shadow model refused (${this.shadowModel.reason}): ${this.shadowModel.message}`);
  }

  /** The model_info gauge: what is held now. */
  private publish(): void {
    const info = this.opts.metrics?.info;
    if (!info) return;
    info.reset();
    const set = (role: string, m: Held) =>
      m instanceof ModelRejected
        ? info.set({ role, model: '', sha256: '', status: `refused:${m.reason}` }, 1)
        : info.set(
            { role, model: `${m.manifest.id}@${m.manifest.version}`, sha256: m.sha256, status: 'loaded' },
            1,
          );
    set('active', this.activeModel);
    if (this.shadowModel) set('shadow', this.shadowModel);
  }
}
