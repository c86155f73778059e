/** Group commit per incident against a fake starter (our own interface): batching, limits, failures. */
import { describe, expect, it } from 'vitest';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { groupCommitter } from './group-commit.js';
import type { IncidentStarter } from './incidents.js';

const ev = (id: string) => ({ id }) as unknown as DetectionEvent;

/** A starter whose calls wait until released; records each call's incident and event ids. */
function gatedStarter() {
  const calls: { incidentId: string; ids: string[]; release: (ok: boolean) => void }[] = [];
  const seen = new Set<string>();
  const startMany: IncidentStarter['startMany'] = (incidentId, _key, events) =>
    new Promise((resolve, reject) => {
      calls.push({
        incidentId,
        ids: events.map((e) => e.id),
        release: (ok) => {
          if (!ok) return reject(new Error('deadline exceeded'));
          const started = !seen.has(incidentId);
          seen.add(incidentId);
          resolve({ runId: `run-${incidentId}`, started });
        },
      });
    });
  const starter: IncidentStarter = { start: (i, k, e) => startMany(i, k, [e]), startMany };
  return { starter, calls };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('group commit', () => {
  it('holds events behind the in-flight call of their incident and sends them together next', async () => {
    const { starter, calls } = gatedStarter();
    const gc = groupCommitter(starter);
    const first = gc.submit('inc-a', 'k', ev('e0'), 10);
    const rest = ['e1', 'e2', 'e3'].map((id) => gc.submit('inc-a', 'k', ev(id), 10));
    await tick();
    expect(calls.map((c) => c.ids)).toEqual([['e0']]);
    calls[0]?.release(true);
    expect(await first).toEqual({ runId: 'run-inc-a', started: true, batch: 1 });
    await tick();
    expect(calls.map((c) => c.ids)).toEqual([['e0'], ['e1', 'e2', 'e3']]);
    calls[1]?.release(true);
    expect((await Promise.all(rest)).map((r) => [r.started, r.batch])).toEqual([
      [false, 3],
      [false, 3],
      [false, 3],
    ]);
  });

  it('counts only the first event of a call that started the run as started', async () => {
    const { starter, calls } = gatedStarter();
    const gc = groupCommitter(starter);
    const a = gc.submit('inc-b', 'k', ev('x'), 10);
    const b = gc.submit('inc-b', 'k', ev('y'), 10);
    const c = gc.submit('inc-b', 'k', ev('z'), 10);
    await tick();
    calls[0]?.release(false); // the first call fails: its event is not accepted, the others go on
    await expect(a).rejects.toThrow('deadline exceeded');
    await tick();
    expect(calls[1]?.ids).toEqual(['y', 'z']);
    calls[1]?.release(true);
    expect((await Promise.all([b, c])).map((r) => r.started)).toEqual([true, false]);
  });

  it('caps a call at maxEvents and about maxBytes, but always sends at least one event', async () => {
    const { starter, calls } = gatedStarter();
    const gc = groupCommitter(starter, { limits: { maxEvents: 3, maxBytes: 100 } });
    const all = [gc.submit('inc-c', 'k', ev('0'), 1)];
    for (let i = 1; i <= 5; i++) all.push(gc.submit('inc-c', 'k', ev(String(i)), 10));
    all.push(gc.submit('inc-c', 'k', ev('big'), 500), gc.submit('inc-c', 'k', ev('after'), 60));
    all.push(gc.submit('inc-c', 'k', ev('last'), 60));
    for (let i = 0; i < 6; i++) {
      await tick();
      calls.at(-1)?.release(true);
    }
    await Promise.all(all);
    expect(calls.map((c) => c.ids)).toEqual([
      ['0'],
      ['1', '2', '3'],
      ['4', '5'],
      ['big'],
      ['after'],
      ['last'],
    ]);
  });

  it('does not hold one incident behind another', async () => {
    const { starter, calls } = gatedStarter();
    const gc = groupCommitter(starter);
    void gc.submit('inc-d', 'k', ev('d'), 1);
    void gc.submit('inc-e', 'k', ev('e'), 1);
    await tick();
    expect(calls.map((c) => c.incidentId)).toEqual(['inc-d', 'inc-e']);
  });

  it('does not leave a lane stuck when the starter throws instead of rejecting', async () => {
    let n = 0;
    const starter: IncidentStarter = {
      start: (incidentId) => {
        if (n++ === 0) throw new Error('boom');
        return Promise.resolve({ runId: `run-${incidentId}`, started: true });
      },
      startMany: (incidentId) => Promise.resolve({ runId: `run-${incidentId}`, started: true }),
    };
    const gc = groupCommitter(starter);
    await expect(gc.submit('inc-f', 'k', ev('1'), 1)).rejects.toThrow('boom');
    await expect(gc.submit('inc-f', 'k', ev('2'), 1)).resolves.toMatchObject({ started: true });
  });
});
