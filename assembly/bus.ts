// bus: BUS_MAKE, the layout computed from the bus limits, header accessors.
// Mirrors js/twin/bus.ts.
import * as A from "../js/shared/abi";
import { ld32, st32, st64, fill, memSize } from "./mem";
import { random_get } from "./host";

const H: u32 = A.BUS_BASE;
/** 4 GiB: the module's declared maximum */
const MEMORY_MAX: u64 = <u64>A.MAX_MEMORY_PAGES * A.WASM_PAGE;

export function busThreads(): u32 { return ld32(H + A.BUS_THREADS); }
export function busConns(): u32 { return ld32(H + A.BUS_CONNS); }
export function busNConns(): u32 { return ld32(H + A.BUS_N_CONNS); }
export function busNThreads(): u32 { return ld32(H + A.BUS_N_THREADS); }
export function busPoolMax(): u32 { return ld32(H + A.BUS_POOL_MAX); }
export function busLayoutEnd(): u32 { return ld32(H + A.BUS_LAYOUT_END); }
export function busBloomSize(): u32 { return ld32(H + A.BUS_BLOOM_SIZE); }

/**
 * Lay the tables out after the header and return the end of bus state (0 when it does not
 * fit in 4 GiB, i.e. in a u32). With `write`, store the table addresses in the header.
 */
export function busLayout(nThreads: u32, nConns: u32, poolMax: u32, nNames: u32,
  nMatches: u32, nReplies: u32, bloomSize: u32, write: bool): u64 {
  // u64 throughout, for the twin's exact doubles. Only the two products of two limits could
  // pass 2^64; either one above 4 GiB already means "does not fit".
  const matchSize: u64 = A.MATCH_HDR + 2 * <u64>bloomSize;
  if (nMatches != 0 && matchSize > MEMORY_MAX / nMatches) return 0;
  if (nConns != 0 && poolMax > MEMORY_MAX / nConns) return 0;
  const threads: u64 = H + A.BUS_SIZE;
  const conns = threads + <u64>nThreads * A.THREAD_SIZE;
  const names = conns + <u64>nConns * A.CONN_SIZE;
  const matches = names + <u64>nNames * A.NAME_SIZE;
  const replies = matches + <u64>nMatches * matchSize;
  const metas = replies + <u64>nReplies * A.REPLY_SIZE;
  const pools = (metas + <u64>nConns * A.META_SIZE + (A.POOL_ALIGN - 1)) / A.POOL_ALIGN * A.POOL_ALIGN;
  const end = pools + <u64>nConns * poolMax;
  // layout_end is a u32 field: exactly 4 GiB does not fit either
  if (end >= MEMORY_MAX) return 0;
  if (write) {
    st32(H + A.BUS_MATCH_SIZE, <u32>matchSize);
    st32(H + A.BUS_THREADS, <u32>threads);
    st32(H + A.BUS_CONNS, <u32>conns);
    st32(H + A.BUS_NAMES, <u32>names);
    st32(H + A.BUS_MATCHES, <u32>matches);
    st32(H + A.BUS_REPLIES, <u32>replies);
    st32(H + A.BUS_METAS, <u32>metas);
    st32(H + A.BUS_POOLS, <u32>pools);
    st32(H + A.BUS_LAYOUT_END, <u32>end);
  }
  return end;
}

/** BUS_MAKE: validate the limits and bloom parameters, write a fresh bus at BUS_BASE. */
export function busMake(cmd: u32): i32 {
  const sizeLo = ld32(cmd + A.CMD_SIZE), sizeHi = ld32(cmd + A.CMD_SIZE + 4);
  if (sizeHi != 0 || sizeLo > <u32>A.CMD_MAX) return -A.EMSGSIZE;
  if (sizeLo < <u32>A.MAKE_CMD_SIZE) return -A.EINVAL;
  // kdbus make flags ACCESS_GROUP | ACCESS_WORLD are accepted and have no effect here
  const flags = ld32(cmd + A.CMD_FLAGS);
  if (ld32(cmd + A.CMD_FLAGS + 4) != 0 || (flags & ~3) != 0) return -A.EINVAL;
  const bloomSize = ld32(cmd + A.MAKE_BLOOM_SIZE);
  if (ld32(cmd + A.MAKE_BLOOM_SIZE + 4) != 0 || bloomSize < <u32>A.BLOOM_SIZE_MIN ||
    bloomSize > <u32>A.BLOOM_SIZE_MAX || (bloomSize & 7) != 0) return -A.EINVAL;
  const nHashLo = ld32(cmd + A.MAKE_BLOOM_N_HASH), nHashHi = ld32(cmd + A.MAKE_BLOOM_N_HASH + 4);
  if (nHashLo == 0 && nHashHi == 0) return -A.EINVAL;
  const nThreads = ld32(cmd + A.MAKE_N_THREADS);
  const nConns = ld32(cmd + A.MAKE_N_CONNS);
  const poolMax = ld32(cmd + A.MAKE_POOL_MAX);
  const nNames = ld32(cmd + A.MAKE_N_NAMES);
  const nMatches = ld32(cmd + A.MAKE_N_MATCHES);
  const nReplies = ld32(cmd + A.MAKE_N_REPLIES);
  if (nThreads < 1 || nThreads > <u32>A.MAX_THREADS || nConns < 1 || nConns > <u32>A.MAX_CONNS) return -A.EINVAL;
  if (poolMax < <u32>A.POOL_SIZE_ALIGN || poolMax > <u32>A.MAX_POOL || (poolMax & (A.POOL_SIZE_ALIGN - 1)) != 0) return -A.EINVAL;
  if (nNames > <u32>A.MAX_CONNS * 4 || nMatches > <u32>A.MAX_CONNS * 4 || nReplies > <u32>A.MAX_CONNS * 4) return -A.EINVAL;
  const end = busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, false);
  if (end == 0 || end > memSize()) return -A.ENOMEM;

  // the command may lie in a thread's command area, which the fill below clears: every
  // field of it was read above
  fill(H, 0, A.BUS_SIZE);
  busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, true);
  // tables start zeroed (free); pools are laid out by HELLO
  fill(H + A.BUS_SIZE, 0, ld32(H + A.BUS_POOLS) - (H + A.BUS_SIZE));
  st32(H + A.BUS_VERSION_OFF, A.BUS_VERSION);
  st32(H + A.BUS_N_THREADS, nThreads);
  st32(H + A.BUS_N_CONNS, nConns);
  st32(H + A.BUS_POOL_MAX, poolMax);
  st32(H + A.BUS_N_NAMES, nNames);
  st32(H + A.BUS_N_MATCHES, nMatches);
  st32(H + A.BUS_N_REPLIES, nReplies);
  st64(H + A.BUS_NEXT_ID, 1, 0);
  st64(H + A.BUS_BLOOM_SIZE, bloomSize, 0);
  st64(H + A.BUS_BLOOM_N_HASH, nHashLo, nHashHi);
  st64(H + A.BUS_FLAGS, flags, 0);
  if (random_get(H + A.BUS_ID128, 16) != 0) return -A.EINVAL;
  for (let i: u32 = 0; i < 16; i += 4) st32(cmd + A.MAKE_ID128 + i, ld32(H + A.BUS_ID128 + i));
  st64(cmd + A.MAKE_LAYOUT_END, <u32>end, 0);
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  // the magic last: a bus is valid once it is complete
  st32(H + A.BUS_MAGIC_OFF, A.BUS_MAGIC);
  return 0;
}
