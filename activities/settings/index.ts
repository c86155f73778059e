/**
 * Playbook settings from the worker's configuration. Read once per incident through a local activity,
 * so the values an incident used are recorded in its history and replay identically.
 */
import type { PlaybookSettings } from '../../src/contracts/playbook.js';

export function createSettingsActivities(settings: PlaybookSettings) {
  return {
    async playbookSettings(): Promise<PlaybookSettings> {
      return settings;
    },
  };
}
export type SettingsActivities = ReturnType<typeof createSettingsActivities>;
