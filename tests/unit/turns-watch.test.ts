// The ticket line's watch (js/host/turns.ts, Watch.check): how long a waiter lets the holder
// of the turn owe a try before it skips it. A run of tickets nobody holds (a dead worker's
// waits) is skipped faster and faster (TURN_MS, then halved per skip in a row, by whichever
// watcher, down to TURN_MS / 32); a pass by a live holder ends the run. Driven on a bare Int32Array with the
// line's words where a receiver's slot has them, and a clock of the test's own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as A from '../../js/shared/abi.ts';
import { Watch, TURN_MS } from '../../js/host/turns.ts';

const RX = A.BUS_BASE + 65536; // a receiver slot's address in the test memory, past the bus header's words
const mem = () => new Int32Array(new SharedArrayBuffer(RX + A.CONN_SIZE));
const w = (rx: number, off: number) => (rx + off) >>> 2;

/** performance.now() (the host's clock, js/host/wait.ts) replaced by `clock.t` while `fn` runs */
function withClock<T>(clock: { t: number }, fn: () => T): T {
  const perf = globalThis.performance as { now: () => number };
  const had = Object.prototype.hasOwnProperty.call(perf, 'now');
  const orig = perf.now;
  Object.defineProperty(perf, 'now', { value: () => clock.t, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    if (had) Object.defineProperty(perf, 'now', { value: orig, configurable: true, writable: true });
    else delete (perf as { now?: unknown }).now;
  }
}

/** Ticket `t` watches until the turn reaches it; returns the clock at each skip. */
function watchUntilTurn(i32: Int32Array, t: number, clock: { t: number }, watch = new Watch()): number[] {
  const at: number[] = [];
  withClock(clock, () => {
    for (let guard = 0; guard < 1000; guard++) {
      const s = Atomics.load(i32, w(RX, A.CONN_TURN_SERVING));
      if (((t - s) | 0) <= 0) return;
      const ms = watch.check(i32, RX, t);
      if (Atomics.load(i32, w(RX, A.CONN_TURN_SERVING)) !== s) at.push(clock.t);
      clock.t += ms;
    }
    assert.unreachable('the turn never came');
  });
  return at;
}

test('a run of dead tickets: TURN_MS for the first, then half the one before, down to TURN_MS / 32', () => {
  const i32 = mem();
  // 10 tickets taken by a thread that died, then ours (10); every holder owes a try (its
  // turn is new: turn_waiting names no ticket of theirs)
  Atomics.store(i32, w(RX, A.CONN_TURN_NEXT), 11);
  Atomics.store(i32, w(RX, A.CONN_TURN_WAITING), -1);
  const clock = { t: 1000 };
  const at = watchUntilTurn(i32, 10, clock);
  assert.is(at.length, 10, 'each dead ticket skipped once');
  const gaps = at.map((x, i) => x - (i === 0 ? 1000 : at[i - 1]));
  assert.equal(gaps, [TURN_MS, TURN_MS / 2, TURN_MS / 4, TURN_MS / 8, TURN_MS / 16, TURN_MS / 32, TURN_MS / 32, TURN_MS / 32, TURN_MS / 32, TURN_MS / 32]);
  assert.is(Atomics.load(i32, (A.BUS_BASE + A.BUS_TURN_SKIPS) >>> 2), 10, 'counted');
});

test('a pass by a live holder ends the run: the next holder gets TURN_MS again', () => {
  const i32 = mem();
  Atomics.store(i32, w(RX, A.CONN_TURN_NEXT), 11);
  Atomics.store(i32, w(RX, A.CONN_TURN_WAITING), -1);
  const clock = { t: 1000 }, watch = new Watch();
  withClock(clock, () => {
    // three dead tickets skipped in a row
    let skipped = 0;
    while (skipped < 3) {
      const s = Atomics.load(i32, w(RX, A.CONN_TURN_SERVING));
      clock.t += watch.check(i32, RX, 10);
      if (Atomics.load(i32, w(RX, A.CONN_TURN_SERVING)) !== s) skipped++;
    }
    // the holder of ticket 3 is alive: it sends and passes the turn on
    Atomics.store(i32, w(RX, A.CONN_TURN_SERVING), 4);
  });
  const start = clock.t;
  const at = watchUntilTurn(i32, 10, clock, watch);
  assert.is(at[0] - start, TURN_MS, 'a new run: the whole TURN_MS');
  assert.is(at[1] - at[0], TURN_MS / 2);
});

test("the run is the line's, not the watcher's: a waiter that skipped none goes on with the run another one began", () => {
  // (an outside audit, stop 29: each watcher kept its own run, and the last dead ticket ahead
  // of a waiter cost it a whole TURN_MS again, whatever the others had skipped before it)
  const i32 = mem();
  Atomics.store(i32, w(RX, A.CONN_TURN_NEXT), 11);
  Atomics.store(i32, w(RX, A.CONN_TURN_WAITING), -1);
  const clock = { t: 1000 };
  const first = new Watch(), second = new Watch();
  withClock(clock, () => {
    // the first watcher skips three dead tickets in a row
    for (let skipped = 0; skipped < 3;) {
      const s = Atomics.load(i32, w(RX, A.CONN_TURN_SERVING));
      clock.t += first.check(i32, RX, 10);
      if (Atomics.load(i32, w(RX, A.CONN_TURN_SERVING)) !== s) skipped++;
    }
  });
  const start = clock.t;
  const at = watchUntilTurn(i32, 10, clock, second);
  assert.is(at[0] - start, TURN_MS / 8, 'the fourth holder in a row: an eighth of TURN_MS');
  assert.is(at[1] - at[0], TURN_MS / 16);
});

test('a holder that does not owe a try is never skipped; a waiter far back looks every TURN_MS x its distance, at most 8 x TURN_MS apart', () => {
  const i32 = mem();
  Atomics.store(i32, w(RX, A.CONN_TURN_NEXT), 21);
  // the holder (ticket 0) tried and waits for the space word to move from 0: it owes nothing
  Atomics.store(i32, w(RX, A.CONN_TURN_WAITING), 0);
  const clock = { t: 1000 };
  withClock(clock, () => {
    const watch = new Watch();
    assert.is(watch.check(i32, RX, 2), 2 * TURN_MS);
    assert.is(watch.check(i32, RX, 20), 8 * TURN_MS);
    clock.t += 60_000;
    assert.is(watch.check(i32, RX, 1), TURN_MS);
    assert.is(Atomics.load(i32, w(RX, A.CONN_TURN_SERVING)), 0, 'not skipped');
  });
});

test.run();
