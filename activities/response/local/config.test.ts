import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { loadLocalResponderConfig } from './config.js';

describe('local responder configuration', () => {
  it('defaults to describing isolation only, with no quarantine roots', () => {
    const c = loadLocalResponderConfig({});
    expect(c.VIGIL_AGENT_ISOLATION).toBe('dry-run');
    expect(c.VIGIL_AGENT_ALLOWED_ROOTS).toEqual([]);
    expect(c.VIGIL_AGENT_MIN_UID).toBe(1000);
    expect(c.VIGIL_AGENT_PID_START_TOLERANCE).toBe(1010);
  });

  it('names the bad key', () => {
    const bad = (env: Record<string, string>, key: string) => {
      try {
        loadLocalResponderConfig(env);
        throw new Error('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        const keys = (e as ConfigError).problems.map((p) => p.key);
        expect(
          keys.some((k) => k === key || k.startsWith(`${key}.`)),
          keys.join(),
        ).toBe(true);
      }
    };
    bad({ VIGIL_AGENT_ISOLATION: 'on' }, 'VIGIL_AGENT_ISOLATION');
    bad({ VIGIL_AGENT_MGMT_ALLOW: '10.0.0.1,example.com' }, 'VIGIL_AGENT_MGMT_ALLOW');
    bad({ VIGIL_AGENT_ALLOWED_ROOTS: 'home/user' }, 'VIGIL_AGENT_ALLOWED_ROOTS');
    bad({ VIGIL_AGENT_NETNS: '../etc' }, 'VIGIL_AGENT_NETNS');
    bad({ VIGIL_AGENT_PID_START_TOLERANCE: 'soon' }, 'VIGIL_AGENT_PID_START_TOLERANCE');
    // A tolerance of hours matches a reused pid; a timeout of 0 (or past 2^31 ms) kills every command at once.
    bad({ VIGIL_AGENT_PID_START_TOLERANCE: '9999d' }, 'VIGIL_AGENT_PID_START_TOLERANCE');
    bad({ VIGIL_AGENT_COMMAND_TIMEOUT: '0' }, 'VIGIL_AGENT_COMMAND_TIMEOUT');
    bad({ VIGIL_AGENT_COMMAND_TIMEOUT: '99999d' }, 'VIGIL_AGENT_COMMAND_TIMEOUT');
    bad({ TEMPORAL_ADDRESS: '127.0.0.1:99999' }, 'TEMPORAL_ADDRESS');
    // A namespace that does not exist stops the agent at start, not at its first network action.
    bad({ VIGIL_AGENT_NETNS: 'vigil-no-such-netns' }, 'VIGIL_AGENT_NETNS');
  });

  it('says a number key set to a non-number is invalid, not that it is missing', () => {
    try {
      loadLocalResponderConfig({ VIGIL_AGENT_MIN_UID: 'abc' });
      throw new Error('accepted');
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        { key: 'VIGIL_AGENT_MIN_UID', message: expect.not.stringContaining('not set') },
      ]);
    }
  });
});
