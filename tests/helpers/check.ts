// check: a consistency checker over the whole bus state, read from the memory layout. It
// returns a list of broken invariants (empty when the bus is consistent): pools tile
// exactly and free neighbours are merged, the free / queue / published lists agree with the
// blocks, the publish maps with the published blocks, the id table with the connection
// table, quotas add up, counters match, no lock is held.
import { abi as A, type Engine } from '../../js/index.ts';

export function checkBus(e: Engine, opts: { locksFree?: boolean } = {}): string[] {
  const u32 = e.u32;
  const ld = (p: number) => u32[p >>> 2];
  const out: string[] = [];
  const H = A.BUS_BASE;
  if (ld(H) !== A.BUS_MAGIC) return ['no bus magic'];
  const nConns = ld(H + A.BUS_N_CONNS), nThreads = ld(H + A.BUS_N_THREADS);
  if ((opts.locksFree ?? true) && ld(H + A.BUS_LOCK) !== 0) out.push(`bus lock held: ${ld(H + A.BUS_LOCK)}`);
  // reservations journaled by live threads, per receiver slot
  const resv = new Map<number, number>();
  for (let i = 0; i < nThreads; i++) {
    const t = ld(H + A.BUS_THREADS) + i * A.THREAD_SIZE;
    if (ld(t + A.THREAD_STATE) === A.THREAD_FREE) continue;
    if (ld(t + A.THREAD_LOG_LEN) !== 0) out.push(`thread ${i}: undo log not empty`);
    if (ld(t + A.THREAD_OP) === A.OP_SEND) resv.set(ld(t + A.THREAD_OP_CONN), (resv.get(ld(t + A.THREAD_OP_CONN)) ?? 0) + 1);
  }
  let live = 0;
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    const state = ld(c + A.CONN_STATE);
    const tag = `conn ${s}`;
    if ((opts.locksFree ?? true) && ld(c + A.CONN_LOCK) !== 0) out.push(`${tag}: lock held: ${ld(c + A.CONN_LOCK)}`);
    if (ld(c + A.CONN_N_RESV) !== (resv.get(s) ?? 0)) out.push(`${tag}: n_resv ${ld(c + A.CONN_N_RESV)} but ${resv.get(s) ?? 0} journaled`);
    if (state === A.CONN_CLOSING && ld(c + A.CONN_N_RESV) === 0) out.push(`${tag}: CLOSING without reservations`);
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
    if (reserved !== (resv.get(s) ?? 0)) out.push(`${tag}: ${reserved} reserved blocks, ${resv.get(s) ?? 0} journaled`);
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
  out.push(...checkIds(e));
  return out;
}

/**
 * The id table agrees with the connection table: every active connection is in the chain of
 * its id's bucket, once; the chains hold nothing else; no two active connections share an id.
 */
export function checkIds(e: Engine): string[] {
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
  return out;
}

/**
 * The bytes of bus state that must be identical after a command is undone: everything
 * but the counters that move without a lock (seqnum, wake words), thread slots, the bodies
 * of free blocks (undo frees a block, it does not scrub it) and free connection slots (and
 * their metadata snapshots).
 */
export function stateImage(e: Engine): Uint32Array {
  const u32 = e.u32;
  const ld = (p: number) => u32[p >>> 2];
  const H = A.BUS_BASE;
  const end = ld(H + A.BUS_LAYOUT_END);
  const img = u32.slice(H >>> 2, end >>> 2);
  const zero = (from: number, to: number) => img.fill(0, (from - H) >>> 2, (to - H) >>> 2);
  zero(H + A.BUS_SEQNUM, H + A.BUS_SEQNUM + 8);
  zero(H + A.BUS_ID_SEQ, H + A.BUS_ID_SEQ + 4); // only grows, not journaled
  zero(ld(H + A.BUS_THREADS), ld(H + A.BUS_CONNS));
  const nConns = ld(H + A.BUS_N_CONNS);
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    zero(c + A.CONN_WAKE, c + A.CONN_WAKE + 4);
    const pool = ld(c + A.CONN_POOL), size = ld(c + A.CONN_POOL_SIZE);
    if (ld(c + A.CONN_STATE) !== A.CONN_ACTIVE) {
      zero(c + A.CONN_ID, c + A.CONN_SIZE);
      const base = ld(H + A.BUS_POOLS) + s * ld(H + A.BUS_POOL_MAX);
      zero(base, base + ld(H + A.BUS_POOL_MAX));
      // its id link (rewritten, unlogged, when it joins a chain) and its publish map
      const link = ld(H + A.BUS_IDS) + (ld(H + A.BUS_ID_MASK) + 1 + s) * 4;
      zero(link, link + 4);
      const mapSize = ld(H + A.BUS_POOL_MAX) >>> A.PUBMAP_SHIFT, map = ld(H + A.BUS_PUBMAPS) + s * mapSize;
      zero(map, map + mapSize);
      // its HELLO-time metadata snapshot (copied by HELLO, unlogged: a free slot's is a don't-care)
      const meta = ld(H + A.BUS_METAS) + s * A.META_SIZE;
      zero(meta, meta + A.META_SIZE);
      continue;
    }
    for (let b = pool; b < pool + size;) {
      const bs = ld(b + A.BLOCK_SIZE);
      if (bs < A.BLOCK_HDR) break;
      // a free block: its body and its used-only header fields (quota user, charge)
      if (ld(b + A.BLOCK_STATE) === 0) { zero(b + A.BLOCK_QUSER, b + A.BLOCK_ACCT + 4); zero(b + A.BLOCK_HDR, b + bs); }
      b += bs;
    }
  }
  return img;
}

export function firstDifference(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return A.BUS_BASE + i * 4;
  return -1;
}
