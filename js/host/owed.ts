// owed: when a batch's deferred wakes are paid (bus.batch; abi.ts, THREAD_DEFER). While a
// thread's defer word is 1, the core bumps a receiver's wake word for each message as always
// but records the receiver instead of notifying it (assembly/lock.ts, wakeConn); the core's
// owed_pay export notifies them (assembly/owed.ts). This module says when: as the batch ends,
// and before any wait of this thread that blocks or spins (a blocked thread could otherwise
// be waiting for an answer to a message whose receiver was never woken). A notify wakes a
// parked receiver once however many messages were published to it, so a burst of N messages
// to a parked receiver costs its sender one notify instead of up to N (on the 2-vCPU VM of
// docs/BENCHMARKS.md a notify that wakes an idle thread costs the notifier 20-40 µs: stop 53).

/** An engine in a batch on this thread: the core's owed_pay for its slot (nothing once the slot is no longer its own). */
export interface Deferring {
  payOwed(defer: number): void;
}

/** Engines of this thread in a batch now (one per bus; usually none or one). Module state is per thread. */
const batching: Deferring[] = [];

/** Start deferring `d`'s message wakes (bus.batch's outermost call). */
export function deferOn(d: Deferring): void {
  d.payOwed(1);
  batching.push(d);
}

/** Stop deferring and pay what `d` owes (bus.batch's outermost end, also when it throws). */
export function deferOff(d: Deferring): void {
  const k = batching.indexOf(d);
  if (k >= 0) batching.splice(k, 1);
  d.payOwed(0);
}

/** Pay every batch's owed wakes on this thread now (the batches go on): before a wait that blocks or spins. */
export function payAll(): void {
  for (let k = 0; k < batching.length; k++) batching[k]!.payOwed(1);
}

/** Is `d` in a batch on this thread? */
export function deferring(d: Deferring): boolean {
  return batching.indexOf(d) >= 0;
}
