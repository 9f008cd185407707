// make: BUS_MAKE, a fresh bus written at BUS_BASE from validated limits and bloom parameters
// (the layout is bus.ts's).
import * as A from "../js/shared/abi";
import { ld32, st32, st64, fill, inMemory, THREAD } from "./mem";
import { random_get } from "./host";
import { fail, failArg, failAt } from "./reason";
import { metaCollectProcess } from "./meta";
import { busLayout, idBuckets } from "./bus";

const H: u32 = A.BUS_BASE;

/** [cmd, cmd + n) lies in thread slot 0's command area, where BUS_MAKE's command goes (A.MAKE_CMD_AREA). */
function inMakeArea(cmd: u32, n: u32): bool {
  return cmd >= u32(A.MAKE_CMD_AREA) && n <= u32(A.CMD_MAX) && cmd - u32(A.MAKE_CMD_AREA) <= u32(A.CMD_MAX) - n;
}

/** BUS_MAKE: validate the limits and bloom parameters, write a fresh bus at BUS_BASE. */
export function busMake(cmd: u32): i32 {
  // not by a thread joined to a bus: its own bus would be overwritten under its threads (its
  // reason words in its own slot, fail()'s; nothing else written)
  if (THREAD != 0) return fail(A.EBUSY, A.R_MAKE_JOINED);
  // the command must lie in the memory: -EFAULT, nothing written (no reason words either: run
  // before any thread joined, fail() has no slot to write them in). Before stop 25 an address
  // past the end trapped on wasm and read as zeros on the twin (EINVAL, ENOMEM, EMSGSIZE): an
  // outside audit.
  if (!inMemory(cmd, 8)) return fail(A.EFAULT, A.R_CMD_OUTSIDE_MEMORY);
  // and in thread slot 0's command area (A.MAKE_CMD_AREA): nothing written elsewhere
  if (!inMakeArea(cmd, 8)) return failArg(A.EFAULT, A.R_MAKE_CMD_PLACE, A.MAKE_CMD_AREA);
  // 8-aligned, as every command's u64 fields are (a command 1, 2 or 4 bytes in was made on wasm,
  // whose loads need no alignment, and read shifted words on the twin, whose loads are whole
  // words: the engines differed; stop 66, an outside audit)
  if ((cmd & 7) != 0) return failArg(A.EFAULT, A.R_MAKE_CMD_PLACE, A.MAKE_CMD_AREA);
  const sizeLo = ld32(cmd + A.CMD_SIZE), sizeHi = ld32(cmd + A.CMD_SIZE + 4);
  if (sizeHi != 0 || sizeLo > u32(A.CMD_MAX)) return failAt(A.EMSGSIZE, A.R_CMD_TOO_LARGE, A.CMD_MAX);
  if (sizeLo < u32(A.MAKE_CMD_SIZE)) return failAt(A.EINVAL, A.R_CMD_TOO_SMALL, A.MAKE_CMD_SIZE);
  // (slot 0's reason words, as for the checks just above and below: they were left unwritten
  // here before stop 66, where API.md says they are written)
  if (!inMemory(cmd, sizeLo)) return failAt(A.EFAULT, A.R_CMD_OUTSIDE_MEMORY, 0);
  if (!inMakeArea(cmd, sizeLo)) return failAt(A.EFAULT, A.R_MAKE_CMD_PLACE, A.MAKE_CMD_AREA);
  // kdbus make flags ACCESS_GROUP | ACCESS_WORLD are accepted and have no effect here
  const flags = ld32(cmd + A.CMD_FLAGS);
  if (ld32(cmd + A.CMD_FLAGS + 4) != 0 || (flags & ~3) != 0) return failAt(A.EINVAL, A.R_CMD_FLAGS, 3);
  const bloomSize = ld32(cmd + A.MAKE_BLOOM_SIZE);
  if (ld32(cmd + A.MAKE_BLOOM_SIZE + 4) != 0 || bloomSize < u32(A.BLOOM_SIZE_MIN) ||
    bloomSize > u32(A.BLOOM_SIZE_MAX) || (bloomSize & 7) != 0) return failAt(A.EINVAL, A.R_MAKE_BLOOM_SIZE, 0);
  const nHashLo = ld32(cmd + A.MAKE_BLOOM_N_HASH), nHashHi = ld32(cmd + A.MAKE_BLOOM_N_HASH + 4);
  if (nHashLo == 0 && nHashHi == 0) return failAt(A.EINVAL, A.R_MAKE_BLOOM_N_HASH, 0);
  const nThreads = ld32(cmd + A.MAKE_N_THREADS);
  const nConns = ld32(cmd + A.MAKE_N_CONNS);
  const poolMax = ld32(cmd + A.MAKE_POOL_MAX);
  const nNames = ld32(cmd + A.MAKE_N_NAMES);
  const nMatches = ld32(cmd + A.MAKE_N_MATCHES);
  const nReplies = ld32(cmd + A.MAKE_N_REPLIES);
  // a longer command carries the quota limits (0: kdbus's default)
  let maxQueued: u32 = sizeLo >= u32(A.MAKE_CMD_SIZE_LIMITS) ? ld32(cmd + A.MAKE_MAX_QUEUED) : 0;
  if (maxQueued == 0) maxQueued = A.MAX_QUEUED_PER_USER;
  if (maxQueued > u32(A.MAX_QUEUED_LIMIT)) return failAt(A.EINVAL, A.R_MAKE_MAX_QUEUED, A.MAX_QUEUED_LIMIT);
  if (nThreads < 1 || nThreads > u32(A.MAX_THREADS)) return failAt(A.EINVAL, A.R_MAKE_N_THREADS, 0);
  if (nConns < 1 || nConns > u32(A.MAX_CONNS)) return failAt(A.EINVAL, A.R_MAKE_N_CONNS, 0);
  if (poolMax < u32(A.POOL_SIZE_ALIGN) || poolMax > u32(A.MAX_POOL) || (poolMax & (A.POOL_SIZE_ALIGN - 1)) != 0) return failAt(A.EINVAL, A.R_MAKE_POOL_MAX, 0);
  if (nNames > u32(A.MAX_CONNS) * 4) return failAt(A.EINVAL, A.R_MAKE_N_NAMES, 0);
  if (nMatches > u32(A.MAX_CONNS) * 4) return failAt(A.EINVAL, A.R_MAKE_N_MATCHES, 0);
  if (nReplies > u32(A.MAX_CONNS) * 4) return failAt(A.EINVAL, A.R_MAKE_N_REPLIES, 0);
  const end = busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, false);
  if (end == 0) return failAt(A.ENOMEM, A.R_MAKE_TOO_LARGE, 0);
  if (!inMemory(0, end)) return failAt(A.ENOMEM, A.R_MAKE_MEMORY, end);

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
  if (random_get(H + A.BUS_ID128, 16) != 0) return failAt(A.EINVAL, A.R_MAKE_RANDOM, 0);
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
