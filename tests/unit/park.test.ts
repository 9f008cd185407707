// Timed waits on one word (js/host/wait.ts, waitWord; js/host/deadlines.ts): each ends at its
// own time, alone. Before stop 59 a deadline notified the word, which woke every other waiter
// of it: one expiry ended them all early (their callers re-checked and parked again; 1 000
// receives with timeouts on one connection cost ~0.8 s of CPU a second). Driven on a word of
// its own in shared memory, with a sleepers count beside it, as a connection's wake word is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bump, endWait, parkStats, waitWord, waitWordThen } from '../../js/host/wait.ts';
import { notifyWord } from '../../js/host/sleepers.ts';
import { deadlineStats } from '../../js/host/deadlines.ts';

const WORD = 0, SLEEPERS = 1;
const fresh = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// (a waitAsync and the deadline timer keep no thread alive: keepalive.ts is the library's
// hold, above waitWord; a timer of the suite's keeps this one alive meanwhile)
let keep: ReturnType<typeof setInterval> | undefined;
test.before(() => { keep = setInterval(() => {}, 1000); });
test.after(() => { clearInterval(keep); });

/**
 * a wait of `ms` on the word from 0, as a caller of waitWord waits (a receive): again until its
 * time is up, each time waitWord resolves early (a spurious wake-up, allowed); how many times
 * it was woken, and when it ended
 */
async function waitOut(i32: Int32Array, ms: number, t0: number, seen: { spares: number }): Promise<{ ms: number; wakes: number; at: number }> {
  const end = t0 + ms;
  let wakes = 0;
  for (let left = ms; left > 0; left = end - performance.now()) {
    await waitWord(i32, WORD, 0, left, SLEEPERS);
    wakes++;
    seen.spares = Math.max(seen.spares, parkStats().spares);
  }
  return { ms, wakes, at: performance.now() - t0 };
}

/** up to 500 ms for what a notify woke to run (its waitAsync resolutions are tasks of their own) */
async function settled(i32: Int32Array): Promise<void> {
  for (const end = performance.now() + 500; performance.now() < end;) {
    if (Atomics.load(i32, SLEEPERS) === 0 && parkStats().spares === 0 && deadlineStats().pending === 0) return;
    await sleep(2);
  }
}

test('timed waits on one word, timeouts 15 to 150 ms: each ends at its own time, none before it', async () => {
  const i32 = fresh();
  const t0 = performance.now();
  const ends = await Promise.all(Array.from({ length: 10 }, (_, k) => {
    const ms = 15 * (k + 1);
    return waitWord(i32, WORD, 0, ms, SLEEPERS).then(() => ({ ms, at: performance.now() - t0 }));
  }));
  for (const e of ends) assert.ok(e.at >= e.ms, `the ${e.ms} ms wait ended after ${e.at.toFixed(1)} ms (${ends.map((x) => x.at.toFixed(0)).join(', ')})`);
  await settled(i32);
  assert.is(Atomics.load(i32, SLEEPERS), 0, 'every wait is off the sleepers count');
  assert.is(parkStats().spares, 0, 'no spare outlives the last timed wait on its word');
});

test('a timed wait on a word that another timed wait sleeps on: its expiry leaves a spare, which the next wait from that value takes over', async () => {
  const i32 = fresh();
  const long = waitWord(i32, WORD, 0, 5000, SLEEPERS);
  let longEnded = false;
  void long.then(() => { longEnded = true; });
  await waitWord(i32, WORD, 0, 10, SLEEPERS);
  assert.is(longEnded, false, 'the 10 ms expiry did not end the 5 s wait');
  assert.is(parkStats().spares, 1, 'the expired wait\'s waitAsync is kept');
  assert.is(Atomics.load(i32, SLEEPERS), 2, 'and still counted: it is parked');
  const again = waitWord(i32, WORD, 0, 5000, SLEEPERS);
  assert.is(parkStats().spares, 0, 'taken over');
  assert.is(Atomics.load(i32, SLEEPERS), 2, 'no new waitAsync');
  const t0 = performance.now();
  bump(i32, WORD, SLEEPERS);
  await Promise.all([long, again]);
  assert.ok(performance.now() - t0 < 1000, 'a publish ends both at once');
  await settled(i32);
  assert.is(Atomics.load(i32, SLEEPERS), 0);
  assert.is(parkStats().spares, 0);
});

test('a spare is not taken by a wait from another value; the last timed wait\'s expiry ends the spares of its word', async () => {
  const i32 = fresh();
  const long = waitWord(i32, WORD, 0, 60, SLEEPERS);
  await waitWord(i32, WORD, 0, 10, SLEEPERS);
  assert.is(parkStats().spares, 1);
  // (the word moved without a notify: a wait from the new value parks anew)
  Atomics.add(i32, WORD, 1);
  const other = waitWord(i32, WORD, 1, 30, SLEEPERS);
  assert.is(parkStats().spares, 1, 'the spare from 0 is not a wait from 1');
  await Promise.all([long, other]);
  await settled(i32);
  assert.is(Atomics.load(i32, SLEEPERS), 0, 'every waitAsync ended and is off the count');
  assert.is(parkStats().spares, 0);
});

test('100 expiries one after the other beside a long wait, three times: each wait woken about once, the spares bounded (64, or the timed waits pending)', async () => {
  const i32 = fresh();
  const t0 = performance.now(), seen = { spares: 0 };
  const long = waitOut(i32, 1000, t0, seen);
  let wakes = 0;
  for (let round = 0; round < 3; round++) {
    const r0 = performance.now();
    const rs = await Promise.all(Array.from({ length: 100 }, (_, k) => waitOut(i32, 2 + k * 2, r0, seen)));
    wakes += rs.reduce((n, r) => n + r.wakes, 0);
  }
  const l = await long;
  // (before stop 59 each expiry woke the word's other waiters: ~5 000 wake-ups a round, the
  // long wait ~100 a round; now a spare is flushed once more than 64 are kept, which wakes
  // the word's waiters once)
  assert.ok(wakes <= 2 * 300, `${wakes} wake-ups for 300 waits`);
  assert.ok(l.wakes <= 12, `the long wait woken ${l.wakes} times`);
  assert.ok(l.at >= 1000, `the long wait ended after ${l.at.toFixed(1)} ms`);
  assert.ok(seen.spares <= 64, `${seen.spares} spares`);
  await settled(i32);
  assert.is(Atomics.load(i32, SLEEPERS), 0);
  assert.is(parkStats().spares, 0);
});

test('a wait ended by its owner (endWait) beside another: a spare; the other woken by a notify that moved nothing, the spare goes with it', async () => {
  const i32 = fresh();
  let pDone = false;
  const p = waitWordThen(i32, WORD, 0, Infinity, SLEEPERS, () => { pDone = true; });
  assert.ok(p !== null);
  // (a notify that moves nothing, as a listener's stop makes: p's waitAsync resolves in a task
  // of its own, so p still looks parked when s ends just after)
  notifyWord(i32, WORD, SLEEPERS);
  let sDone = false;
  const s = waitWordThen(i32, WORD, 0, 5000, SLEEPERS, () => { sDone = true; });
  assert.ok(s !== null);
  endWait(s);
  assert.ok(sDone, 'endWait called its done at once');
  assert.is(parkStats().spares, 1, 'kept as a spare: p looked parked');
  for (const end = performance.now() + 500; !pDone && performance.now() < end;) await sleep(1);
  assert.ok(pDone, 'p woken by the notify');
  await settled(i32);
  assert.is(parkStats().spares, 0, 'the spare did not outlive the word\'s last wait');
  assert.is(Atomics.load(i32, SLEEPERS), 0);
});

test.run();
