import { describe, expect, it } from 'vitest';
import { droppedNote, rateBound } from './approvals.js';

describe('rateBound: refusals recorded at a bounded rate, and the ones held back counted', () => {
  it('lets `limit` through per window, then tells the next one how many were held back', () => {
    let t = 1_000;
    const bound = rateBound(2, 10_000, () => t);
    expect([bound(), bound(), bound(), bound(), bound()]).toEqual([0, 0, false, false, false]);
    t += 10_001;
    expect(bound()).toBe(3);
    expect(bound()).toBe(0);
    expect(droppedNote(3)).toBe('; 3 earlier refusal(s) past the rate bound were not recorded');
    expect(droppedNote(0)).toBe('');
  });

  it('starts a new window when the clock moves back', () => {
    let t = 50_000;
    const bound = rateBound(1, 10_000, () => t);
    expect([bound(), bound()]).toEqual([0, false]);
    t -= 5_000;
    expect(bound()).toBe(1);
  });
});
