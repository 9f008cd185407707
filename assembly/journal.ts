// journal: the calling thread's undo log. Every store to shared state made under a lock
// goes through wr32, which first records the old value in the thread slot; the command
// commits by emptying the log before it unlocks. A thread that dies (or traps) mid-command
// is undone from its log by recover / unwind, so no half-made change survives it.
// The fault hook (THREAD_FAULT; hooks builds only) traps at the n-th logged store.
import * as A from "../js/shared/abi";
import { ld32, st32, trap, THREAD, HOOKS } from "./mem";

/** 1 in the hooks build (the fault hook compiled in), 0 in the release build: the host checks it against the engine's `hooks` (a release core taken for a hooks one ignored setFault). */
export function faultHooks(): u32 {
  return HOOKS ? 1 : 0;
}

export function wr32(p: u32, v: u32): void {
  if (HOOKS) {
    const t = THREAD;
    const f = ld32(t + A.THREAD_FAULT);
    if (f != 0) {
      st32(t + A.THREAD_FAULT, f - 1);
      if (f == 1) trap();
    }
  }
  wrQuiet(p, v);
}

/**
 * wr32 without the fault hook: for a bookkeeping word that is never a step of its own (a
 * notification queue's progress, recorded in the same commit as the delivery or the change it
 * follows: a fault at that commit's other stores undoes it with them).
 */
export function wrQuiet(p: u32, v: u32): void {
  const t = THREAD;
  const n = ld32(t + A.THREAD_LOG_LEN);
  if (n >= u32(A.LOG_MAX)) trap();
  const e = t + A.THREAD_LOG + n * 8;
  st32(e, p);
  st32(e + 4, ld32(p));
  st32(t + A.THREAD_LOG_LEN, n + 1);
  st32(p, v);
}

export function wr64(p: u32, lo: u32, hi: u32): void {
  wr32(p, lo);
  wr32(p + 4, hi);
}

/**
 * Log the words of [p, p + bytes) as they are (bytes a multiple of 4): plain stores made to
 * them afterwards are undone with the command, as logged ones are.
 */
export function logRange(p: u32, bytes: u32): void {
  for (let q = p; q < p + bytes; q += 4) wr32(q, ld32(q));
}

/**
 * A long change (a close: its names, its calls) at a point where what it has done so far is
 * whole (as if made by commands of their own, one name or call at a time): commit it when the
 * log holds LOG_CHECKPOINT entries, so that the rest fits. A death after it is recovered from
 * there (the close goes on: recovery closes the thread's connections); a trap leaves what was
 * committed (the close half done, the connection still open: closing it again goes on).
 */
export function logCheckpoint(): void {
  if (logDue()) logCommit();
}

/** Does the log hold LOG_CHECKPOINT entries (a long change should make itself whole and commit: logCheckpoint)? */
export function logDue(): bool {
  return ld32(THREAD + A.THREAD_LOG_LEN) >= u32(A.LOG_CHECKPOINT);
}

/** The command's changes are complete: forget them (before unlocking). */
export function logCommit(): void {
  st32(THREAD + A.THREAD_LOG_LEN, 0);
}

/** Restore every value thread slot `t` logged, newest first, and empty its log. */
export function logUndo(t: u32): void {
  for (let n = ld32(t + A.THREAD_LOG_LEN); n > 0; n--) {
    const e = t + A.THREAD_LOG + (n - 1) * 8;
    st32(ld32(e), ld32(e + 4));
  }
  st32(t + A.THREAD_LOG_LEN, 0);
}
