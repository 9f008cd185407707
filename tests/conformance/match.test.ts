// Matches, broadcast signals and bus notifications: MATCH_ADD / MATCH_REMOVE and every rule
// and errno (KDBUS.md, "Matches and bloom filters"), broadcast delivery by bloom, unicast
// signals without a rule, DROPPED_MSGS for a full receiver, ID_ADD / ID_REMOVE.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { checkBus } from '../helpers/check.ts';
import { ALL, vec, hostVec, type Item, type Raw } from '../helpers/raw.ts';

const t = busSuite('MATCH');
const t2 = busSuite('MATCH (large table)', { limits: { threads: 4, connections: 8, poolMax: 262144, names: 16, matches: 300, replies: 16 } });
const BLOOM = 64;

/** bloom bytes with the given bit numbers set */
function bits(...n: number[]): Uint8Array {
  const b = new Uint8Array(BLOOM);
  for (const i of n) b[i >> 3] |= 1 << (i & 7);
  return b;
}
const mask = (...gens: Uint8Array[]): Item => {
  const d = new Uint8Array(gens.length * BLOOM);
  gens.forEach((g, i) => d.set(g, i * BLOOM));
  return { type: A.ITEM_BLOOM_MASK, data: d };
};
const filter = (gen: number, b: Uint8Array): Item => {
  const d = new Uint8Array(8 + BLOOM);
  new DataView(d.buffer).setUint32(0, gen, true);
  d.set(b, 8);
  return { type: A.ITEM_BLOOM_FILTER, data: d };
};
const nMatches = (raw: Raw, slot: number) => raw.e.u32[(raw.e.connAddr(slot) + A.CONN_N_MATCHES) >>> 2];

/** Send a signal from `from` to `dst` (ALL: broadcast) with filter bits; payload in the command area. */
function signal(raw: Raw, from: { slot: number; gen: number }, dst: bigint | number, f: Item, items: Item[] = []) {
  return raw.send(from.slot, from.gen, { msg: { dst, flags: A.MSG_SIGNAL }, items: [...items, f] });
}
interface Taken { none: boolean; dropped: number; src: number; dst: bigint; payloadType: number; item: number; itemId: number; size: number }
/** Receive one message and free it: its src id, first item type... (`none`: EAGAIN, the rest 0). */
function take(raw: Raw, h: { slot: number; gen: number }): Taken {
  const m = raw.recv(h.slot, h.gen);
  if (m.r === -A.EAGAIN) return { none: true, dropped: m.dropped, src: 0, dst: 0n, payloadType: 0, item: 0, itemId: 0, size: 0 };
  assert.is(m.r, 0);
  const s = raw.slice(h.slot, m.offset);
  const out = {
    none: false, dropped: m.dropped, src: raw.r64(s + A.MSG_SRC_ID), dst: raw.r64big(s + A.MSG_DST_ID),
    payloadType: raw.r64(s + A.MSG_PAYLOAD_TYPE), item: raw.r64(s + 64 + 8), itemId: raw.r64(s + 64 + 16), size: m.size,
  };
  assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  return out;
}

t('MATCH_ADD and MATCH_REMOVE by cookie; REPLACE replaces', ({ raw }) => {
  const a = open(raw);
  assert.is(raw.matchAdd(a.slot, a.gen, 7, { items: [mask(bits(1))] }), 0);
  assert.is(raw.matchAdd(a.slot, a.gen, 7, { items: [mask(bits(2))] }), 0);
  assert.is(nMatches(raw, a.slot), 2);
  assert.is(raw.matchAdd(a.slot, a.gen, 7, { flags: A.MATCH_REPLACE, items: [mask(bits(3))] }), 0);
  assert.is(nMatches(raw, a.slot), 1, 'REPLACE removed both entries of the cookie first');
  assert.is(raw.matchRemove(a.slot, a.gen, 7), 0);
  assert.is(nMatches(raw, a.slot), 0);
  assert.is(raw.matchRemove(a.slot, a.gen, 7), -A.EBADSLT);
  assert.is(raw.reason.reason, A.R_MATCH_NO_COOKIE);
  assert.ok(raw.message(-A.EBADSLT, 'MATCH_REMOVE'));
});

t('every rule error: one errno and reason each, the bus left as it was', ({ raw }) => {
  const a = open(raw);
  assert.is(raw.matchAdd(a.slot, a.gen, 1, { items: [mask(bits(1))] }), 0);
  const cases: [Item[], number, number, number?][] = [
    [[{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(0) }], A.EDOM, A.R_MATCH_BLOOM_SIZE],
    [[{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(32) }], A.EDOM, A.R_MATCH_BLOOM_SIZE],
    [[{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(BLOOM + 8) }], A.EDOM, A.R_MATCH_BLOOM_SIZE],
    [[mask(bits(1), bits(2), bits(3))], A.EMSGSIZE, A.R_MATCH_BLOOM_GENERATIONS],
    [[mask(bits(1)), mask(bits(1))], A.EINVAL, A.R_ITEM_DUPLICATE],
    [[{ type: A.ITEM_ID, data: [1, 2] }], A.EINVAL, A.R_MATCH_ITEM_SIZE],
    [[{ type: A.ITEM_DST_ID, data: new Uint8Array(4) }], A.EINVAL, A.R_MATCH_ITEM_SIZE],
    [[{ type: A.ITEM_ID, data: [1] }, { type: A.ITEM_ID, data: [2] }], A.EINVAL, A.R_ITEM_DUPLICATE],
    [[{ type: A.ITEM_ID_ADD, data: [ALL] }], A.EINVAL, A.R_MATCH_ITEM_SIZE],
    [[{ type: A.ITEM_NAME_ADD, data: [ALL, 0] }], A.EINVAL, A.R_MATCH_ITEM_SIZE],
    [[{ type: A.ITEM_ID_ADD, data: [ALL, 0] }, mask(bits(1))], A.EINVAL, A.R_MATCH_MIXED],
    [[{ type: A.ITEM_ID_ADD, data: [ALL, 0] }, { type: A.ITEM_ID_REMOVE, data: [ALL, 0] }], A.EINVAL, A.R_MATCH_MIXED],
    [[{ type: A.ITEM_NAME, data: 'noDots' }], A.EINVAL, A.R_MATCH_NAME_INVALID],
    [[{ type: A.ITEM_NAME, data: 'org.1example' }], A.EINVAL, A.R_MATCH_NAME_INVALID],
    [[{ type: A.ITEM_NAME, data: 'org.' + 'x'.repeat(A.MAX_NAME_LEN - 3) }], A.EINVAL, A.R_MATCH_NAME_INVALID],
    [[{ type: A.ITEM_NAME, data: new TextEncoder().encode('org.example.A') }], A.EINVAL, A.R_MATCH_NAME_INVALID], // no NUL
    [[{ type: A.ITEM_NAME, data: 'org.example.A' }, { type: A.ITEM_NAME, data: 'org.example.B' }], A.EINVAL, A.R_ITEM_DUPLICATE],
    [[{ type: A.ITEM_NAME, data: 'org.example.A' }, { type: A.ITEM_ID_ADD, data: [ALL, 0] }], A.EINVAL, A.R_MATCH_MIXED],
    [[{ type: A.ITEM_NAME_CHANGE, data: new Uint8Array(40) }], A.EINVAL, A.R_MATCH_NAME_INVALID],
    [[{ type: A.ITEM_NAME_ADD, data: new Uint8Array([...new Uint8Array(32), ...new TextEncoder().encode('a.b')]) }], A.EINVAL, A.R_MATCH_NAME_INVALID],
    [[{ type: A.ITEM_PAYLOAD_VEC, data: [1, 0] }], A.EINVAL, A.R_ITEM_UNKNOWN],
    [[{ type: A.ITEM_ID, data: [1], size: 200 }], A.EINVAL, A.R_ITEM_MALFORMED],
  ];
  for (const [items, errno, reason] of cases) {
    const before = raw.e.u8.slice(raw.e.connAddr(a.slot), raw.e.connAddr(a.slot) + A.CONN_SIZE);
    assert.is(raw.matchAdd(a.slot, a.gen, 2, { items }), -errno, `items ${items.map((i) => i.type)}`);
    assert.is(raw.reason.reason, reason);
    assert.ok(raw.message(-errno, 'MATCH_ADD'), 'a text for the reason');
    assert.equal(raw.e.u8.slice(raw.e.connAddr(a.slot), raw.e.connAddr(a.slot) + A.CONN_SIZE), before, 'connection unchanged');
  }
  assert.is(raw.matchAdd(a.slot, a.gen, 2, { flags: 2 }), -A.EINVAL);
  assert.is(raw.matchRemove(a.slot, a.gen, 1, { items: [mask(bits(1))] }), -A.EINVAL);
  assert.is(raw.reason.reason, A.R_CMD_ITEMS);
  assert.is(nMatches(raw, a.slot), 1);
  assert.is(raw.matchRemove(a.slot, a.gen, 1), 0);
});

t('the bus-wide match table full: ENFILE; a closed connection frees its entries', ({ raw }) => {
  const a = open(raw), b = open(raw);
  for (let i = 0; i < 16; i++) assert.is(raw.matchAdd(a.slot, a.gen, i, { items: [mask(bits(i))] }), 0);
  assert.is(raw.matchAdd(b.slot, b.gen, 1), -A.ENFILE);
  assert.is(raw.reason.reason, A.R_MATCH_TABLE_FULL);
  assert.is(raw.reason.arg, 16);
  // REPLACE reuses the entries it frees even in a full table
  assert.is(raw.matchAdd(a.slot, a.gen, 3, { flags: A.MATCH_REPLACE }), 0);
  assert.is(raw.byebye(a.slot, a.gen), 0);
  assert.is(raw.matchAdd(b.slot, b.gen, 1), 0, 'the closed connection\'s entries are free');
  assert.equal(checkBus(raw.e), []);
  assert.is(raw.matchRemove(b.slot, b.gen, 1), 0);
});

t2('per connection: MAX_MATCHES_PER_CONN entries, then EMFILE', ({ raw }) => {
  const a = open(raw);
  for (let i = 0; i < A.MAX_MATCHES_PER_CONN; i++) assert.is(raw.matchAdd(a.slot, a.gen, i), 0);
  assert.is(raw.matchAdd(a.slot, a.gen, 999), -A.EMFILE);
  assert.is(raw.reason.reason, A.R_MATCH_PER_CONN);
  assert.is(raw.matchAdd(a.slot, a.gen, 5, { flags: A.MATCH_REPLACE }), 0, 'replacing stays within the limit');
  assert.is(nMatches(raw, a.slot), A.MAX_MATCHES_PER_CONN);
  for (let i = 0; i < A.MAX_MATCHES_PER_CONN; i++) assert.is(raw.matchRemove(a.slot, a.gen, i), 0);
});

t('a broadcast reaches exactly the bloom-matching receivers, never the sender', ({ raw }) => {
  const s = open(raw);
  const rx = [open(raw), open(raw), open(raw), open(raw), open(raw)];
  assert.is(raw.matchAdd(s.slot, s.gen, 1), 0, 'the sender matches everything: still not delivered to itself');
  assert.is(raw.matchAdd(rx[0].slot, rx[0].gen, 1, { items: [mask(bits(3, 9))] }), 0); // yes
  assert.is(raw.matchAdd(rx[1].slot, rx[1].gen, 1, { items: [mask(bits(3, 10))] }), 0); // no: bit 10
  assert.is(raw.matchAdd(rx[2].slot, rx[2].gen, 1, { items: [mask(bits(40), bits(3))] }), 0); // gen 1 mask: yes
  assert.is(raw.matchAdd(rx[3].slot, rx[3].gen, 1, { items: [{ type: A.ITEM_ID, data: [rx[0].id] }] }), 0); // other sender
  // rx[4]: no entry
  const src = raw.e.cmd + 8192;
  raw.e.u8.set([1, 2, 3], src);
  assert.is(signal(raw, s, ALL, filter(1, bits(3, 9, 20)), [vec(3, src)]), 0);
  const got = rx.map((h) => take(raw, h));
  assert.equal(got.map((g) => !g.none), [true, false, true, false, false]);
  for (const g of got) if (!g.none) { assert.is(g.src, s.id); assert.is(g.dst, ALL); }
  assert.ok(take(raw, s).none, 'not to the sender');
  // the ID rule: a signal from rx[0] reaches rx[3]
  assert.is(signal(raw, rx[0], ALL, filter(0, bits())), 0);
  assert.not.ok(take(raw, rx[3]).none);
  assert.ok(take(raw, rx[1]).none);
  assert.not.ok(take(raw, s).none, 'an entry without rules matches everything');
  assert.equal(checkBus(raw.e), []);
  for (const h of [s, ...rx]) while (!take(raw, h).none);
});

t('broadcast rules: filter size EDOM; no filter EBADMSG', ({ raw }) => {
  const s = open(raw);
  assert.is(raw.send(s.slot, s.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [{ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(16) }] }), -A.EDOM);
  assert.is(raw.send(s.slot, s.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL } }), -A.EBADMSG);
});

t('a unicast signal is dropped silently without a matching rule', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(signal(raw, a, b.id, filter(0, bits(5)), [hostVec(8)]), 0);
  assert.ok(take(raw, b).none, 'no rule: dropped');
  assert.is(raw.matchAdd(b.slot, b.gen, 1, { items: [mask(bits(6))] }), 0);
  assert.is(signal(raw, a, b.id, filter(0, bits(5))), 0);
  assert.ok(take(raw, b).none, 'the rule does not match');
  assert.is(raw.matchAdd(b.slot, b.gen, 2, { items: [mask(bits(5)), { type: A.ITEM_DST_ID, data: [b.id] }] }), 0);
  assert.is(signal(raw, a, b.id, filter(0, bits(5)), [hostVec(8)]), 0, 'host vecs: the two-phase send to one receiver');
  const m = take(raw, b);
  assert.not.ok(m.none);
  assert.is(m.src, a.id);
});

t('a full receiver loses the broadcast, counted in DROPPED_MSGS; the sender never fails', ({ raw }) => {
  const s = open(raw), full = open(raw, { poolSize: 4096 }), ok = open(raw);
  for (const h of [full, ok]) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
  const big = raw.e.cmd + 4096;
  // a 400-byte payload: the small receiver's quota (a third of half its pool) takes one, not three
  for (let i = 0; i < 3; i++) assert.is(signal(raw, s, ALL, filter(0, bits()), [vec(400, big)]), 0);
  let n = 0, dropped = 0;
  for (let m = take(raw, full); ; m = take(raw, full)) {
    dropped += m.dropped;
    if (m.none) break;
    n++;
  }
  assert.ok(n >= 1 && n < 3, `delivered ${n}`);
  assert.is(n + dropped, 3, 'every lost broadcast counted');
  for (let i = 0; i < 3; i++) assert.not.ok(take(raw, ok).none);
  assert.ok(take(raw, ok).none);
});

t('ID_ADD and ID_REMOVE notifications, from the bus, to matching rules only', ({ raw }) => {
  const w = open(raw, { attachRecv: A.ATTACH_TIMESTAMP }), other = open(raw);
  assert.is(raw.matchAdd(w.slot, w.gen, 1, { items: [{ type: A.ITEM_ID_ADD, data: [ALL, 0] }] }), 0);
  assert.is(raw.matchAdd(w.slot, w.gen, 2, { items: [{ type: A.ITEM_ID_REMOVE, data: [ALL, 0] }] }), 0);
  assert.is(raw.matchAdd(other.slot, other.gen, 1, { items: [mask(bits(1))] }), 0);
  const n = open(raw);
  let m = take(raw, w);
  assert.not.ok(m.none);
  assert.is(m.src, 0, 'from the bus');
  assert.is(m.payloadType, A.PAYLOAD_KERNEL);
  assert.is(m.item, A.ITEM_ID_ADD);
  assert.is(m.itemId, n.id);
  assert.is(m.size, 64 + 32 + A.TIMESTAMP_ITEM_SIZE, 'the item and TIMESTAMP');
  assert.ok(take(raw, other).none, 'a bloom rule never matches a notification');
  assert.is(raw.byebye(n.slot, n.gen), 0);
  m = take(raw, w);
  assert.is(m.item, A.ITEM_ID_REMOVE);
  assert.is(m.itemId, n.id);
  // a rule for one id only
  assert.is(raw.matchRemove(w.slot, w.gen, 2), 0);
  const x = open(raw);
  assert.is(take(raw, w).item, A.ITEM_ID_ADD);
  assert.is(raw.matchAdd(w.slot, w.gen, 3, { items: [{ type: A.ITEM_ID_REMOVE, data: [x.id + 100, 0] }] }), 0);
  assert.is(raw.byebye(x.slot, x.gen), 0);
  assert.ok(take(raw, w).none, 'ID_REMOVE of another id');
});

t.run();
t2.run();
