// owed: the wakes a batch defers (bus.batch; abi.ts, THREAD_DEFER). While a thread's defer
// word is 1, the core bumps a receiver's wake word for each message as always but records the
// receiver instead of notifying it (assembly/lock.ts, wakeConn); this module notifies them:
// when the batch ends, and before any wait of this thread that blocks or spins (a blocked
// thread could otherwise be waiting for an answer to a message whose receiver was never
// woken). A notify wakes a parked receiver once however many messages were published to it,
// so a burst of N messages to a parked receiver costs its sender one notify instead of up
// to N (on the 2-vCPU VM of docs/BENCHMARKS.md a notify that wakes an idle thread costs the
// notifier 20-40 µs: stop 53).
import * as A from '../shared/abi.ts';
import { notifyWord } from './sleepers.ts';

/** The memory and thread slot of an engine in a batch on this thread. */
export interface Deferring {
  readonly i32: Int32Array;
  /** the thread slot's address (0: left, nothing to pay) */
  readonly threadAddr: number;
}

/** Engines of this thread in a batch now (one per bus; usually none or one). Module state is per thread. */
const batching: Deferring[] = [];

/** Start deferring `d`'s message wakes (bus.batch's outermost call). */
export function deferOn(d: Deferring): void {
  const t = d.threadAddr;
  if (t === 0) return;
  d.i32[(t + A.THREAD_DEFER) >>> 2] = 1;
  batching.push(d);
}

/** Stop deferring and pay what `d` owes (bus.batch's outermost end, also when it throws). */
export function deferOff(d: Deferring): void {
  const k = batching.indexOf(d);
  if (k >= 0) batching.splice(k, 1);
  const t = d.threadAddr;
  if (t === 0) return;
  d.i32[(t + A.THREAD_DEFER) >>> 2] = 0;
  pay(d.i32, t);
}

/** Pay every batch's owed wakes on this thread now (the batches go on): before a wait that blocks or spins. */
export function payAll(): void {
  for (let k = 0; k < batching.length; k++) {
    const d = batching[k]!;
    if (d.threadAddr !== 0) pay(d.i32, d.threadAddr);
  }
}

/** Is `d` in a batch on this thread? */
export function deferring(d: Deferring): boolean {
  return batching.indexOf(d) >= 0;
}

/**
 * Notify what thread slot `t` owes: each receiver recorded that still has a waiter counted,
 * or, past OWED_MAX, every connection with one (abi.ts). The record is cleared first: a
 * message published meanwhile by this thread is recorded again (it is this thread's).
 */
function pay(i32: Int32Array, t: number): void {
  const nAt = (t + A.THREAD_OWED_N) >>> 2;
  const n = i32[nAt]!;
  if (n === 0) return;
  i32[nAt] = 0;
  if (n <= A.OWED_MAX) {
    for (let k = 0; k < n; k++) wakeParked(i32, i32[(t + A.THREAD_OWED + 4 * k) >>> 2]! >>> 0);
    return;
  }
  const conns = i32[(A.BUS_BASE + A.BUS_CONNS) >>> 2]! >>> 0, m = i32[(A.BUS_BASE + A.BUS_N_CONNS) >>> 2]! >>> 0;
  for (let s = 0; s < m; s++) wakeParked(i32, conns + s * A.CONN_SIZE);
}

function wakeParked(i32: Int32Array, c: number): void {
  const sleepers = (c + A.CONN_SLEEPERS) >>> 2;
  if (Atomics.load(i32, sleepers) !== 0) notifyWord(i32, (c + A.CONN_WAKE) >>> 2, sleepers);
}
