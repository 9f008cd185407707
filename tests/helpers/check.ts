// check: the consistency checker lives in the package (js/health.ts: checkBus, checkIds);
// the helpers only the undo tests need (stateImage, firstDifference) stay here.
import { abi as A, type Engine } from '../../js/index.ts';
export { checkBus, checkIds, checkNames, checkReplies } from '../../js/health.ts';

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
