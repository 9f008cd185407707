// bus: the layout computed from the bus limits, and the header's accessors (BUS_MAKE, which
// writes a fresh bus, is make.ts's).
import * as A from "../js/shared/abi";
import { ld32, st32, satAdd, satMul, aLoad } from "./mem";

const H: u32 = A.BUS_BASE;
/** what satAdd / satMul return for a result that does not fit a u32 */
const SAT: u32 = 0xffffffff;

export function busThreads(): u32 { return ld32(H + A.BUS_THREADS); }
export function busConns(): u32 { return ld32(H + A.BUS_CONNS); }
export function busNConns(): u32 { return ld32(H + A.BUS_N_CONNS); }
export function busNThreads(): u32 { return ld32(H + A.BUS_N_THREADS); }
export function busPoolMax(): u32 { return ld32(H + A.BUS_POOL_MAX); }
export function busLayoutEnd(): u32 { return ld32(H + A.BUS_LAYOUT_END); }
export function busBloomSize(): u32 { return ld32(H + A.BUS_BLOOM_SIZE); }

/** Buckets of the id table (and of the name table): the least power of two >= n (at most 2^31). */
export function idBuckets(nConns: u32): u32 {
  let b: u32 = 1;
  while (b < nConns && b < 0x80000000) b = u32(b << 1);
  return b;
}

/** base + n × size, saturated (SAT: does not fit in 4 GiB) */
function tableEnd(base: u32, n: u32, size: u32): u32 {
  return base == SAT ? SAT : satAdd(base, satMul(n, size));
}

/**
 * Lay the tables out after the header and return the end of bus state (0 when it does not
 * fit below 4 GiB - 1, the largest layout_end a u32 field holds besides the saturation
 * mark). With `write`, store the table addresses in the header.
 */
export function busLayout(nThreads: u32, nConns: u32, poolMax: u32, nNames: u32,
  nMatches: u32, nReplies: u32, bloomSize: u32, write: bool): u32 {
  const matchSize = satAdd(A.MATCH_HDR, satMul(2, bloomSize));
  const threads: u32 = H + A.BUS_SIZE;
  const conns = tableEnd(threads, nThreads, A.THREAD_SIZE);
  const ids = tableEnd(conns, nConns, A.CONN_SIZE);
  const buckets = idBuckets(nConns);
  const names = tableEnd(ids, satAdd(buckets, nConns), 4);
  const matches = tableEnd(tableEnd(names, 1, A.NAMES_HDR + idBuckets(nNames) * 4), nNames, A.NAME_SIZE);
  const replies = tableEnd(matches, nMatches, matchSize);
  const metas = tableEnd(replies, satAdd(nReplies, 1), A.REPLY_SIZE); // + the table's header record
  const left = tableEnd(metas, satAdd(nConns, 1), A.META_SIZE); // + the bus creator's
  const leftEnd = tableEnd(left, satMul(nThreads, A.LEFT_PER_THREAD), 4); // host words: the left table
  const livenessEnd = tableEnd(leftEnd, nThreads, A.LIVENESS_SIZE); // host words: the liveness table (token, OS thread)
  if (livenessEnd >= SAT - A.POOL_ALIGN) return 0;
  const pools = u32(u32(livenessEnd + (A.POOL_ALIGN - 1)) & ~(A.POOL_ALIGN - 1));
  const pubmaps = tableEnd(pools, nConns, poolMax);
  const end = tableEnd(pubmaps, nConns, poolMax >>> A.PUBMAP_SHIFT);
  if (matchSize == SAT || end == SAT) return 0;
  if (write) {
    st32(H + A.BUS_MATCH_SIZE, matchSize);
    st32(H + A.BUS_THREADS, threads);
    st32(H + A.BUS_CONNS, conns);
    st32(H + A.BUS_NAMES, names);
    st32(H + A.BUS_MATCHES, matches);
    st32(H + A.BUS_REPLIES, replies);
    st32(H + A.BUS_METAS, metas);
    st32(H + A.BUS_LEFT, left);
    st32(H + A.BUS_LIVENESS, leftEnd);
    st32(H + A.BUS_POOLS, pools);
    st32(H + A.BUS_IDS, ids);
    st32(H + A.BUS_ID_MASK, buckets - 1);
    st32(H + A.BUS_PUBMAPS, pubmaps);
    st32(H + A.BUS_LAYOUT_END, end);
  }
  return end;
}

/** bus.shutdown() was called: HELLO, SEND and RECV (not RECV_DROP) fail with ESHUTDOWN. */
export function busShutdown(): bool {
  return aLoad(A.BUS_BASE + A.BUS_SHUTDOWN) != 0;
}
