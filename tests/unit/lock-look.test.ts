// LockLook (js/lock-look.ts), driven with its clock given: how long a lock an event-loop wait
// keeps finding taken counts before EDEADLK. A gap between two looks counts LOCK_LOOK_GAP_MS at
// most (the looking thread's own standing still, stop 70), the time since the last look too
// when a caller asks without a look of its own (a review of stop 71); a broadcast's WaitSpan
// has a wall-clock bound too, LOCK_LOOK_WALL_MS. A fake engine stands for the lock word: still
// (a dead holder) or moved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LockLook, WaitClock, WaitSpan } from '../../js/lock-look.ts';
import { abi as A, type Engine } from '../../js/index.ts';

/** An engine whose last give-up was at lock word 7, held by `holder`; its word moved (a live holder) when `moved`. */
function fake(holder = 3, moved = false): Engine & { holder: number; stills: number } {
  const e = {
    holder, stills: 0,
    get stuckIndex() { return 7; },
    get stuckValue() { return e.holder; },
    lockMoved(): boolean { e.stills++; return moved; },
  };
  return e as unknown as Engine & { holder: number; stills: number };
}

/** Looks `gap` ms apart from t = 0 until stuck() says so: the clock then (ms), or -1 after `max` looks. */
function until(gap: number, max = 100000, e = fake()): number {
  let t = 0;
  const look = new LockLook(() => t);
  for (let k = 0; k < max; k++, t += gap) {
    look.seen(e);
    if (look.stuck(e)) return t;
  }
  return -1;
}

test('looks ASYNC_LOCK_RETRY_MS apart: EDEADLK once the lock stayed taken LOCK_WAIT_MS', () => {
  assert.is(until(A.ASYNC_LOCK_RETRY_MS), A.LOCK_WAIT_MS);
});

test('a gap longer than LOCK_LOOK_GAP_MS counts LOCK_LOOK_GAP_MS: looks 300 ms apart take LOCK_WAIT_MS / LOCK_LOOK_GAP_MS of them', () => {
  assert.is(until(300), (A.LOCK_WAIT_MS / A.LOCK_LOOK_GAP_MS) * 300);
});

test('looks seconds apart end at their eleventh, after ten gaps (a background tab: about 10 s with timers clamped to 1 s); no bound by the wall clock, which a later wait of the connection would inherit (a review of stop 71)', () => {
  assert.is(until(1000), 10 * 1000);
  assert.is(until(60000), 10 * 60000, 'a tab hidden long (a look a minute): ten minutes');
  // a wait that ended with the lock taken, and the next one 20 s later at the same holder: it
  // counts that gap as LOCK_LOOK_GAP_MS, and does not give up at its first look
  let t = 0;
  const e = fake(), look = new LockLook(() => t);
  for (; t <= 300; t += 5) { look.seen(e); assert.is(look.stuck(e), false); }
  t = 20_300; look.seen(e);
  assert.is(look.stuck(e), false, 'the later wait goes on');
  assert.is(e.stills, 0);
});

test("the thread's own block between two looks counts LOCK_LOOK_GAP_MS; asked without a look of its own, the time since the last look counts as much", () => {
  let t = 0;
  const e = fake(), look = new LockLook(() => t);
  look.seen(e);
  t = 500; look.seen(e); // 100 counted
  t = 1500; // a second's block of its own, and no look yet (the reply pump asks)
  assert.is(look.stuck(e), false, 'only LOCK_LOOK_GAP_MS of the time since the last look counts');
  for (t = 1505; t < 1505 + 795; t += 5) { look.seen(e); assert.is(look.stuck(e), false, `at ${t}`); }
  t = 1505 + 800; look.seen(e);
  assert.is(look.stuck(e), true, '100 + 100 + 800 ms counted');
});

test('another holder starts the count again; a word that moved (a live holder) is not stuck, looked at again from then', () => {
  let t = 0;
  const e = fake(3), look = new LockLook(() => t);
  for (t = 0; t <= 900; t += 50) look.seen(e);
  e.holder = 4;
  for (t = 950; t < 1950; t += 50) { look.seen(e); assert.is(look.stuck(e), false, `the new holder at ${t}: ${t - 950} ms`); }
  t = 1950; look.seen(e);
  assert.is(look.stuck(e), true, 'a thousand ms of the new holder, its word still');
  const live = fake(3, true), l2 = new LockLook(() => t);
  for (t = 0; t < 1000; t += 50) { l2.seen(live); assert.is(l2.stuck(live), false); }
  assert.is(live.stills, 0, 'no still-check before LOCK_WAIT_MS');
  t = 1000; l2.seen(live);
  assert.is(l2.stuck(live), false, 'its word moved');
  assert.is(live.stills, 1);
  for (t = 1050; t < 2000; t += 50) { l2.seen(live); assert.is(l2.stuck(live), false); }
  assert.is(live.stills, 1, 'from then on: no still-check before LOCK_WAIT_MS again');
});

test("WaitClock and WaitSpan (a set-aside broadcast's steps): a gap counts LOCK_LOOK_GAP_MS at most, a span is over at LOCK_WAIT_MS counted or LOCK_LOOK_WALL_MS of wall time", () => {
  let t = 0;
  const w = new WaitClock(() => t), span = new WaitSpan(w);
  w.step();
  assert.is(span.begun, false);
  span.begin();
  for (t = 5; t < 500; t += 5) { w.step(); assert.is(span.over, false); }
  t = 2000; w.step(); // the thread's own second-and-a-half block: 100 ms counted
  assert.is(w.counted, 495 + 100);
  assert.is(span.over, false, 'not over after its own block');
  for (t = 2005; w.counted < A.LOCK_WAIT_MS; t += 5) { assert.is(span.over, false); w.step(); }
  assert.is(span.over, true, 'over at LOCK_WAIT_MS counted');
  span.restart();
  assert.is(span.over, false, 'restarted');
  const begun = t;
  for (; t - begun < A.LOCK_LOOK_WALL_MS; t += 2000) { assert.is(span.over, false, `at ${t - begun} ms of wall time`); w.step(); }
  w.step();
  assert.is(span.over, true, 'over at LOCK_LOOK_WALL_MS of wall time, steps two seconds apart (500 ms counted)');
  span.end();
  assert.is(span.over, false);
  assert.is(span.begun, false);
});

test.run();
