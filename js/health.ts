// health: read-only views of a bus for diagnostics: statistics of one connection and of the
// whole bus (threads, locks, quotas), and a consistency check of every invariant the bus
// state keeps. They read the shared layout directly, without taking a lock: on a bus that
// other threads are using they are a snapshot that may be slightly torn (every walk is
// bounded, so a torn read gives odd numbers, never a hang or a throw). Not per-message code:
// they allocate freely.
import * as A from './shared/abi.ts';
import { busLayout, type Engine } from './engine.ts';
import { BusError } from './errno.ts';
import { options, optBoolean, kindOf, isRevoked } from './args.ts';

/** One connection's counters (conn.stats(), and each entry of bus.stats().connections). */
export interface ConnStats {
  slot: number;
  /** the 64-bit id as a number */
  id: number;
  /** the thread slot that owns it */
  owner: number;
  /** messages in the receive queue, and the most there were at once since HELLO */
  queued: number;
  peakQueued: number;
  /** messages the bus dropped for it that the next recv() will report */
  dropped: number;
  /** send reservations into its pool in flight (its own staging slices, below, included) */
  reserved: number;
  /**
   * its own broadcasts' staging slices it holds: one set aside while it waits for a subscriber's
   * lock (emitAsync), and those whose free found its lock taken, freed by its next RECV, FREE or
   * staging (docs/API.md, emitAsync)
   */
  staging: number;
  poolSize: number;
  /** pool bytes in blocks (queued, published, reserved, with their headers), and the peak */
  poolUsed: number;
  peakPoolUsed: number;
  /** bytes in free blocks, headers included (poolUsed + poolFree = poolSize on a quiet bus) */
  poolFree: number;
  /** the largest free block, its header included: poolSize on a fresh pool (not the largest message one user may send: its quota share bounds it first) */
  largestFree: number;
  freeBlocks: number;
  /** slices handed to the owner by RECV and not yet freed */
  published: number;
  /** bytes charged to senders' quotas (queued messages), per sending user */
  accounted: number;
  quota: { uid: number; bytes: number; msgs: number }[];
  /** tickets taken in its line and not yet served (js/host/turns.ts): one per sending connection and destination whose sends wait for room (its first waiting send's), and each place one that gave up left, until its passer passes it */
  sendLine: number;
  /** well-known names: those it owns (primary owner), and those it waits for in a name's queue (an activator's records count as queued) */
  names: { owned: number; queued: number };
  /** its match entries (addMatch / MATCH_ADD) */
  matches: number;
  /** calls it made still pending (their reply, REPLY_TIMEOUT or REPLY_DEAD not yet queued), and calls made to it that it has not answered */
  calls: { made: number; toAnswer: number };
  /**
   * waits parked on its words, as counted for the wakers (js/host/sleepers.ts): on its wake
   * word (receives, calls, iterators, listeners of any thread), its space word (sends waiting
   * for room in it) and its line's turn word; a wait a notify woke is off the count at once
   */
  sleepers: { wake: number; space: number; turn: number };
}

export interface ThreadStats {
  slot: number;
  state: 'live' | 'recovering' | 'joining' | 'leaving';
  token: number;
  /** the host is inside a send's copy window (or joining) */
  busy: boolean;
  /** a SEND reservation waits for send_commit / send_cancel */
  sendPending: boolean;
  /** token of the thread recovering it (0: none) */
  recoverer: number;
  /** connections it owns */
  connections: number;
  /** it joined holding a liveness lock (its word of the liveness table: BUS_LIVENESS), which bus.watchLock watches */
  liveness: boolean;
  /** its OS thread id (Linux tid), as it wrote it when it joined (LIVENESS_OS_THREAD: what recovery asks /proc about); 0: not known */
  osThread: number;
  /** its node:worker_threads threadId as it wrote it when it joined (LIVENESS_WORKER: what bus.watch compares with the exiting worker's; 0: a main thread); -1: none or not known (a Deno web Worker, a browser) */
  workerThread: number;
}

export interface LockStats {
  /** 'bus' or 'conn <slot>' */
  lock: 'bus' | `conn ${number}`;
  /** thread slot of the holder */
  holder: number;
  /** a thread sleeps on the lock word */
  waiters: boolean;
}

export interface BusStats {
  /** bus.shutdown() was called */
  shutdown: boolean;
  /** turns of senders waiting for room given away because their holder owed a try for TURN_MS (a dead or stalled thread: js/host/turns.ts) */
  turnSkips: number;
  /** messages sent on the bus (the seqnum counter, low 53 bits) */
  seqnum: number;
  threads: { slots: number; used: number; list: ThreadStats[] };
  connectionSlots: number;
  connections: ConnStats[];
  /** locks held at the moment of the snapshot (normally none, or one held for microseconds) */
  locks: LockStats[];
  /** quota use summed over every receiver, per sending uid */
  quota: { uid: number; bytes: number; msgs: number; receivers: number }[];
  /** the name registry: its entries (limits.names, shared by names and owner records), names held, owner records (primary and queued) */
  names: { slots: number; names: number; owners: number };
  /** the match table: its entries (limits.matches), and those in use by open connections */
  matches: { slots: number; live: number };
  /** the reply table: its records (limits.replies), calls pending (records in use), and of those, calls whose REPLY_DEAD is owed (their callee closed or dropped them) */
  calls: { slots: number; pending: number; owed: number };
}

const H = A.BUS_BASE;

/**
 * The bus header against the layout its own limits give: the limits in range, the layout end
 * and every table address where the layout puts them (each table after the one before, the
 * hash tables' bucket counts within their tables), each connection's pool in its region.
 * Empty when they agree. The walks of check() and stats() trust these words; a damaged one
 * made check() walk a billion buckets (out of heap) or stats() read outside the memory
 * (RangeError) before stop 41 (an outside audit): they report it instead.
 */
export function layoutErrors(e: Engine): string[] {
  engineArg('layoutErrors', e); // (since stop 48: a TypeError from reading it before, an outside audit)
  const ld = (p: number) => e.u32[p >>> 2]!;
  const lim = (at: number) => ld(H + at);
  const [nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloom] =
    [A.BUS_N_THREADS, A.BUS_N_CONNS, A.BUS_POOL_MAX, A.BUS_N_NAMES, A.BUS_N_MATCHES, A.BUS_N_REPLIES, A.BUS_BLOOM_SIZE].map(lim) as [number, number, number, number, number, number, number];
  if (nThreads < 1 || nThreads > A.MAX_THREADS || nConns < 1 || nConns > A.MAX_CONNS || poolMax < A.POOL_SIZE_ALIGN || poolMax > A.MAX_POOL || poolMax % A.POOL_SIZE_ALIGN !== 0
    || nNames > 4 * A.MAX_CONNS || nMatches > 4 * A.MAX_CONNS || nReplies > 4 * A.MAX_CONNS || bloom < A.BLOOM_SIZE_MIN || bloom > A.BLOOM_SIZE_MAX || bloom % 8 !== 0) {
    return [`bus header: limits out of range (threads ${nThreads}, connections ${nConns}, poolMax ${poolMax}, names ${nNames}, matches ${nMatches}, replies ${nReplies}, bloom ${bloom})`];
  }
  const end = busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloom);
  if (end === 0 || end > e.u8.length || lim(A.BUS_LAYOUT_END) !== end) return [`bus header: layout end ${lim(A.BUS_LAYOUT_END)}, where its limits lay out ${end} bytes (the memory has ${e.u8.length})`];
  const out: string[] = [];
  const at = (name: string, word: number, want: number) => { if (lim(word) !== want) out.push(`bus header: the ${name} table at ${lim(word)}, not ${want}`); };
  at('thread', A.BUS_THREADS, H + A.BUS_SIZE);
  at('connection', A.BUS_CONNS, H + A.BUS_SIZE + nThreads * A.THREAD_SIZE);
  at('id', A.BUS_IDS, H + A.BUS_SIZE + nThreads * A.THREAD_SIZE + nConns * A.CONN_SIZE);
  // the rest in the memory map's order, each inside the layout and after the one before
  let prev = lim(A.BUS_IDS);
  for (const [name, word] of [['name', A.BUS_NAMES], ['match', A.BUS_MATCHES], ['reply', A.BUS_REPLIES], ['metadata', A.BUS_METAS], ['left', A.BUS_LEFT], ['liveness', A.BUS_LIVENESS], ['pool', A.BUS_POOLS], ['publish map', A.BUS_PUBMAPS]] as const) {
    const a = lim(word);
    if (a < prev || a > end || (a & 3) !== 0) out.push(`bus header: the ${name} table at ${a}, outside ${prev} … ${end}`);
    else prev = a;
  }
  if (out.length > 0) return out;
  // the hash tables' buckets (a power of two) fit in their tables
  const idMask = lim(A.BUS_ID_MASK), nameMask = ld(lim(A.BUS_NAMES) + A.NAMES_MASK);
  if (((idMask + 1) & idMask) !== 0 || (idMask + 1 + nConns) * 4 > lim(A.BUS_NAMES) - lim(A.BUS_IDS)) out.push(`bus header: id mask ${idMask} does not fit the id table`);
  if (((nameMask + 1) & nameMask) !== 0 || A.NAMES_HDR + (nameMask + 1) * 4 + nNames * A.NAME_SIZE > lim(A.BUS_MATCHES) - lim(A.BUS_NAMES)) out.push(`the name table's mask ${nameMask} does not fit the table`);
  for (let s = 0; s < nConns; s++) {
    const c = lim(A.BUS_CONNS) + s * A.CONN_SIZE;
    if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) continue;
    const pool = ld(c + A.CONN_POOL), size = ld(c + A.CONN_POOL_SIZE);
    if (pool !== lim(A.BUS_POOLS) + s * poolMax || size === 0 || size > poolMax || size % A.POOL_SIZE_ALIGN !== 0) out.push(`conn ${s}: pool at ${pool} of ${size} bytes, outside its region (${lim(A.BUS_POOLS) + s * poolMax}, at most ${poolMax} bytes)`);
  }
  return out;
}

/** layoutErrors as a BusError EBADMSG of `op`: stats cannot be read from a damaged bus */
function layoutOk(e: Engine, op: string): void {
  const bad = layoutErrors(e);
  if (bad.length > 0) throw new BusError(A.EBADMSG, op, `the bus memory is damaged (${bad[0]}${bad.length > 1 ? `, and ${bad.length - 1} more` : ''}): bus.check() lists what`);
}

/** The exported functions take an Engine (bus.engine): anything else is EINVAL, not a TypeError. */
function engineArg(op: string, e: unknown): Engine {
  const x = e as Engine | null;
  // (a revoked Proxy first, as every argument check: reading u32 threw a TypeError before stop 48)
  if (isRevoked(x) || x === null || typeof x !== 'object' || !(x.u32 instanceof Uint32Array) || typeof x.connAddr !== 'function') {
    throw new BusError(A.EINVAL, op, `engine must be a bus's Engine (bus.engine), got ${kindOf(x)}`);
  }
  return x;
}

/**
 * Statistics of connection slot `slot`, an integer from 0 to the bus's connection slots − 1
 * (else EINVAL: before stop 34 any bad slot read as null, "no open connection there", an
 * outside audit); null when that slot holds no open connection.
 */
export function connStats(e: Engine, slot: number): ConnStats | null {
  engineArg('connStats', e);
  const u32 = e.u32;
  const ld = (p: number) => Atomics.load(u32, p >>> 2);
  const bad = (slots: number) => new BusError(A.EINVAL, 'connStats', `slot must be an integer from 0 to ${slots - 1} (the bus's connection slots), got ${typeof slot === 'number' ? String(slot) : kindOf(slot)}`);
  if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0) throw bad(ld(H + A.BUS_N_CONNS));
  // the header first: a damaged connection count is EBADMSG, not a range it makes up (an
  // outside audit, stop 55: a count of 0 said "slot must be an integer from 0 to -1")
  layoutOk(e, 'connStats');
  if (slot >= ld(H + A.BUS_N_CONNS)) throw bad(ld(H + A.BUS_N_CONNS));
  return slotStats(e, slot);
}

/** connStats of a slot in range, on a bus whose layout was checked (busStats: once for all its slots, with its calls counted in one walk: `calls`) */
function slotStats(e: Engine, slot: number, calls?: ConnStats['calls']): ConnStats | null {
  const u32 = e.u32;
  const ld = (p: number) => Atomics.load(u32, p >>> 2);
  const c = e.connAddr(slot);
  if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) return null;
  const pool = ld(c + A.CONN_POOL), size = ld(c + A.CONN_POOL_SIZE);
  let poolFree = 0, largest = 0, freeBlocks = 0;
  const maxBlocks = size / A.BLOCK_HDR;
  for (let f = ld(c + A.CONN_FREE); f !== 0 && freeBlocks < maxBlocks && f >= pool && f < pool + size; f = ld(f + A.BLOCK_NEXT)) {
    const bs = ld(f + A.BLOCK_SIZE);
    poolFree += bs;
    if (bs > largest) largest = bs;
    freeBlocks++;
  }
  let published = 0;
  for (let p = ld(c + A.CONN_PUB); p !== 0 && published < maxBlocks && p >= pool && p < pool + size; p = ld(p + A.BLOCK_LINK)) published++;
  const quota: ConnStats['quota'] = [];
  for (let i = 0; i < A.QUOTA_USERS; i++) {
    const q = c + A.CONN_QUOTA + i * A.QUOTA_SIZE;
    if (ld(q + A.QUOTA_USED) !== 0) quota.push({ uid: ld(q + A.QUOTA_UID), bytes: ld(q + A.QUOTA_BYTES), msgs: ld(q + A.QUOTA_MSGS) });
  }
  return {
    slot, id: ld(c + A.CONN_ID + 4) * 2 ** 32 + ld(c + A.CONN_ID), owner: ld(c + A.CONN_OWNER),
    queued: ld(c + A.CONN_N_QUEUED), peakQueued: ld(c + A.CONN_PEAK_QUEUED),
    // (what the next RECV reports: CONN_DROPPED and CONN_KMSG_LOST, the losses to a contended
    // lock, which the figure left out before stop 65: an outside reading)
    dropped: (ld(c + A.CONN_DROPPED) + ld(c + A.CONN_KMSG_LOST)) >>> 0,
    reserved: ld(c + A.CONN_N_RESV), staging: stagingOf(u32, c, pool, size, maxBlocks), poolSize: size, poolUsed: ld(c + A.CONN_USED), peakPoolUsed: ld(c + A.CONN_PEAK_USED),
    poolFree, largestFree: largest, freeBlocks, published, accounted: ld(c + A.CONN_ACCOUNTED), quota,
    sendLine: (ld(c + A.CONN_TURN_NEXT) - ld(c + A.CONN_TURN_SERVING)) | 0,
    names: connNames(u32, c), matches: ld(c + A.CONN_N_MATCHES), calls: calls ?? connCalls(u32, slot, ld(c + A.CONN_GEN)),
    sleepers: { wake: ld(c + A.CONN_SLEEPERS) | 0, space: ld(c + A.CONN_SPACE_SLEEPERS) | 0, turn: ld(c + A.CONN_TURN_SLEEPERS) | 0 },
  };
}

/**
 * Connection `c`'s own staging slices (CONN_STAGED, and the CONN_UNFREED list: assembly/aside.ts),
 * a bounded walk; -1 when one is not a reserved block inside its pool (`pool`, `size`).
 */
function stagingOf(u32: Uint32Array, c: number, pool: number, size: number, maxBlocks: number): number {
  const ld = (a: number) => u32[a >>> 2]!;
  const ok = (b: number) => b >= pool && b < pool + size && (b - pool) % 8 === 0 && (ld(b + A.BLOCK_STATE) & A.BLOCK_RESERVED) !== 0;
  let n = 0;
  const staged = ld(c + A.CONN_STAGED);
  if (staged !== 0) {
    if (!ok(staged)) return -1;
    n++;
  }
  for (let b = ld(c + A.CONN_UNFREED); b !== 0; b = ld(b + A.BLOCK_LINK)) {
    if (!ok(b) || n > maxBlocks) return -1;
    n++;
  }
  return n;
}

/** The names of the connection at `c`: primary owner records, and the others (bounded walk of its owner list). */
function connNames(u32: Uint32Array, c: number): ConnStats['names'] {
  const ld = (p: number) => Atomics.load(u32, p >>> 2);
  const t = ld(H + A.BUS_NAMES), n = ld(H + A.BUS_N_NAMES);
  const entry = (i1: number) => t + A.NAMES_HDR + (ld(t + A.NAMES_MASK) + 1) * 4 + (i1 - 1) * A.NAME_SIZE;
  let owned = 0, queued = 0;
  for (let o = ld(c + A.CONN_NAMES), k = 0; o !== 0 && o <= n && k < A.MAX_NAMES_PER_CONN; o = ld(entry(o) + A.NAME_O_CNEXT), k++) {
    const name = ld(entry(o) + A.NAME_O_NAME);
    // (an activator's record counts as queued, also while it is the name's only record)
    if (name !== 0 && name <= n && ld(entry(name) + A.NAME_HEAD) === o && (ld(entry(o) + A.NAME_O_FLAGS) & A.NAME_ACTIVATOR) === 0) owned++;
    else queued++;
  }
  return { owned, queued };
}

/** Reply records naming connection slot `slot` (generation `gen`) as the caller, and as the replier of a PENDING call. */
function connCalls(u32: Uint32Array, slot: number, gen: number): ConnStats['calls'] {
  let made = 0, toAnswer = 0;
  eachCall(u32, (cs, cg, rs, rg) => {
    if (cs === slot && cg === gen) made++;
    if (rs === slot && rg === gen) toAnswer++;
  });
  return { made, toAnswer };
}

/**
 * Every connection slot's calls made and to answer (ConnStats' calls), in one walk of the reply
 * table: busStats walked it once per open connection before stop 55 (O(connections × replies):
 * 2.6 s at 1024 connections and 262,140 reply records, an outside audit).
 */
function callsBySlot(e: Engine, nConns: number): { made: Uint32Array; toAnswer: Uint32Array } {
  const made = new Uint32Array(nConns), toAnswer = new Uint32Array(nConns);
  const live = (slot: number, gen: number) => slot >= 0 && slot < nConns && Atomics.load(e.u32, (e.connAddr(slot) + A.CONN_GEN) >>> 2) === gen;
  eachCall(e.u32, (cs, cg, rs, rg) => {
    if (live(cs, cg)) made[cs]!++;
    if (live(rs, rg)) toAnswer[rs]!++;
  });
  return { made, toAnswer };
}

/** Each reply record in use: its caller's slot and generation, and its replier's while the call waits for its reply (else slot -1). */
function eachCall(u32: Uint32Array, visit: (callerSlot: number, callerGen: number, replierSlot: number, replierGen: number) => void): void {
  const ld = (p: number) => Atomics.load(u32, p >>> 2);
  const T = ld(H + A.BUS_REPLIES), n = ld(H + A.BUS_N_REPLIES);
  for (let i = 0; T !== 0 && i < n; i++) {
    const r = T + (i + 1) * A.REPLY_SIZE, st = ld(r + A.REPLY_STATE);
    if (st === A.REPLY_FREE) continue;
    const pending = st === A.REPLY_PENDING;
    visit(ld(r + A.REPLY_CALLER_SLOT), ld(r + A.REPLY_CALLER_GEN), pending ? ld(r + A.REPLY_REPLIER_SLOT) : -1, pending ? ld(r + A.REPLY_REPLIER_GEN) : 0);
  }
}

/** Statistics of the whole bus: threads, connections, held locks, quota use per user. */
export function busStats(e: Engine): BusStats {
  engineArg('busStats', e);
  layoutOk(e, 'busStats');
  const u32 = e.u32;
  const ld = (p: number) => Atomics.load(u32, p >>> 2);
  const nThreads = ld(H + A.BUS_N_THREADS), nConns = ld(H + A.BUS_N_CONNS), threads = ld(H + A.BUS_THREADS);
  const connections: ConnStats[] = [];
  const owned = new Map<number, number>();
  const locks: LockStats[] = [];
  const lockOf = (name: LockStats['lock'], v: number) => {
    if ((v & A.LOCK_ID_MASK) !== 0) locks.push({ lock: name, holder: (v & A.LOCK_ID_MASK) - 1, waiters: (v & A.LOCK_WAITERS) !== 0 });
  };
  lockOf('bus', ld(H + A.BUS_LOCK));
  const byUid = new Map<number, { uid: number; bytes: number; msgs: number; receivers: number }>();
  const calls = callsBySlot(e, nConns);
  for (let s = 0; s < nConns; s++) {
    lockOf(`conn ${s}`, ld(e.connAddr(s) + A.CONN_LOCK));
    const st = slotStats(e, s, { made: calls.made[s]!, toAnswer: calls.toAnswer[s]! });
    if (!st) continue;
    connections.push(st);
    owned.set(st.owner, (owned.get(st.owner) ?? 0) + 1);
    for (const q of st.quota) {
      const a = byUid.get(q.uid) ?? { uid: q.uid, bytes: 0, msgs: 0, receivers: 0 };
      a.bytes += q.bytes; a.msgs += q.msgs; a.receivers++;
      byUid.set(q.uid, a);
    }
  }
  const nt = ld(H + A.BUS_NAMES), rt = ld(H + A.BUS_REPLIES);
  let liveMatches = 0, owed = 0;
  for (const st of connections) liveMatches += st.matches;
  for (let i = 0, n = ld(H + A.BUS_N_REPLIES); rt !== 0 && i < n; i++) if (ld(rt + (i + 1) * A.REPLY_SIZE + A.REPLY_STATE) === A.REPLY_DEAD) owed++;
  const list: ThreadStats[] = [];
  for (let i = 0; i < nThreads; i++) {
    const t = threads + i * A.THREAD_SIZE;
    const state = ld(t + A.THREAD_STATE), token = ld(t + A.THREAD_TOKEN);
    if (state === A.THREAD_FREE && token === 0) continue;
    list.push({
      slot: i,
      state: state === A.THREAD_LIVE ? 'live' : state === A.THREAD_RECOVERING ? 'recovering' : ld(t + A.THREAD_BUSY) ? 'joining' : 'leaving',
      token, busy: ld(t + A.THREAD_BUSY) !== 0, sendPending: ld(t + A.THREAD_OP) === A.OP_SEND || ld(t + A.THREAD_OP) === A.OP_BCAST,
      recoverer: ld(t + A.THREAD_RECOVERER), connections: owned.get(i) ?? 0,
      liveness: token !== 0 && ld(ld(H + A.BUS_LIVENESS) + i * A.LIVENESS_SIZE) === token,
      osThread: ld(ld(H + A.BUS_LIVENESS) + i * A.LIVENESS_SIZE + A.LIVENESS_OS_THREAD),
      workerThread: ((w) => (w === 0 || w === A.LIVENESS_WORKER_NONE ? -1 : w - 1))(ld(ld(H + A.BUS_LIVENESS) + i * A.LIVENESS_SIZE + A.LIVENESS_WORKER)),
    });
  }
  return {
    shutdown: ld(H + A.BUS_SHUTDOWN) !== 0,
    turnSkips: ld(H + A.BUS_TURN_SKIPS),
    seqnum: ld(H + A.BUS_SEQNUM + 4) * 2 ** 32 + ld(H + A.BUS_SEQNUM),
    threads: { slots: nThreads, used: list.length, list },
    connectionSlots: nConns, connections, locks,
    quota: [...byUid.values()],
    names: { slots: ld(H + A.BUS_N_NAMES), names: ld(nt + A.NAMES_N_LIVE), owners: ld(nt + A.NAMES_N_OWNERS) },
    matches: { slots: ld(H + A.BUS_N_MATCHES), live: liveMatches },
    calls: { slots: ld(H + A.BUS_N_REPLIES), pending: rt === 0 ? 0 : ld(rt + A.REPLY_T_LIVE), owed },
  };
}

/**
 * The consistency check of the whole bus: a list of broken invariants (empty when the bus is
 * consistent): pools tile exactly and free neighbours are merged, the free / queue /
 * published lists agree with the blocks, the publish maps with the published blocks, the id
 * table with the connection table, quotas add up, counters match, and (unless `locksFree`
 * is false) no lock is held. Meant for a quiet bus (no command running on any thread): run
 * while others send, it may report what is only a command half done.
 */
export function checkBus(e: Engine, opts?: { locksFree?: boolean | undefined }): string[] {
  engineArg('checkBus', e);
  // its options checked as bus.check() checks them (before stop 34 null threw a TypeError and a
  // misspelt or non-boolean locksFree was ignored: an outside audit)
  const locksFree = optBoolean('checkBus', 'locksFree', options<{ locksFree?: boolean }>('checkBus', opts, ['locksFree'] as const, '{ locksFree: false }').locksFree) ?? true;
  const u32 = e.u32;
  const ld = (p: number) => u32[p >>> 2];
  const out: string[] = [];
  const H = A.BUS_BASE;
  if (ld(H) !== A.BUS_MAGIC) return ['no bus magic'];
  const layout = layoutErrors(e);
  if (layout.length > 0) return layout; // (the walks below trust the header)
  const nConns = ld(H + A.BUS_N_CONNS), nThreads = ld(H + A.BUS_N_THREADS);
  // (the holder as stats().locks names it, its thread slot: the raw word, slot + 1 with
  // LOCK_WAITERS, was printed before stop 25)
  const holder = (w: number) => `by thread slot ${(w & A.LOCK_ID_MASK) - 1}${(w & A.LOCK_WAITERS) !== 0 ? ', with waiters' : ''}`;
  if (locksFree && ld(H + A.BUS_LOCK) !== 0) out.push(`bus lock held ${holder(ld(H + A.BUS_LOCK))}`);
  // reservations journaled by live threads, per receiver slot (and those kept in a connection:
  // its own staging slices, assembly/aside.ts)
  const resv = new Map<number, number>();
  for (let i = 0; i < nThreads; i++) {
    const t = ld(H + A.BUS_THREADS) + i * A.THREAD_SIZE;
    if (ld(t + A.THREAD_STATE) === A.THREAD_FREE) continue;
    if (ld(t + A.THREAD_LOG_LEN) !== 0) out.push(`thread ${i}: undo log not empty`);
    if (ld(t + A.THREAD_OP) === A.OP_SEND || ld(t + A.THREAD_OP) === A.OP_BCAST) resv.set(ld(t + A.THREAD_OP_CONN), (resv.get(ld(t + A.THREAD_OP_CONN)) ?? 0) + 1);
  }
  let live = 0;
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    const state = ld(c + A.CONN_STATE);
    const tag = `conn ${s}`;
    // (a CLOSING slot keeps them when another thread closed it while its owner lived: the owner
    // settles them, assembly/aside.ts)
    if (state === A.CONN_FREE_SLOT && (ld(c + A.CONN_STAGED) !== 0 || ld(c + A.CONN_UNFREED) !== 0)) out.push(`${tag}: free, with staging slices kept (staged ${ld(c + A.CONN_STAGED)}, unfreed ${ld(c + A.CONN_UNFREED)})`);
    const kept = state !== A.CONN_FREE_SLOT ? stagingOf(u32, c, ld(c + A.CONN_POOL), ld(c + A.CONN_POOL_SIZE), ld(c + A.CONN_POOL_SIZE) / A.BLOCK_MIN) : 0;
    if (kept < 0) out.push(`${tag}: a kept staging slice is not a reserved block of its pool`);
    else if (kept > 0) resv.set(s, (resv.get(s) ?? 0) + kept);
    if (locksFree && ld(c + A.CONN_LOCK) !== 0) out.push(`${tag}: lock held ${holder(ld(c + A.CONN_LOCK))}`);
    if (ld(c + A.CONN_N_RESV) !== (resv.get(s) ?? 0)) out.push(`${tag}: n_resv ${ld(c + A.CONN_N_RESV)} but ${resv.get(s) ?? 0} journaled`);
    if (state === A.CONN_CLOSING && ld(c + A.CONN_N_RESV) === 0) out.push(`${tag}: CLOSING without reservations`);
    // (the sleepers counts outlive a connection: HELLO keeps them; a count below 0 means a
    // wait taken off twice, by its waker and by itself: js/host/sleepers.ts)
    for (const [word, at] of [['wake', A.CONN_SLEEPERS], ['space', A.CONN_SPACE_SLEEPERS], ['turn', A.CONN_TURN_SLEEPERS]] as const) {
      if ((ld(c + at) | 0) < 0) out.push(`${tag}: ${word} word's sleepers count is ${ld(c + at) | 0}`);
    }
    if (state !== A.CONN_ACTIVE) continue;
    live++;
    const pool = ld(c + A.CONN_POOL), size = ld(c + A.CONN_POOL_SIZE), end = pool + size;
    // walk the blocks
    const blocks = new Map<number, number>(); // block -> state
    let prevSize = 0, prevFree = false, used = 0, reserved = 0;
    let b = pool;
    for (; b < end;) {
      const bs = ld(b + A.BLOCK_SIZE), st = ld(b + A.BLOCK_STATE);
      if (bs < A.BLOCK_HDR || bs % 8 !== 0 || b + bs > end) { out.push(`${tag}: bad block size ${bs} at ${b - pool}`); break; }
      if (ld(b + A.BLOCK_PREV_SIZE) !== prevSize) out.push(`${tag}: prev_size ${ld(b + A.BLOCK_PREV_SIZE)} != ${prevSize} at ${b - pool}`);
      if (st === 0 && prevFree) out.push(`${tag}: two free neighbours at ${b - pool}`);
      if (st !== 0) used += bs;
      if (st & A.BLOCK_RESERVED) reserved++;
      blocks.set(b, st);
      prevFree = st === 0;
      prevSize = bs;
      b += bs;
    }
    if (b !== end) out.push(`${tag}: blocks do not tile the pool`);
    if (ld(c + A.CONN_USED) !== used) out.push(`${tag}: used ${ld(c + A.CONN_USED)} != ${used}`);
    if (reserved !== (resv.get(s) ?? 0)) out.push(`${tag}: ${reserved} reserved blocks, ${resv.get(s) ?? 0} journaled or kept`);
    // the free list
    let nFree = 0, back = 0;
    for (let f = ld(c + A.CONN_FREE); f !== 0 && nFree <= blocks.size; f = ld(f + A.BLOCK_NEXT)) {
      if (blocks.get(f) !== 0) out.push(`${tag}: free list holds a used block`);
      if (ld(f + A.BLOCK_LINK) !== back) out.push(`${tag}: free list back link broken`);
      back = f;
      nFree++;
    }
    const free = [...blocks.values()].filter((x) => x === 0).length;
    if (nFree !== free) out.push(`${tag}: free list has ${nFree} blocks, the pool ${free}`);
    // the queue, and the quota it accounts
    let nq = 0, last = 0;
    const acct = new Map<number, [number, number]>();
    for (let q = ld(c + A.CONN_Q_HEAD); q !== 0 && nq <= blocks.size; q = ld(q + A.BLOCK_NEXT)) {
      if (!((blocks.get(q) ?? 0) & A.BLOCK_KERNEL)) out.push(`${tag}: queued block not KERNEL`);
      const k = ld(q + A.BLOCK_QUSER), a = acct.get(k) ?? [0, 0];
      acct.set(k, [a[0] + ld(q + A.BLOCK_ACCT), a[1] + 1]);
      last = q;
      nq++;
    }
    // reserved blocks are charged too
    for (const [blk, st] of blocks) {
      if (!(st & A.BLOCK_RESERVED)) continue;
      const k = ld(blk + A.BLOCK_QUSER), a = acct.get(k) ?? [0, 0];
      acct.set(k, [a[0] + ld(blk + A.BLOCK_ACCT), a[1] + 1]);
    }
    if (nq !== ld(c + A.CONN_N_QUEUED)) out.push(`${tag}: queue has ${nq}, n_queued ${ld(c + A.CONN_N_QUEUED)}`);
    if (ld(c + A.CONN_Q_TAIL) !== last) out.push(`${tag}: queue tail wrong`);
    if ([...blocks.values()].filter((x) => x & A.BLOCK_KERNEL).length !== nq) out.push(`${tag}: KERNEL blocks outside the queue`);
    let total = 0, users = 0;
    for (let i = 0; i < A.QUOTA_USERS; i++) {
      const q = c + A.CONN_QUOTA + i * A.QUOTA_SIZE;
      const a = acct.get(i) ?? [0, 0];
      if (ld(q + A.QUOTA_USED)) users++;
      if (ld(q + A.QUOTA_BYTES) !== a[0] || ld(q + A.QUOTA_MSGS) !== a[1]) out.push(`${tag}: quota ${i} is ${ld(q + A.QUOTA_BYTES)}/${ld(q + A.QUOTA_MSGS)}, messages hold ${a[0]}/${a[1]}`);
      if (!ld(q + A.QUOTA_USED) && a[1]) out.push(`${tag}: quota ${i} unused but charged`);
      total += a[0];
    }
    if (ld(c + A.CONN_ACCOUNTED) !== total) out.push(`${tag}: accounted ${ld(c + A.CONN_ACCOUNTED)} != ${total}`);
    if (ld(c + A.CONN_N_USERS) !== users) out.push(`${tag}: n_users ${ld(c + A.CONN_N_USERS)} != ${users}`);
    // the published list
    let np = 0;
    for (let p = ld(c + A.CONN_PUB); p !== 0 && np <= blocks.size; p = ld(p + A.BLOCK_LINK)) {
      if (!((blocks.get(p) ?? 0) & A.BLOCK_USER)) out.push(`${tag}: published block not USER`);
      np++;
    }
    if ([...blocks.values()].filter((x) => x & A.BLOCK_USER).length !== np) out.push(`${tag}: USER blocks outside the published list`);
    // ... linked both ways
    let fwd = 0;
    for (let p = ld(c + A.CONN_PUB), n = 0; p !== 0 && n <= blocks.size; p = ld(p + A.BLOCK_LINK), n++) {
      if (fwd !== 0 && ld(p + A.BLOCK_PUB_PREV) !== fwd) out.push(`${tag}: published list back link broken at ${p - pool}`);
      fwd = p; // (the head's back link is not kept)
    }
    // the publish map: a bit set exactly where a published block starts
    const map = ld(c + A.CONN_PUBMAP);
    if (map !== ld(H + A.BUS_PUBMAPS) + s * (ld(H + A.BUS_POOL_MAX) >>> A.PUBMAP_SHIFT)) out.push(`${tag}: publish map at ${map}`);
    for (let k = 0; k < size / 8; k++) {
      const bit = (ld(map + (k >>> 5) * 4) >>> (k & 31)) & 1;
      const want = ((blocks.get(pool + k * 8) ?? 0) & A.BLOCK_USER) ? 1 : 0;
      if (bit !== want) out.push(`${tag}: publish map bit ${k} is ${bit}, block state says ${want}`);
    }
  }
  if (ld(H + A.BUS_CONNS_LIVE) !== live) out.push(`conns_live ${ld(H + A.BUS_CONNS_LIVE)} != ${live}`);
  out.push(...checkIds(e), ...checkNames(e), ...checkReplies(e));
  return out;
}

/**
 * The id table agrees with the connection table: every active connection is in the chain of
 * its id's bucket, once; the chains hold nothing else; no two active connections share an id.
 */
export function checkIds(e: Engine): string[] {
  engineArg('checkIds', e);
  { const layout = layoutErrors(e); if (layout.length > 0) return layout; }
  const ld = (p: number) => e.u32[p >>> 2];
  const H = A.BUS_BASE, out: string[] = [];
  const nConns = ld(H + A.BUS_N_CONNS), ids = ld(H + A.BUS_IDS), mask = ld(H + A.BUS_ID_MASK);
  if (((mask + 1) & mask) !== 0 || mask + 1 < nConns || (mask > 0 && (mask + 1) / 2 >= nConns)) out.push(`id table: ${mask + 1} buckets for ${nConns} connections`);
  if (ids !== ld(H + A.BUS_CONNS) + nConns * A.CONN_SIZE) out.push(`id table at ${ids}`);
  const links = ids + (mask + 1) * 4;
  const seen = new Map<number, number>(); // slot -> bucket
  for (let bkt = 0; bkt <= mask; bkt++) {
    let n = 0;
    for (let s = ld(ids + bkt * 4); s !== 0; s = ld(links + (s - 1) * 4)) {
      if (s > nConns) { out.push(`id table: bucket ${bkt} holds slot ${s - 1} (out of range)`); break; }
      if (++n > nConns) { out.push(`id table: bucket ${bkt} has a cycle`); break; }
      const slot = s - 1, c = e.connAddr(slot);
      if (seen.has(slot)) { out.push(`id table: slot ${slot} in buckets ${seen.get(slot)} and ${bkt}`); break; }
      seen.set(slot, bkt);
      if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) out.push(`id table: bucket ${bkt} holds slot ${slot}, which is not active`);
      if ((ld(c + A.CONN_ID) & mask) !== bkt) out.push(`id table: slot ${slot} (id low ${ld(c + A.CONN_ID)}) in bucket ${bkt}`);
    }
  }
  const byId = new Map<string, number>();
  for (let slot = 0; slot < nConns; slot++) {
    const c = e.connAddr(slot);
    if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) continue;
    if (!seen.has(slot)) out.push(`id table: active slot ${slot} is in no chain`);
    const id = `${ld(c + A.CONN_ID + 4)}:${ld(c + A.CONN_ID)}`;
    if (id === '0:0' || id === '4294967295:4294967295') out.push(`slot ${slot}: id ${id}`);
    if (byId.has(id)) out.push(`slots ${byId.get(id)} and ${slot} share the id ${id}`);
    byId.set(id, slot);
  }
  out.push(...checkMatches(e));
  return out;
}

/**
 * The match table: each open connection's chain holds n_matches (<= MAX_MATCHES_PER_CONN)
 * entries, each live and owned by it, none on two chains; every live entry is on its
 * owner's chain; a notification entry has no signal rules, and n_gen fits the entry; the
 * free list and the chains hold exactly the entries below the high-water mark, each once;
 * BUS_NAME_RULES counts the chained entries with a NAME rule.
 */
export function checkMatches(e: Engine): string[] {
  engineArg('checkMatches', e);
  { const layout = layoutErrors(e); if (layout.length > 0) return layout; }
  const u32 = e.u32, ld = (p: number) => u32[p >>> 2], H = A.BUS_BASE, out: string[] = [];
  const n = ld(H + A.BUS_N_MATCHES), size = ld(H + A.BUS_MATCH_SIZE), base = ld(H + A.BUS_MATCHES);
  const live = (i: number) => {
    const m = base + i * size, owner = ld(m + A.MATCH_OWNER);
    if (owner === 0) return -1;
    const c = e.connAddr(owner - 1);
    return ld(c + A.CONN_STATE) === A.CONN_ACTIVE && ld(c + A.CONN_GEN) === ld(m + A.MATCH_GEN) ? owner - 1 : -1;
  };
  let nameRules = 0;
  const onChain = new Set<number>();
  for (let s = 0; s < ld(H + A.BUS_N_CONNS); s++) {
    const c = e.connAddr(s);
    if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) continue;
    let len = 0;
    for (let i = ld(c + A.CONN_MATCH_HEAD); i !== 0; i = ld(base + (i - 1) * size + A.MATCH_NEXT)) {
      if (i > n || onChain.has(i - 1)) { out.push(`conn ${s}: match chain broken at entry ${i - 1}`); break; }
      onChain.add(i - 1);
      if (live(i - 1) !== s) out.push(`conn ${s}: match entry ${i - 1} on its chain is not its own live entry`);
      const m = base + (i - 1) * size;
      if (ld(m + A.MATCH_KIND) !== 0 && ld(m + A.MATCH_RULES) !== 0) out.push(`match entry ${i - 1}: a notification rule with signal rules`);
      if (ld(m + A.MATCH_N_GEN) > A.MATCH_GENERATIONS) out.push(`match entry ${i - 1}: ${ld(m + A.MATCH_N_GEN)} generations`);
      if (ld(m + A.MATCH_KIND) === 0 && (ld(m + A.MATCH_RULES) & A.MATCH_RULE_NAME) !== 0) nameRules++;
      len++;
    }
    if (len !== ld(c + A.CONN_N_MATCHES)) out.push(`conn ${s}: ${len} match entries chained, n_matches ${ld(c + A.CONN_N_MATCHES)}`);
    if (len > A.MAX_MATCHES_PER_CONN) out.push(`conn ${s}: ${len} match entries`);
  }
  for (let i = 0; i < n; i++) if (live(i) >= 0 && !onChain.has(i)) out.push(`match entry ${i}: live but on no chain`);
  if (ld(H + A.BUS_NAME_RULES) !== nameRules) out.push(`bus name_rules ${ld(H + A.BUS_NAME_RULES)} but ${nameRules} live entries with a NAME rule`);
  // the free list and the high-water mark: every entry below hwm on a chain or on the list, once
  const hwm = ld(H + A.BUS_MATCH_HWM);
  if (hwm > n) out.push(`match hwm ${hwm} past the table's ${n} entries`);
  for (const i of onChain) if (i >= hwm) out.push(`match entry ${i}: on a chain, at or above hwm ${hwm}`);
  let nFree = 0;
  const onFree = new Set<number>();
  for (let i = ld(H + A.BUS_MATCH_FREE); i !== 0; i = ld(base + (i - 1) * size + A.MATCH_NEXT)) {
    if (i > Math.min(hwm, n) || onFree.has(i - 1)) { out.push(`match free list broken at entry ${i - 1}`); break; }
    if (onChain.has(i - 1)) out.push(`match entry ${i - 1}: both free and on a chain`);
    onFree.add(i - 1);
    nFree++;
  }
  if (hwm <= n && nFree + onChain.size !== hwm) out.push(`match entries below hwm ${hwm}: ${onChain.size} chained + ${nFree} free`);
  return out;
}

/**
 * The reply table: `live` counts the records in use; each is PENDING or DEAD; its caller is
 * an open connection of the record's generation and id (a caller's close frees its records),
 * with at most MAX_PENDING_REPLIES records, all on its call list (n_calls of them, linked both
 * ways, tail right); a PENDING record's replier is open (a replier's close turns its records
 * DEAD); the free list and the records in use are exactly those below hwm; `due` is at most
 * the earliest PENDING deadline, and 0 while a REPLY_DEAD is owed.
 */
export function checkReplies(e: Engine): string[] {
  engineArg('checkReplies', e);
  { const layout = layoutErrors(e); if (layout.length > 0) return layout; }
  const u32 = e.u32, ld = (p: number) => u32[p >>> 2], out: string[] = [];
  const T = ld(H + A.BUS_REPLIES), n = ld(H + A.BUS_N_REPLIES), nConns = ld(H + A.BUS_N_CONNS);
  if (T === 0) return out;
  const open = (s: number, gen: number) => s < nConns && ld(e.connAddr(s) + A.CONN_STATE) === A.CONN_ACTIVE && ld(e.connAddr(s) + A.CONN_GEN) === gen;
  let live = 0, dead = 0, minLo = 0xffffffff, minHi = 0xffffffff;
  const perCaller = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const r = T + (i + 1) * A.REPLY_SIZE, st = ld(r + A.REPLY_STATE);
    if (st === A.REPLY_FREE) continue;
    live++;
    const tag = `reply record ${i}`;
    if (st !== A.REPLY_PENDING && st !== A.REPLY_DEAD) { out.push(`${tag}: state ${st}`); continue; }
    const cs = ld(r + A.REPLY_CALLER_SLOT);
    if (!open(cs, ld(r + A.REPLY_CALLER_GEN))) out.push(`${tag}: its caller (slot ${cs}) is not open`);
    else {
      const c = e.connAddr(cs);
      if (ld(r + A.REPLY_CALLER_ID) !== ld(c + A.CONN_ID) || ld(r + A.REPLY_CALLER_ID + 4) !== ld(c + A.CONN_ID + 4)) out.push(`${tag}: caller id is not slot ${cs}'s`);
    }
    perCaller.set(cs, (perCaller.get(cs) ?? 0) + 1);
    if (st === A.REPLY_DEAD) { dead++; continue; }
    if (!open(ld(r + A.REPLY_REPLIER_SLOT), ld(r + A.REPLY_REPLIER_GEN))) out.push(`${tag}: PENDING, but its replier (slot ${ld(r + A.REPLY_REPLIER_SLOT)}) is not open`);
    const lo = ld(r + A.REPLY_DEADLINE), hi = ld(r + A.REPLY_DEADLINE + 4);
    if (hi < minHi || (hi === minHi && lo < minLo)) { minLo = lo; minHi = hi; }
  }
  if (ld(T + A.REPLY_T_LIVE) !== live) out.push(`reply table: live ${ld(T + A.REPLY_T_LIVE)} != ${live} records in use`);
  for (const [cs, k] of perCaller) if (k > A.MAX_PENDING_REPLIES) out.push(`conn ${cs}: ${k} calls pending (at most ${A.MAX_PENDING_REPLIES})`);
  // each open connection's list holds exactly the records it is the caller of, in both directions
  let listed = 0;
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) continue;
    let k = 0, prev = 0;
    for (let i1 = ld(c + A.CONN_CALLS); i1 !== 0; i1 = ld(T + i1 * A.REPLY_SIZE + A.REPLY_NEXT)) {
      if (i1 > n || ++k > A.MAX_PENDING_REPLIES) { out.push(`conn ${s}: bad call list`); break; }
      const r = T + i1 * A.REPLY_SIZE;
      if (ld(r + A.REPLY_STATE) === A.REPLY_FREE) out.push(`conn ${s}: its call list holds free record ${i1 - 1}`);
      if (ld(r + A.REPLY_CALLER_SLOT) !== s || ld(r + A.REPLY_CALLER_GEN) !== ld(c + A.CONN_GEN)) out.push(`conn ${s}: its call list holds record ${i1 - 1} of another caller`);
      if (ld(r + A.REPLY_PREV) !== prev) out.push(`conn ${s}: call list back link broken at record ${i1 - 1}`);
      prev = i1;
    }
    if (ld(c + A.CONN_CALLS_TAIL) !== prev) out.push(`conn ${s}: calls_tail ${ld(c + A.CONN_CALLS_TAIL)} != ${prev}`);
    if (ld(c + A.CONN_N_CALLS) !== k) out.push(`conn ${s}: n_calls ${ld(c + A.CONN_N_CALLS)} != ${k} listed`);
    listed += k;
  }
  if (listed !== live) out.push(`reply table: ${live} records in use, ${listed} on their callers' lists`);
  // the free list and the high-water mark: every record below it is in use or on the free list, none above it is in use
  const hwm = ld(T + A.REPLY_T_HWM);
  if (hwm > n) out.push(`reply table: hwm ${hwm} > ${n} records`);
  let nFree = 0;
  for (let i1 = ld(T + A.REPLY_T_FREE); i1 !== 0; i1 = ld(T + i1 * A.REPLY_SIZE + A.REPLY_NEXT)) {
    if (i1 > hwm || ++nFree > n) { out.push('reply table: bad free list'); break; }
    if (ld(T + i1 * A.REPLY_SIZE + A.REPLY_STATE) !== A.REPLY_FREE) out.push(`reply table: record ${i1 - 1} on the free list is in use`);
  }
  if (nFree + live !== hwm) out.push(`reply table: ${nFree} free + ${live} in use != hwm ${hwm}`);
  for (let i = hwm; i < n; i++) if (ld(T + (i + 1) * A.REPLY_SIZE + A.REPLY_STATE) !== A.REPLY_FREE) { out.push(`reply table: record ${i} above hwm in use`); break; }
  const dueLo = ld(T + A.REPLY_T_DUE), dueHi = ld(T + A.REPLY_T_DUE + 4);
  if (dead > 0 && (dueLo !== 0 || dueHi !== 0)) out.push(`reply table: ${dead} REPLY_DEAD owed, but due is not 0`);
  if (live > dead && (dueHi > minHi || (dueHi === minHi && dueLo > minLo))) out.push('reply table: due is later than the earliest deadline');
  // the deadline list (BUS_VERSION 15): every record in use once, linked both ways, the DEAD
  // ones first, then the PENDING ones by deadline
  let onList = 0, prevDl = 0, pending = false, lastLo = 0, lastHi = 0, lastDead = 0;
  for (let i1 = ld(T + A.REPLY_T_DL_HEAD); i1 !== 0; i1 = ld(T + i1 * A.REPLY_SIZE + A.REPLY_DL_NEXT)) {
    if (i1 > n || ++onList > n) { out.push('reply table: bad deadline list'); break; }
    const r = T + i1 * A.REPLY_SIZE, st = ld(r + A.REPLY_STATE);
    if (ld(r + A.REPLY_DL_PREV) !== prevDl) out.push(`reply table: deadline list back link broken at record ${i1 - 1}`);
    if (st === A.REPLY_FREE) out.push(`reply table: the deadline list holds free record ${i1 - 1}`);
    else if (st === A.REPLY_DEAD) {
      if (pending) out.push(`reply table: DEAD record ${i1 - 1} after a PENDING one on the deadline list`);
      lastDead = i1;
    }
    else {
      const lo = ld(r + A.REPLY_DEADLINE), hi = ld(r + A.REPLY_DEADLINE + 4);
      if (pending && (hi < lastHi || (hi === lastHi && lo < lastLo))) out.push(`reply table: the deadline list is out of order at record ${i1 - 1}`);
      pending = true; lastLo = lo; lastHi = hi;
    }
    prevDl = i1;
  }
  if (ld(T + A.REPLY_T_DL_TAIL) !== prevDl) out.push(`reply table: deadline list tail ${ld(T + A.REPLY_T_DL_TAIL)} != ${prevDl}`);
  if (onList !== live) out.push(`reply table: ${live} records in use, ${onList} on the deadline list`);
  if (ld(T + A.REPLY_T_DL_DEAD) !== lastDead) out.push(`reply table: the last DEAD record is ${lastDead}, dl_dead says ${ld(T + A.REPLY_T_DL_DEAD)}`);
  return out;
}

/**
 * The name registry: every name is in its hash chain once, its queue is non-empty, each
 * owner record points back at it and at an open connection that holds no other record for
 * it; each connection's list holds exactly its records (count = CONN_N_NAMES <= the limit);
 * the counters match; free lists hold only free entries.
 */
export function checkNames(e: Engine): string[] {
  engineArg('checkNames', e);
  { const layout = layoutErrors(e); if (layout.length > 0) return layout; }
  const u32 = e.u32;
  const ld = (p: number) => u32[p >>> 2];
  const out: string[] = [];
  const H = A.BUS_BASE;
  const t = ld(H + A.BUS_NAMES), n = ld(H + A.BUS_N_NAMES), nConns = ld(H + A.BUS_N_CONNS);
  const mask = ld(t + A.NAMES_MASK);
  const base = t + A.NAMES_HDR + (mask + 1) * 4;
  const entry = (i1: number) => base + (i1 - 1) * A.NAME_SIZE;
  // names through the buckets
  const names = new Set<number>();
  for (let b = 0; b <= mask; b++) {
    for (let i = ld(t + A.NAMES_HDR + b * 4), k = 0; i !== 0; i = ld(entry(i) + A.NAME_CHAIN), k++) {
      if (i > n || k > n) { out.push(`bucket ${b}: bad chain`); break; }
      const p = entry(i);
      if (names.has(i)) out.push(`name ${i}: in two chains`);
      names.add(i);
      if (ld(p + A.NAME_LEN) === 0) out.push(`name ${i}: free but chained`);
      if ((ld(p + A.NAME_HASH) & mask) !== b) out.push(`name ${i}: in the wrong bucket`);
    }
  }
  if (names.size !== ld(t + A.NAMES_N_LIVE)) out.push(`n_live ${ld(t + A.NAMES_N_LIVE)} != ${names.size} names`);
  // owner records through the queues
  const owners = new Map<number, number>(); // owner index -> name index
  for (const i of names) {
    const p = entry(i);
    if (ld(p + A.NAME_HEAD) === 0) out.push(`name ${i}: no owner`);
    const conns = new Set<number>();
    let last = 0;
    for (let o = ld(p + A.NAME_HEAD), k = 0; o !== 0; o = ld(entry(o) + A.NAME_O_QNEXT), k++) {
      if (o > n || k > nConns) { out.push(`name ${i}: bad queue`); break; }
      const q = entry(o);
      if (owners.has(o)) out.push(`owner ${o}: in two queues`);
      owners.set(o, i);
      if (ld(q + A.NAME_O_NAME) !== i) out.push(`owner ${o}: names ${ld(q + A.NAME_O_NAME)}, queued in ${i}`);
      const cs = ld(q + A.NAME_O_CONN);
      if (cs === 0 || cs > nConns || ld(e.connAddr(cs - 1) + A.CONN_STATE) !== A.CONN_ACTIVE) out.push(`owner ${o}: connection ${cs - 1} is not open`);
      if (conns.has(cs)) out.push(`name ${i}: connection ${cs - 1} queued twice`);
      // an activator's record: the last in its queue, of an activator connection
      const act = (ld(q + A.NAME_O_FLAGS) & A.NAME_ACTIVATOR) !== 0;
      if (act && ld(q + A.NAME_O_QNEXT) !== 0) out.push(`name ${i}: its activator's record ${o} is not last`);
      if (act !== ((ld(e.connAddr(cs - 1) + A.CONN_FLAGS) & A.HELLO_ACTIVATOR) !== 0)) out.push(`owner ${o}: ACTIVATOR flag and connection kind disagree`);
      conns.add(cs);
      last = o;
    }
    if (ld(p + A.NAME_TAIL) !== last) out.push(`name ${i}: tail ${ld(p + A.NAME_TAIL)} != ${last}`);
  }
  if (owners.size !== ld(t + A.NAMES_N_OWNERS)) out.push(`n_owners ${ld(t + A.NAMES_N_OWNERS)} != ${owners.size} records`);
  // the bus's monitor count
  let monitors = 0;
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    if (ld(c + A.CONN_STATE) === A.CONN_ACTIVE && (ld(c + A.CONN_FLAGS) & A.HELLO_MONITOR) !== 0) monitors++;
  }
  if (ld(H + A.BUS_N_MONITORS) !== monitors) out.push(`n_monitors ${ld(H + A.BUS_N_MONITORS)} != ${monitors} open monitors`);
  if (owners.size > n) out.push(`more owner records than n_names`);
  // each open connection's list
  let listed = 0;
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) continue;
    let k = 0;
    for (let o = ld(c + A.CONN_NAMES); o !== 0; o = ld(entry(o) + A.NAME_O_CNEXT)) {
      if (++k > A.MAX_NAMES_PER_CONN || o > n) { out.push(`conn ${s}: bad name list`); break; }
      if (!owners.has(o)) out.push(`conn ${s}: lists owner ${o}, which no queue holds`);
      if (ld(entry(o) + A.NAME_O_CONN) !== s + 1) out.push(`conn ${s}: lists owner ${o} of another connection`);
    }
    if (k !== ld(c + A.CONN_N_NAMES)) out.push(`conn ${s}: n_names ${ld(c + A.CONN_N_NAMES)} != ${k} listed`);
    listed += k;
  }
  if (listed !== owners.size) out.push(`${owners.size} owner records, ${listed} in connection lists`);
  // free lists and high-water marks
  const hwmN = ld(t + A.NAMES_NAME_HWM), hwmO = ld(t + A.NAMES_OWN_HWM);
  if (hwmN > n || hwmO > n) out.push('high-water mark above n_names');
  let freeN = 0, freeO = 0;
  for (let i = ld(t + A.NAMES_NAME_FREE); i !== 0 && freeN <= n; i = ld(entry(i) + A.NAME_CHAIN), freeN++) if (names.has(i) || i > hwmN) out.push(`free name ${i} in use or above the mark`);
  for (let o = ld(t + A.NAMES_OWN_FREE); o !== 0 && freeO <= n; o = ld(entry(o) + A.NAME_O_QNEXT), freeO++) if (owners.has(o) || o > hwmO) out.push(`free owner ${o} in use or above the mark`);
  if (freeN + names.size !== hwmN) out.push(`names: ${freeN} free + ${names.size} live != mark ${hwmN}`);
  if (freeO + owners.size !== hwmO) out.push(`owners: ${freeO} free + ${owners.size} live != mark ${hwmO}`);
  return out;
}
