// check: the consistency checker lives in the package (js/health.ts: checkBus, checkIds);
// the helpers only the undo tests need (stateImage, firstDifference) stay here.
import { abi as A, type Engine } from '../../js/index.ts';
export { checkBus, checkIds } from '../../js/health.ts';

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
  zero(H + A.BUS_NAME_SEQ, H + A.BUS_NAME_SEQ + 4); // only grows, not journaled (a bump an undo leaves: waiters look again)
  zero(ld(H + A.BUS_THREADS), ld(H + A.BUS_CONNS));
  const nConns = ld(H + A.BUS_N_CONNS);
  for (let s = 0; s < nConns; s++) {
    const c = e.connAddr(s);
    zero(c + A.CONN_WAKE, c + A.CONN_WAKE + 4);
    zero(c + A.CONN_KMSG_LOST, c + A.CONN_KMSG_LOST + 4); // an atomic counter, not journaled
    zero(c + A.CONN_SPACE, c + A.CONN_SPACE + 4); // a futex word like wake: bumped, not journaled
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
  // free match entries: don't-cares (MATCH_ADD fills them with plain stores before it logs
  // the words that make one live)
  const nm = ld(H + A.BUS_N_MATCHES), ms = ld(H + A.BUS_MATCH_SIZE), mb = ld(H + A.BUS_MATCHES);
  for (let i = 0; i < nm; i++) {
    const m = mb + i * ms, owner = ld(m + A.MATCH_OWNER);
    const c = owner === 0 ? 0 : e.connAddr(owner - 1);
    const isLive = owner !== 0 && ld(c + A.CONN_STATE) === A.CONN_ACTIVE && ld(c + A.CONN_GEN) === ld(m + A.MATCH_GEN);
    if (!isLive) zero(m + A.MATCH_COOKIE, m + ms);
  }
  return img;
}

export function firstDifference(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return A.BUS_BASE + i * 4;
  return -1;
}

// names issue
/**
 * The name registry: every name is in its hash chain once, its queue is non-empty, each
 * owner record points back at it and at an open connection that holds no other record for
 * it; each connection's list holds exactly its records (count = CONN_N_NAMES <= the limit);
 * the counters match; free lists hold only free entries.
 */
export function checkNames(e: Engine): string[] {
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
