// bus: BUS_MAKE, the layout computed from the bus limits, header accessors.
import * as A from "../js/shared/abi";
import { ld32, st32, st64, fill, inMemory, satAdd, satMul, aLoad } from "./mem";
import { random_get } from "./host";
import { failAt } from "./reason";
import { metaCollectProcess } from "./meta";

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
function idBuckets(nConns: u32): u32 {
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
  const metasEnd = tableEnd(metas, satAdd(nConns, 1), A.META_SIZE); // + the bus creator's
  if (metasEnd >= SAT - A.POOL_ALIGN) return 0;
  const pools = u32(u32(metasEnd + (A.POOL_ALIGN - 1)) & ~(A.POOL_ALIGN - 1));
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
    st32(H + A.BUS_POOLS, pools);
    st32(H + A.BUS_IDS, ids);
    st32(H + A.BUS_ID_MASK, buckets - 1);
    st32(H + A.BUS_PUBMAPS, pubmaps);
    st32(H + A.BUS_LAYOUT_END, end);
  }
  return end;
}

/** BUS_MAKE: validate the limits and bloom parameters, write a fresh bus at BUS_BASE. */
export function busMake(cmd: u32): i32 {
  const sizeLo = ld32(cmd + A.CMD_SIZE), sizeHi = ld32(cmd + A.CMD_SIZE + 4);
  if (sizeHi != 0 || sizeLo > u32(A.CMD_MAX)) return failAt(cmd, A.EMSGSIZE, A.R_CMD_TOO_LARGE, A.CMD_MAX);
  if (sizeLo < u32(A.MAKE_CMD_SIZE)) return failAt(cmd, A.EINVAL, A.R_CMD_TOO_SMALL, A.MAKE_CMD_SIZE);
  // kdbus make flags ACCESS_GROUP | ACCESS_WORLD are accepted and have no effect here
  const flags = ld32(cmd + A.CMD_FLAGS);
  if (ld32(cmd + A.CMD_FLAGS + 4) != 0 || (flags & ~3) != 0) return failAt(cmd, A.EINVAL, A.R_CMD_FLAGS, 3);
  const bloomSize = ld32(cmd + A.MAKE_BLOOM_SIZE);
  if (ld32(cmd + A.MAKE_BLOOM_SIZE + 4) != 0 || bloomSize < u32(A.BLOOM_SIZE_MIN) ||
    bloomSize > u32(A.BLOOM_SIZE_MAX) || (bloomSize & 7) != 0) return failAt(cmd, A.EINVAL, A.R_MAKE_BLOOM_SIZE, 0);
  const nHashLo = ld32(cmd + A.MAKE_BLOOM_N_HASH), nHashHi = ld32(cmd + A.MAKE_BLOOM_N_HASH + 4);
  if (nHashLo == 0 && nHashHi == 0) return failAt(cmd, A.EINVAL, A.R_MAKE_BLOOM_N_HASH, 0);
  const nThreads = ld32(cmd + A.MAKE_N_THREADS);
  const nConns = ld32(cmd + A.MAKE_N_CONNS);
  const poolMax = ld32(cmd + A.MAKE_POOL_MAX);
  const nNames = ld32(cmd + A.MAKE_N_NAMES);
  const nMatches = ld32(cmd + A.MAKE_N_MATCHES);
  const nReplies = ld32(cmd + A.MAKE_N_REPLIES);
  // a longer command carries the quota limits (0: kdbus's default)
  let maxQueued: u32 = sizeLo >= u32(A.MAKE_CMD_SIZE_LIMITS) ? ld32(cmd + A.MAKE_MAX_QUEUED) : 0;
  if (maxQueued == 0) maxQueued = A.MAX_QUEUED_PER_USER;
  if (maxQueued > u32(A.MAX_QUEUED_LIMIT)) return failAt(cmd, A.EINVAL, A.R_MAKE_MAX_QUEUED, A.MAX_QUEUED_LIMIT);
  if (nThreads < 1 || nThreads > u32(A.MAX_THREADS)) return failAt(cmd, A.EINVAL, A.R_MAKE_N_THREADS, 0);
  if (nConns < 1 || nConns > u32(A.MAX_CONNS)) return failAt(cmd, A.EINVAL, A.R_MAKE_N_CONNS, 0);
  if (poolMax < u32(A.POOL_SIZE_ALIGN) || poolMax > u32(A.MAX_POOL) || (poolMax & (A.POOL_SIZE_ALIGN - 1)) != 0) return failAt(cmd, A.EINVAL, A.R_MAKE_POOL_MAX, 0);
  if (nNames > u32(A.MAX_CONNS) * 4) return failAt(cmd, A.EINVAL, A.R_MAKE_N_NAMES, 0);
  if (nMatches > u32(A.MAX_CONNS) * 4) return failAt(cmd, A.EINVAL, A.R_MAKE_N_MATCHES, 0);
  if (nReplies > u32(A.MAX_CONNS) * 4) return failAt(cmd, A.EINVAL, A.R_MAKE_N_REPLIES, 0);
  const end = busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, false);
  if (end == 0) return failAt(cmd, A.ENOMEM, A.R_MAKE_TOO_LARGE, 0);
  if (!inMemory(0, end)) return failAt(cmd, A.ENOMEM, A.R_MAKE_MEMORY, end);

  // the command may lie in a thread's command area, which the fill below clears: every
  // field of it was read above
  fill(H, 0, A.BUS_SIZE);
  busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, true);
  // tables start zeroed (free, the id table empty); pools and their publish maps are laid
  // out by HELLO
  fill(H + A.BUS_SIZE, 0, ld32(H + A.BUS_POOLS) - (H + A.BUS_SIZE));
  st32(ld32(H + A.BUS_NAMES) + A.NAMES_MASK, idBuckets(nNames) - 1); // the name table's buckets
  st32(H + A.BUS_VERSION_OFF, A.BUS_VERSION);
  st32(H + A.BUS_N_THREADS, nThreads);
  st32(H + A.BUS_N_CONNS, nConns);
  st32(H + A.BUS_POOL_MAX, poolMax);
  st32(H + A.BUS_N_NAMES, nNames);
  st32(H + A.BUS_N_MATCHES, nMatches);
  st32(H + A.BUS_N_REPLIES, nReplies);
  st32(H + A.BUS_MAX_QUEUED, maxQueued); // fixed from here on: read without a lock, never journaled
  st64(H + A.BUS_NEXT_ID, 1, 0);
  st64(H + A.BUS_BLOOM_SIZE, bloomSize, 0);
  st64(H + A.BUS_BLOOM_N_HASH, nHashLo, nHashHi);
  st64(H + A.BUS_FLAGS, flags, 0);
  if (random_get(H + A.BUS_ID128, 16) != 0) return failAt(cmd, A.EINVAL, A.R_MAKE_RANDOM, 0);
  // the creator's snapshot (BUS_CREATOR_INFO): nobody else is on the bus yet; thread slot
  // 0's argv area (zeroed, free) holds args_get's pointers
  metaCollectProcess(ld32(H + A.BUS_METAS) + nConns * A.META_SIZE, A.ATTACH_PROCESS, ld32(H + A.BUS_THREADS) + A.THREAD_META_ARGV);
  for (let i: u32 = 0; i < 16; i += 4) st32(cmd + A.MAKE_ID128 + i, ld32(H + A.BUS_ID128 + i));
  st64(cmd + A.MAKE_LAYOUT_END, end, 0);
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  // the magic last: a bus is valid once it is complete
  st32(H + A.BUS_MAGIC_OFF, A.BUS_MAGIC);
  return 0;
}

/** bus.shutdown() was called: HELLO, SEND and RECV (not RECV_DROP) fail with ESHUTDOWN. */
export function busShutdown(): bool {
  return aLoad(A.BUS_BASE + A.BUS_SHUTDOWN) != 0;
}
