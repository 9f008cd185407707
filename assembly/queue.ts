// queue: a connection's receive queue, FIFO through the blocks' `next` links, with the
import * as A from "../js/shared/abi";
import { ld32, ldi32 } from "./mem";
import { wr32 } from "./journal";

/** predecessor of the block queuePeek returned (0: it is the head) */
export let queuePrev: u32 = 0;

export function queueAppend(c: u32, b: u32): void {
  wr32(b + A.BLOCK_NEXT, 0);
  const tail = ld32(c + A.CONN_Q_TAIL);
  if (tail != 0) wr32(tail + A.BLOCK_NEXT, b);
  else wr32(c + A.CONN_Q_HEAD, b);
  wr32(c + A.CONN_Q_TAIL, b);
  const n = ld32(c + A.CONN_N_QUEUED) + 1;
  wr32(c + A.CONN_N_QUEUED, n);
  if (n > ld32(c + A.CONN_PEAK_QUEUED)) wr32(c + A.CONN_PEAK_QUEUED, n); // statistics
}

/** s64 priority of a queued message, compared as (hi signed, lo unsigned) */
function prioLess(b: u32, lo: u32, hi: i32): bool {
  const p = b + A.BLOCK_HDR + A.MSG_PRIORITY;
  const bh = ldi32(p + 4);
  return bh < hi || (bh == hi && ld32(p) < lo);
}

/**
 * The next message to deliver: the head, or with `usePrio` the first of the lowest priority
 * values, only if that value is <= (lo, hi). 0 when there is none.
 */
export function queuePeek(c: u32, usePrio: bool, lo: u32, hi: i32): u32 {
  queuePrev = 0;
  const head = ld32(c + A.CONN_Q_HEAD);
  if (!usePrio || head == 0) return head;
  let best = head, bestPrev: u32 = 0, prev = head;
  for (let b = ld32(head + A.BLOCK_NEXT); b != 0; b = ld32(b + A.BLOCK_NEXT)) {
    const p = best + A.BLOCK_HDR + A.MSG_PRIORITY;
    if (prioLess(b, ld32(p), ldi32(p + 4))) { best = b; bestPrev = prev; }
    prev = b;
  }
  // deliver only if best <= limit, i.e. not (limit < best)
  const bp = best + A.BLOCK_HDR + A.MSG_PRIORITY;
  const bh = ldi32(bp + 4), bl = ld32(bp);
  if (hi < bh || (hi == bh && lo < bl)) return 0;
  queuePrev = bestPrev;
  return best;
}

/**
 * The first queued message without EXPECT_REPLY whose cookie_reply is (lo, hi): the reply to
 * this connection's call with that cookie (or the bus's REPLY_TIMEOUT / REPLY_DEAD for it),
 * its predecessor in queuePrev; 0 when there is none. O(queued).
 */
export function queueFindReply(c: u32, lo: u32, hi: u32): u32 {
  let prev: u32 = 0;
  const any = (lo | hi) == 0;
  for (let b = ld32(c + A.CONN_Q_HEAD); b != 0; b = ld32(b + A.BLOCK_NEXT)) {
    const m = b + A.BLOCK_HDR;
    const tlo = ld32(m + A.MSG_TIMEOUT), thi = ld32(m + A.MSG_TIMEOUT + 4);
    if ((ld32(m + A.MSG_FLAGS) & A.MSG_EXPECT_REPLY) == 0 && (any ? (tlo | thi) != 0 : tlo == lo && thi == hi)) {
      queuePrev = prev;
      return b;
    }
    prev = b;
  }
  return 0;
}

export function queueUnlink(c: u32, b: u32, prev: u32): void {
  const next = ld32(b + A.BLOCK_NEXT);
  if (prev != 0) wr32(prev + A.BLOCK_NEXT, next);
  else wr32(c + A.CONN_Q_HEAD, next);
  if (ld32(c + A.CONN_Q_TAIL) == b) wr32(c + A.CONN_Q_TAIL, prev);
  wr32(b + A.BLOCK_NEXT, 0);
  wr32(c + A.CONN_N_QUEUED, ld32(c + A.CONN_N_QUEUED) - 1);
}
