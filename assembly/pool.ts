// pool: a connection's receive pool, carved into blocks (header + slice). Best fit over
// one free list, split the rest, merge with free neighbours on release, 8-byte aligned.
// Costs: allocation walks the free list (O(free blocks); the pool's fragments), release is
// O(1) (merge with the two physical neighbours). Published blocks (handed to the owner by
// RECV / HELLO) are on a doubly linked list, and marked in the connection's publish map, so
// FREE checks an offset and unpublishes its block in O(1).
import * as A from "../js/shared/abi";
import { ld32, fill } from "./mem";
import { wr32 } from "./journal";
import { wake } from "./lock";

/** One free block spanning the whole pool; an empty publish map. */
export function poolInit(c: u32, pool: u32, size: u32): void {
  // the map of a free slot is a don't-care (nothing reads it): cleared, not logged
  fill(ld32(c + A.CONN_PUBMAP), 0, size >>> A.PUBMAP_SHIFT);
  wr32(pool + A.BLOCK_SIZE, size);
  wr32(pool + A.BLOCK_PREV_SIZE, 0);
  wr32(pool + A.BLOCK_STATE, 0);
  wr32(pool + A.BLOCK_NEXT, 0);
  wr32(pool + A.BLOCK_LINK, 0);
  wr32(c + A.CONN_FREE, pool);
  wr32(c + A.CONN_PUB, 0);
  wr32(c + A.CONN_USED, 0);
}

function freeUnlink(c: u32, b: u32): void {
  const next = ld32(b + A.BLOCK_NEXT), prev = ld32(b + A.BLOCK_LINK);
  if (prev != 0) wr32(prev + A.BLOCK_NEXT, next);
  else wr32(c + A.CONN_FREE, next);
  if (next != 0) wr32(next + A.BLOCK_LINK, prev);
}

function freePush(c: u32, b: u32): void {
  const head = ld32(c + A.CONN_FREE);
  wr32(b + A.BLOCK_STATE, 0);
  wr32(b + A.BLOCK_NEXT, head);
  wr32(b + A.BLOCK_LINK, 0);
  if (head != 0) wr32(head + A.BLOCK_LINK, b);
  wr32(c + A.CONN_FREE, b);
}

/** Allocate a block of `need` bytes (header included, a multiple of 8); 0 when nothing fits. */
export function poolAlloc(c: u32, need: u32): u32 {
  let best: u32 = 0, bestSize: u32 = 0;
  for (let b = ld32(c + A.CONN_FREE); b != 0; b = ld32(b + A.BLOCK_NEXT)) {
    const s = ld32(b + A.BLOCK_SIZE);
    if (s >= need && (best == 0 || s < bestSize)) {
      best = b;
      bestSize = s;
      if (s == need) break;
    }
  }
  if (best == 0) return 0;
  freeUnlink(c, best);
  if (bestSize - need >= u32(A.BLOCK_MIN)) {
    const rest = best + need;
    const end = ld32(c + A.CONN_POOL) + ld32(c + A.CONN_POOL_SIZE);
    wr32(rest + A.BLOCK_SIZE, bestSize - need);
    wr32(rest + A.BLOCK_PREV_SIZE, need);
    freePush(c, rest);
    const after = rest + bestSize - need;
    if (after < end) wr32(after + A.BLOCK_PREV_SIZE, bestSize - need);
    wr32(best + A.BLOCK_SIZE, need);
    bestSize = need;
  }
  wr32(best + A.BLOCK_STATE, A.BLOCK_USED);
  wr32(best + A.BLOCK_NEXT, 0);
  wr32(best + A.BLOCK_LINK, 0);
  const used = ld32(c + A.CONN_USED) + bestSize;
  wr32(c + A.CONN_USED, used);
  if (used > ld32(c + A.CONN_PEAK_USED)) wr32(c + A.CONN_PEAK_USED, used); // statistics
  return best;
}

/** Release a block and merge it with free neighbours. */
export function poolFree(c: u32, b: u32): void {
  const end = ld32(c + A.CONN_POOL) + ld32(c + A.CONN_POOL_SIZE);
  let size = ld32(b + A.BLOCK_SIZE);
  wr32(c + A.CONN_USED, ld32(c + A.CONN_USED) - size);
  const next = b + size;
  if (next < end && ld32(next + A.BLOCK_STATE) == 0) {
    freeUnlink(c, next);
    size += ld32(next + A.BLOCK_SIZE);
  }
  const prevSize = ld32(b + A.BLOCK_PREV_SIZE);
  if (prevSize != 0 && ld32(b - prevSize + A.BLOCK_STATE) == 0) {
    b -= prevSize;
    freeUnlink(c, b);
    size += ld32(b + A.BLOCK_SIZE);
  }
  wr32(b + A.BLOCK_SIZE, size);
  const after = b + size;
  if (after < end) wr32(after + A.BLOCK_PREV_SIZE, size);
  freePush(c, b);
  wake(c + A.CONN_SPACE, c + A.CONN_SPACE_SLEEPERS); // room for senders waiting (backpressure)
}

/**
 * Hand a block to the pool owner (it must FREE it): the head of the published list, its bit
 * set in the publish map. (The head's BLOCK_PUB_PREV is not kept: CONN_PUB says it is first.)
 */
export function poolPublish(c: u32, b: u32): void {
  const st = ld32(b + A.BLOCK_STATE);
  if ((st & A.BLOCK_USER) != 0) return;
  wr32(b + A.BLOCK_STATE, u32(st | A.BLOCK_USER));
  const head = ld32(c + A.CONN_PUB);
  wr32(b + A.BLOCK_LINK, head);
  if (head != 0) wr32(head + A.BLOCK_PUB_PREV, b);
  wr32(c + A.CONN_PUB, b);
  const rel = b - ld32(c + A.CONN_POOL);
  const w = ld32(c + A.CONN_PUBMAP) + (rel >>> 8) * 4;
  wr32(w, u32(ld32(w) | u32(1 << ((rel >>> 3) & 31))));
}

/**
 * The published block whose slice is at pool offset `off`, unpublished; 0 if there is none.
 * O(1): the publish map says whether a published block starts there. It lies outside the
 * pool, so bytes written into a slice (a payload that looks like a block header, at any
 * offset) cannot pass for one.
 */
export function poolUnpublish(c: u32, off: u32): u32 {
  if ((off & 7) != 0 || off < u32(A.BLOCK_HDR) || off >= ld32(c + A.CONN_POOL_SIZE)) return 0;
  const rel = off - A.BLOCK_HDR;
  const w = ld32(c + A.CONN_PUBMAP) + (rel >>> 8) * 4, bit = u32(1 << ((rel >>> 3) & 31));
  const word = ld32(w);
  if ((word & bit) == 0) return 0;
  wr32(w, u32(word & ~bit));
  const b = ld32(c + A.CONN_POOL) + rel;
  const next = ld32(b + A.BLOCK_LINK);
  if (ld32(c + A.CONN_PUB) == b) wr32(c + A.CONN_PUB, next);
  else {
    const prev = ld32(b + A.BLOCK_PUB_PREV);
    wr32(prev + A.BLOCK_LINK, next);
    if (next != 0) wr32(next + A.BLOCK_PUB_PREV, prev);
  }
  wr32(b + A.BLOCK_STATE, u32(ld32(b + A.BLOCK_STATE) & ~A.BLOCK_USER));
  return b;
}

/** Offset of a block's slice relative to the pool start. */
export function poolOffset(c: u32, b: u32): u32 {
  return b + A.BLOCK_HDR - ld32(c + A.CONN_POOL);
}
