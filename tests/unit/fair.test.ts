// The thread's chain of wake-ups (js/host/fair.ts), driven with the clock given and the event
// loop held (each sequence runs synchronously: no probe can run in the middle of it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAIR_MS, waitResolved, yieldTurn } from '../../js/host/fair.ts';

/**
 * what waitResolved said for each of `n` resolutions `gapMs` apart (the loop held throughout),
 * on a clock of its own: each sequence starts a minute past the last (past the real clock too),
 * so that it starts apart from whatever came before it
 */
let base = performance.now();
function held(n: number, gapMs: number, step: boolean): boolean[] {
  const t0 = base = Math.max(base, performance.now()) + 60_000;
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(waitResolved(t0 + i * gapMs, step));
  return out;
}

/** let a probe armed by the last sequence run (it starts the chain over) */
const settle = async (): Promise<void> => { await yieldTurn(); await yieldTurn(); };

test('steps in one held task, each more than FAIR_MS / 2 after the last: the loop is told to yield within 2 x FAIR_MS', async () => {
  await settle();
  // (before stop 58 each gap started the chain over, and no probe was armed: a page with 100
  // calls in flight, whose pump took replies every 5-6 ms between young collections, never yielded)
  const said = held(5, FAIR_MS * 0.6, true);
  assert.ok(said.includes(true), `steps ${FAIR_MS * 0.6} ms apart with the loop held: ${JSON.stringify(said)}`);
  assert.ok(said.indexOf(true) * FAIR_MS * 0.6 <= 2 * FAIR_MS, `told to yield ${said.indexOf(true) * FAIR_MS * 0.6} ms in`);
  await settle();
});

test('parked waits resolving more than FAIR_MS / 2 apart are separate turns: never told to yield', async () => {
  await settle();
  assert.equal(held(6, FAIR_MS * 0.6, false), [false, false, false, false, false, false]);
  await settle();
});

test('resolutions less than FAIR_MS / 2 apart, the loop held: told to yield once the probe is FAIR_MS late, steps or waits', async () => {
  for (const step of [false, true]) {
    await settle();
    const said = held(40, 1, step); // (40 ms of resolutions 1 ms apart: probe at 5 ms, late at 15)
    const first = said.indexOf(true);
    assert.ok(first >= FAIR_MS && first <= 2 * FAIR_MS, `step ${step}: first told to yield at ${first} ms (${JSON.stringify(said)})`);
    assert.ok(said.slice(first).every(Boolean), `step ${step}: every resolution after that yields until the loop has run`);
  }
  await settle();
});

test('a yield lets a timer that fell due before it run first, even from an I/O callback (Node: the poll phase)', async () => {
  // (stop 58: one setImmediate queued from the poll phase, where Atomics.waitAsync's wake-ups
  // arrive, ran before the next timers phase; the chain went on for a second chain first)
  const { readFile } = await import('node:fs');
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => readFile(new URL(import.meta.url), r)); // (the code below runs in an I/O callback's microtasks)
    let fired = false;
    setTimeout(() => { fired = true; }, 0);
    const end = performance.now() + 3;
    while (performance.now() < end) { /* the timer falls due */ }
    await yieldTurn();
    assert.ok(fired, `try ${i}: the due timer ran before the yield came back`);
  }
});

test.run();
