import { describe, expect, it } from 'vitest';
import { loadNotifyConfig } from '../activities/notify/config.js';
import { loadPlaybookSettings } from '../activities/settings/config.js';
import { loadIntakeConfig } from '../intake/config.js';
import { ConfigError } from './errors.js';

const goodIntake = {
  VIGIL_INTAKE_KEYS: JSON.stringify([{ id: 'falco-1', secret: 'x'.repeat(32), hosts: ['web-*'] }]),
  VIGIL_ADMIN_TOKEN_SHA256: 'a'.repeat(64),
};

function problemKeys(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => p.key);
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('parses a good intake configuration with defaults', () => {
    const c = loadIntakeConfig(goodIntake);
    expect(c.VIGIL_INTAKE_PORT).toBe(8088);
    expect(c.VIGIL_CORRELATION_KEY).toEqual(['host', 'rule']);
    expect(c.VIGIL_REPLAY_WINDOW).toBe(300_000);
    expect(c.VIGIL_INTAKE_KEYS[0]?.sources).toEqual(['*']);
  });

  it('refuses a key that is not bound to hosts', () => {
    expect(
      problemKeys(() =>
        loadIntakeConfig({
          ...goodIntake,
          VIGIL_INTAKE_KEYS: JSON.stringify([{ id: 'k', secret: 'x'.repeat(32) }]),
        }),
      ),
    ).toEqual(['VIGIL_INTAKE_KEYS.0.hosts']);
  });

  it('refuses a token configured in clear instead of its sha256', () => {
    expect(
      problemKeys(() =>
        loadIntakeConfig({
          ...goodIntake,
          VIGIL_INTAKE_TOKENS: JSON.stringify([{ id: 't', sha256: 'my-token', hosts: ['*'] }]),
        }),
      ),
    ).toEqual(['VIGIL_INTAKE_TOKENS.0.sha256']);
  });

  it('names a missing credential', () => {
    expect(problemKeys(() => loadIntakeConfig({ VIGIL_ADMIN_TOKEN_SHA256: 'a'.repeat(64) }))).toEqual([
      'VIGIL_INTAKE_KEYS',
    ]);
  });

  it('names the key of a short secret, a bad duration and an unknown correlation field', () => {
    const keys = problemKeys(() =>
      loadIntakeConfig({
        ...goodIntake,
        VIGIL_INTAKE_KEYS: JSON.stringify([{ id: 'k', secret: 'short', hosts: ['*'] }]),
        VIGIL_REPLAY_WINDOW: 'five minutes',
        VIGIL_CORRELATION_KEY: 'host,colour',
      }),
    );
    expect(keys).toEqual(
      expect.arrayContaining([
        'VIGIL_INTAKE_KEYS.0.secret',
        'VIGIL_REPLAY_WINDOW',
        'VIGIL_CORRELATION_KEY.1',
      ]),
    );
  });

  it('says the setting is required, not an opaque type error', () => {
    try {
      loadNotifyConfig({});
    } catch (e) {
      expect((e as Error).message).toMatch(/SMTP_HOST: is required but not set/);
      expect((e as Error).message).toMatch(/VIGIL_MAIL_TO: is required but not set/);
    }
    expect.assertions(2);
  });

  it('refuses timeouts and windows of zero, which would refuse or time out everything', () => {
    expect(problemKeys(() => loadIntakeConfig({ ...goodIntake, VIGIL_REPLAY_WINDOW: '0' }))).toEqual([
      'VIGIL_REPLAY_WINDOW',
    ]);
    expect(problemKeys(() => loadIntakeConfig({ ...goodIntake, VIGIL_TEMPORAL_TIMEOUT: '0s' }))).toEqual([
      'VIGIL_TEMPORAL_TIMEOUT',
    ]);
    expect(
      problemKeys(() =>
        loadNotifyConfig({
          SMTP_HOST: 'mx',
          SMTP_TIMEOUT: '0',
          VIGIL_MAIL_FROM: 'v@x.io',
          VIGIL_MAIL_TO: 'soc@x.io',
        }),
      ),
    ).toEqual(['SMTP_TIMEOUT']);
  });

  it('refuses SMTP_USER without SMTP_PASSWORD and a bad recipient', () => {
    const keys = problemKeys(() =>
      loadNotifyConfig({
        SMTP_HOST: 'mx',
        SMTP_USER: 'u',
        VIGIL_MAIL_FROM: 'v@x.io',
        VIGIL_MAIL_TO: 'soc@x.io,not-an-address',
      }),
    );
    expect(keys).toEqual(expect.arrayContaining(['SMTP_PASSWORD', 'VIGIL_MAIL_TO.1']));
  });

  it('refuses thresholds in the wrong order', () => {
    expect(
      problemKeys(() =>
        loadPlaybookSettings({ VIGIL_SUSPICIOUS_THRESHOLD: '80', VIGIL_MALICIOUS_THRESHOLD: '70' }),
      ),
    ).toEqual(['VIGIL_MALICIOUS_THRESHOLD']);
    expect(loadPlaybookSettings({ VIGIL_QUIET_PERIOD: '90s' }).quietPeriodMs).toBe(90_000);
  });
});
