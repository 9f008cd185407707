// polls: the waits of a runtime without Atomics.waitAsync (older Firefox), which poll their
// word on a timer (wait.ts, pollWord). A notify from this thread reaches them through here, as
// Atomics.notify reaches a waitAsync parked on the word: without it, a wait that its owner
// ended (a listener's stop(), an aborted or closed recvAsync: each notifies the word to end
// its waitAsync) polled on every 4 ms until the word moved (the next message, a close) or its
// timeout passed, for as long as the connection stayed idle (stop 41). Notifies from
// other threads do not come here; the messages they publish move the word, which the poll
// sees at its next tick. Where the runtime has waitAsync the set stays empty, and notifyWord
// pays one size check.

/** one polling wait: its word, and how to end it (the caller looks again, as after a spurious wake-up) */
export interface Poll {
  readonly i32: Int32Array;
  readonly index: number;
  wake(): void;
}

const polls = new Set<Poll>();

export function addPoll(p: Poll): void {
  polls.add(p);
}

export function dropPoll(p: Poll): void {
  polls.delete(p);
}

/** End this thread's polling waits on i32[index] (a notify of the word by this thread). */
export function wakePolls(i32: Int32Array, index: number): void {
  if (polls.size === 0) return;
  for (const p of polls) if (p.index === index && p.i32.buffer === i32.buffer) p.wake();
}

/** polling waits now (tests: none left once their owners ended them) */
export function pollCount(): number {
  return polls.size;
}
