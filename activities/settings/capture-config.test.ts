import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadPlaybookSettings } from './config.js';

const keysOf = (env: Record<string, string>) => {
  try {
    loadPlaybookSettings(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems.map((p) => p.key);
  }
  return [];
};

describe('the agent capture settings', () => {
  it('asks for a 2 s window with a 3 s pick-up deadline by default, and 0 turns capture off', () => {
    expect(loadPlaybookSettings({}).capture).toEqual({ windowMs: 2000, scheduleToStartMs: 3000 });
    expect(loadPlaybookSettings({ VIGIL_CAPTURE_WINDOW: '0' }).capture?.windowMs).toBe(0);
    expect(
      loadPlaybookSettings({ VIGIL_CAPTURE_WINDOW: '500ms', VIGIL_CAPTURE_SCHEDULE_TO_START: '1s' }).capture,
    ).toEqual({ windowMs: 500, scheduleToStartMs: 1000 });
  });

  it('names the key of a bad or unbounded setting', () => {
    expect(keysOf({ VIGIL_CAPTURE_WINDOW: '45s' })).toEqual(['VIGIL_CAPTURE_WINDOW']);
    expect(keysOf({ VIGIL_CAPTURE_WINDOW: 'soon' })).toEqual(['VIGIL_CAPTURE_WINDOW']);
    expect(keysOf({ VIGIL_CAPTURE_SCHEDULE_TO_START: '10m' })).toEqual(['VIGIL_CAPTURE_SCHEDULE_TO_START']);
  });
});
