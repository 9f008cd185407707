// idtable: connections by 64-bit id in O(1) (js/shared/abi.ts, "Id table"). A chained hash
// over the connection slots, bucket = id_lo & id_mask. HELLO inserts and connection close
// unlinks, under the bus lock and journaled; SEND reads it with no lock at all.
//
// Why a lock-free reader cannot be fooled (docs/ARCHITECTURE.md, "Lookups that do not grow"):
// - Every head and link a reader follows is published with an atomic store, after what it
//   points to was written, so a reader that loads it atomically sees a complete chain.
// - Unlinking slot S (P.link = S.link) leaves S.link alone: a reader standing on S walks on
//   into the rest of the same chain. Undoing the unlink puts S back as it was.
// - The only store that can lead a reader astray is a new value of S.link, made when S joins
//   a chain (HELLO re-uses the slot). It comes after an atomic add to id_seq, which is not
//   journaled (it only ever grows). A reader that found nothing re-reads id_seq: unchanged,
//   no link it followed was rewritten, and "not found" is true of a moment during the walk;
//   changed, it walks again. An insertion that is undone leaves S.link pointing into the
//   chain S was inserted into (not logged: S is free, its link is a don't-care), so a reader
//   on S still ends in the right chain.
// - A walk is bounded by n_conns steps; after ID_LOOKUP_TRIES walks that each met a
//   concurrent HELLO, the reader scans the connection table instead.
// Whatever the reader returns, SEND checks (state, id) again under the receiver's lock.
import * as A from "../js/shared/abi";
import { ld32, aLoad, aStore, aAdd } from "./mem";
import { wr32 } from "./journal";
import { busConns, busNConns } from "./bus";

const H: u32 = A.BUS_BASE;

function bucketAddr(lo: u32): u32 {
  return ld32(H + A.BUS_IDS) + u32(lo & ld32(H + A.BUS_ID_MASK)) * 4;
}

function linkAddr(slot: u32): u32 {
  return ld32(H + A.BUS_IDS) + (ld32(H + A.BUS_ID_MASK) + 1 + slot) * 4;
}

/** A journaled store that readers load atomically: log the old value, then store atomically. */
function wrAtomic(p: u32, v: u32): void {
  wr32(p, ld32(p)); // logs { p, old } and stores old: nothing changes yet
  aStore(p, v);
}

/** Add connection slot `slot` (its CONN_ID set) to the table (bus lock held). */
export function idInsert(slot: u32, lo: u32): void {
  const head = bucketAddr(lo);
  aAdd(H + A.BUS_ID_SEQ, 1);
  aStore(linkAddr(slot), ld32(head));
  wrAtomic(head, slot + 1);
}

/** Take connection slot `slot` with id low word `lo` out of the table (bus lock held). */
export function idRemove(slot: u32, lo: u32): void {
  let p = bucketAddr(lo);
  const n = busNConns();
  for (let k: u32 = 0; k < n; k++) {
    const s = ld32(p);
    if (s == 0) return;
    if (s == slot + 1) {
      wrAtomic(p, ld32(linkAddr(slot)));
      return;
    }
    p = linkAddr(s - 1);
  }
}

/** The connection slot address with this id in the table, or 0 (bus lock held: exact). */
export function idFindLocked(lo: u32, hi: u32): u32 {
  const conns = busConns(), n = busNConns();
  let s = ld32(bucketAddr(lo));
  for (let k: u32 = 0; s != 0 && k < n; k++) {
    const c = conns + (s - 1) * A.CONN_SIZE;
    if (ld32(c + A.CONN_ID) == lo && ld32(c + A.CONN_ID + 4) == hi) return c;
    s = ld32(linkAddr(s - 1));
  }
  return 0;
}

/**
 * The active connection with this id, or 0, with no lock held (SEND). Its state and id can
 * change at any moment after: the caller checks them again under the connection's lock.
 */
export function idFind(lo: u32, hi: u32): u32 {
  const ids = ld32(H + A.BUS_IDS), mask = ld32(H + A.BUS_ID_MASK);
  const links = ids + (mask + 1) * 4;
  const conns = busConns(), n = busNConns();
  for (let tries = 0; tries < A.ID_LOOKUP_TRIES; tries++) {
    const seq = aLoad(H + A.BUS_ID_SEQ);
    let s = aLoad(ids + u32(lo & mask) * 4);
    for (let k: u32 = 0; s != 0 && k < n; k++) {
      const c = conns + (s - 1) * A.CONN_SIZE;
      if (aLoad(c + A.CONN_ID) == lo && aLoad(c + A.CONN_ID + 4) == hi &&
        aLoad(c + A.CONN_STATE) == A.CONN_ACTIVE) return c;
      s = aLoad(links + (s - 1) * 4);
    }
    if (aLoad(H + A.BUS_ID_SEQ) == seq) return 0;
  }
  // HELLOs kept re-using slots under our feet: scan (each slot is read once, none is missed)
  for (let i: u32 = 0; i < n; i++) {
    const c = conns + i * A.CONN_SIZE;
    if (aLoad(c + A.CONN_STATE) == A.CONN_ACTIVE && aLoad(c + A.CONN_ID) == lo && aLoad(c + A.CONN_ID + 4) == hi) return c;
  }
  return 0;
}
