// Broadcast signals, issue 8 item 4: NAME rules (the sender is the primary owner of the
// name, kdbus_conn_has_name), names in NAME_ADD / NAME_REMOVE / NAME_CHANGE rules, and
// broadcasts with host vecs staged in the sender's own pool (OP_BCAST: SEND_PENDING,
// send_commit delivers, send_cancel frees). Raw ABI, both engines; every slice freed.
import * as assert from 'uvu/assert';
import { Bus, BusError, MockProvider, abi as A } from '../../js/index.ts';
import { busSuite, open, ENGINE, SMALL } from '../helpers/harness.ts';
import { checkBus } from '../helpers/check.ts';
import { ALL, vec, hostVec, type Item, type Raw } from '../helpers/raw.ts';

const t = busSuite('broadcast names');
const MiB = 1048576;
const big = busSuite('broadcast staging', { limits: { threads: 4, connections: 6, poolMax: 2 * MiB, names: 16, matches: 16, replies: 16 } });
const BLOOM = 64;
const enc = new TextEncoder();

const filter = (): Item => ({ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + BLOOM) });
const nameRule = (name: string): Item => ({ type: A.ITEM_NAME, data: name });
/** a NAME_ADD / NAME_REMOVE / NAME_CHANGE rule: any old and new owner, about `name` */
const nameNotify = (type: number, name: string): Item => {
  const s = enc.encode(name), d = new Uint8Array(32 + s.length + 1);
  new DataView(d.buffer).setBigUint64(0, ALL, true);
  new DataView(d.buffer).setBigUint64(16, ALL, true);
  d.set(s, 32);
  return { type, data: d };
};
type H = { slot: number; gen: number; id: number };

function bcast(raw: Raw, from: H, items: Item[] = [], host?: Uint8Array[]): number {
  return raw.send(from.slot, from.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [...items, filter()], host });
}
function unicast(raw: Raw, from: H, to: H): number {
  return raw.send(from.slot, from.gen, { msg: { dst: to.id, flags: A.MSG_SIGNAL }, items: [filter()] });
}
/** Receive one message and free it: null when the queue is empty; else its src id, first item type, first payload bytes. */
function take(raw: Raw, h: H): { src: number; item: number; name: string; payload: Uint8Array } | null {
  const m = raw.recv(h.slot, h.gen);
  if (m.r === -A.EAGAIN) return null;
  assert.is(m.r, 0);
  const s = raw.slice(h.slot, m.offset);
  const item = raw.r64(s + A.MSG_HDR + A.ITEM_TYPE);
  let payload = new Uint8Array(0), name = '';
  if (item === A.ITEM_PAYLOAD_OFF) {
    const off = raw.r64(s + A.MSG_HDR + A.VEC_ADDRESS), n = raw.r64(s + A.MSG_HDR + A.VEC_SIZE);
    payload = raw.e.u8.slice(s + off, s + off + n);
  } else if (item === A.ITEM_NAME_ADD || item === A.ITEM_NAME_REMOVE || item === A.ITEM_NAME_CHANGE) {
    const p = s + A.MSG_HDR + A.ITEM_HDR + A.NOTIFY_NAME_HDR;
    name = new TextDecoder().decode(raw.e.u8.slice(p, raw.e.u8.indexOf(0, p))); // (a copy: browsers' decoders refuse views of shared memory)
  }
  const out = { src: raw.r64(s + A.MSG_SRC_ID), item, name, payload };
  assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  return out;
}
const drain = (raw: Raw, ...hs: H[]) => { for (const h of hs) while (take(raw, h) !== null); };
const nameRules = (raw: Raw) => raw.e.u32[(A.BUS_BASE + A.BUS_NAME_RULES) >>> 2];

t('a NAME rule matches a broadcast whose sender is the primary owner, and stops when it releases the name', ({ raw }) => {
  const s = open(raw), other = open(raw), rx = open(raw);
  assert.is(raw.matchAdd(rx.slot, rx.gen, 1, { items: [nameRule('org.example.Svc')] }), 0);
  assert.is(nameRules(raw), 1);
  assert.is(bcast(raw, s), 0);
  assert.is(take(raw, rx), null, 'the sender owns no name: no match');
  assert.is(raw.nameAcquire(s.slot, s.gen, 'org.example.Svc').r, 0);
  assert.is(raw.nameAcquire(other.slot, other.gen, 'org.example.Svc', A.NAME_QUEUE).r, 0); // queued: not primary
  assert.is(bcast(raw, s), 0);
  const m = take(raw, rx);
  assert.ok(m !== null, 'the owner\'s broadcast matches');
  assert.is(m!.src, s.id);
  assert.is(bcast(raw, other), 0);
  assert.is(take(raw, rx), null, 'a queued owner is not the owner');
  // a unicast signal is matched by the same rule
  assert.is(unicast(raw, s, rx), 0);
  assert.ok(take(raw, rx) !== null, 'unicast from the owner');
  assert.is(unicast(raw, other, rx), 0);
  assert.is(take(raw, rx), null, 'unicast from the queued one');
  // the name passes on to the queued connection
  assert.is(raw.nameRelease(s.slot, s.gen, 'org.example.Svc'), 0);
  assert.is(bcast(raw, s), 0);
  assert.is(take(raw, rx), null, 'released: no match any more');
  assert.is(bcast(raw, other), 0);
  assert.is(take(raw, rx)?.src, other.id, 'the new primary owner matches');
  assert.equal(checkBus(raw.e), []);
  assert.is(raw.nameRelease(other.slot, other.gen, 'org.example.Svc'), 0);
});

t('a NAME rule with other rules: all must match; MATCH_REMOVE and close keep the name-rule count exact', ({ raw }) => {
  const s = open(raw), rx = open(raw), rx2 = open(raw);
  assert.is(raw.nameAcquire(s.slot, s.gen, 'org.example.A').r, 0);
  assert.is(raw.matchAdd(rx.slot, rx.gen, 1, { items: [nameRule('org.example.A'), { type: A.ITEM_ID, data: [rx2.id] }] }), 0);
  assert.is(raw.matchAdd(rx.slot, rx.gen, 2, { items: [nameRule('org.example.B')] }), 0);
  assert.is(raw.matchAdd(rx2.slot, rx2.gen, 1, { items: [nameRule('org.example.A')] }), 0);
  assert.is(nameRules(raw), 3);
  assert.is(bcast(raw, s), 0);
  assert.is(take(raw, rx), null, 'name matches, the ID rule does not; no entry names B');
  assert.ok(take(raw, rx2) !== null);
  assert.is(raw.matchRemove(rx.slot, rx.gen, 2), 0);
  assert.is(nameRules(raw), 2);
  assert.is(raw.matchAdd(rx.slot, rx.gen, 2, { flags: A.MATCH_REPLACE, items: [{ type: A.ITEM_ID, data: [s.id] }] }), 0);
  assert.is(nameRules(raw), 2, 'an entry without a NAME rule');
  // a closed connection's entries stop counting at its close (before BUS_VERSION 16 they
  // counted until a later MATCH_ADD took their entry again, keeping signals on the bus lock)
  assert.is(raw.byebye(rx2.slot, rx2.gen), 0);
  assert.is(nameRules(raw), 1, 'the closed connection\'s NAME rule no longer counts');
  assert.equal(checkBus(raw.e), []);
  for (let i = 0; i < 12 && raw.matchAdd(rx.slot, rx.gen, 10 + i) === 0; i++);
  assert.is(nameRules(raw), 1, 'its entry taken again');
  assert.equal(checkBus(raw.e), []);
  assert.is(raw.nameRelease(s.slot, s.gen, 'org.example.A'), 0);
  drain(raw, rx); // entries without rules match the NAME_REMOVE
});

t('a name in a NAME_* rule: notifications about that name only', ({ raw }) => {
  const w = open(raw), a = open(raw), b = open(raw);
  assert.is(raw.matchAdd(w.slot, w.gen, 1, { items: [nameNotify(A.ITEM_NAME_ADD, 'org.example.Watched')] }), 0);
  assert.is(raw.matchAdd(w.slot, w.gen, 2, { items: [nameNotify(A.ITEM_NAME_CHANGE, 'org.example.Watched')] }), 0);
  assert.is(raw.matchAdd(w.slot, w.gen, 3, { items: [nameNotify(A.ITEM_NAME_REMOVE, 'org.example.Watched')] }), 0);
  assert.is(nameRules(raw), 0, 'notification rules are not NAME rules');
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.example.Other').r, 0);
  assert.is(take(raw, w), null, 'another name: not delivered');
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.example.Watched', A.NAME_ALLOW_REPLACEMENT).r, 0);
  let m = take(raw, w);
  assert.is(m?.item, A.ITEM_NAME_ADD);
  assert.is(m?.name, 'org.example.Watched');
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.example.Watched', A.NAME_REPLACE_EXISTING).r, 0);
  m = take(raw, w);
  assert.is(m?.item, A.ITEM_NAME_CHANGE, 'passed on to b');
  assert.is(m?.name, 'org.example.Watched');
  assert.is(raw.nameRelease(a.slot, a.gen, 'org.example.Other'), 0);
  assert.is(take(raw, w), null);
  assert.is(raw.nameRelease(b.slot, b.gen, 'org.example.Watched'), 0);
  m = take(raw, w);
  assert.is(m?.item, A.ITEM_NAME_REMOVE);
  assert.is(take(raw, w), null);
  assert.equal(checkBus(raw.e), []);
});

t('a name of MAX_NAME_LEN bytes is stored whole', ({ raw }) => {
  const s = open(raw), rx = open(raw);
  const long = 'org.' + 'x'.repeat(A.MAX_NAME_LEN - 4), other = long.slice(0, -1) + 'y';
  assert.is(raw.matchAdd(rx.slot, rx.gen, 1, { items: [nameRule(long)] }), 0);
  assert.is(raw.nameAcquire(s.slot, s.gen, other).r, 0);
  assert.is(bcast(raw, s), 0);
  assert.is(take(raw, rx), null, 'differs in the last byte');
  assert.is(raw.nameAcquire(s.slot, s.gen, long).r, 0);
  assert.is(bcast(raw, s), 0);
  assert.ok(take(raw, rx) !== null);
  assert.is(raw.nameRelease(s.slot, s.gen, long), 0);
  assert.is(raw.nameRelease(s.slot, s.gen, other), 0);
});

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

big('a 200 KiB broadcast with host vecs reaches 3 receivers; the staging slice is freed', ({ raw, e }) => {
  const s = open(raw, { poolSize: 2 * MiB }), rx = [0, 1, 2].map(() => open(raw, { poolSize: 2 * MiB }));
  const none = open(raw, { poolSize: 2 * MiB }); // a bloom rule that does not match
  for (const h of rx) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
  assert.is(raw.matchAdd(none.slot, none.gen, 1, { items: [{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(BLOOM).fill(255) }] }), 0);
  const body = pattern(200 * 1024, 3);
  raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(body.length), filter()] });
  assert.is(e.send(s.slot, s.gen), A.SEND_PENDING, 'staged');
  assert.is(e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_OP) >>> 2], A.OP_BCAST);
  assert.ok(e.poolUsed(s.slot) > body.length, 'the staging slice is in the sender\'s pool');
  for (const h of rx) assert.is(e.queued(h.slot), 0, 'nothing delivered before send_commit');
  // the host copies the bytes where the command's vec now points, once
  raw.e.u8.set(body, vecDest(raw));
  assert.is(e.sendCommit(), 0);
  assert.is(e.poolUsed(s.slot), 0, 'staging slice freed');
  for (const h of rx) {
    const m = take(raw, h);
    assert.ok(m !== null);
    assert.is(m!.src, s.id);
    assert.equal(m!.payload, body);
  }
  assert.is(take(raw, none), null);
  assert.equal(checkBus(e), []);
});

/** The address the core rewrote the first (host) vec of the command's message to. */
function vecDest(raw: Raw): number {
  const msg = raw.r64(raw.cmd + A.SEND_MSG_ADDRESS);
  return raw.r64(msg + A.MSG_HDR + A.VEC_ADDRESS);
}

big('host and shared-memory vecs mixed, and padding, in one staged broadcast', ({ raw }) => {
  const s = open(raw, { poolSize: 2 * MiB }), rx = open(raw, { poolSize: 2 * MiB });
  assert.is(raw.matchAdd(rx.slot, rx.gen, 1), 0);
  const mem = raw.cmd + 16384;
  raw.e.u8.set(pattern(100, 9), mem);
  const h1 = pattern(70000, 1), h2 = pattern(5, 2);
  assert.is(bcast(raw, s, [hostVec(h1.length), vec(100, mem), vec(8, 0), hostVec(h2.length)], [h1, h2]), 0);
  const m = raw.recv(rx.slot, rx.gen);
  assert.is(m.r, 0);
  const sl = raw.slice(rx.slot, m.offset);
  const got: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    const it = sl + A.MSG_HDR + i * A.VEC_ITEM_SIZE;
    assert.is(raw.r64(it + A.ITEM_TYPE), A.ITEM_PAYLOAD_OFF);
    if (raw.r64big(it + A.VEC_ADDRESS) === ALL) { got.push(new Uint8Array(0)); continue; } // padding
    const off = raw.r64(it + A.VEC_ADDRESS), n = raw.r64(it + A.VEC_SIZE);
    got.push(raw.e.u8.slice(sl + off, sl + off + n));
  }
  assert.equal(got, [h1, pattern(100, 9), new Uint8Array(0), h2]);
  assert.is(raw.free(rx.slot, rx.gen, m.offset), 0);
  assert.is(raw.e.poolUsed(s.slot), 0);
  assert.equal(checkBus(raw.e), []);
});

big('staging: the sender\'s own pool decides (ENOBUFS / EXFULL); send_cancel frees; BYEBYE waits; nothing leaked', ({ raw, e }) => {
  const small = open(raw, { poolSize: 65536 }), s = open(raw, { poolSize: 2 * MiB }), rx = open(raw, { poolSize: 2 * MiB });
  assert.is(raw.matchAdd(rx.slot, rx.gen, 1), 0);
  // a third of half of 64 KiB: a 20 KiB payload never fits the sender's own quota
  assert.is(bcast(raw, small, [hostVec(20000)]), -A.ENOBUFS);
  assert.is(raw.reason.reason, A.R_SEND_BCAST_STAGING);
  assert.ok(raw.message(-A.ENOBUFS, 'SEND'));
  assert.is(e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_OP) >>> 2], A.OP_NONE, 'nothing pending');
  assert.is(e.poolUsed(small.slot), 0);
  assert.is(take(raw, rx), null);
  // the staging slice still fits the quota, but the pool is full of the sender's own messages
  for (let i = 0; i < 40 && unicastBig(raw, rx, small) === 0; i++);
  const r = bcast(raw, small, [hostVec(8000)]);
  assert.ok(r === -A.ENOBUFS || r === -A.EXFULL, `the pool's errno: ${r}`);
  assert.is(raw.reason.reason, A.R_SEND_BCAST_STAGING);
  drain(raw, small);
  // send_cancel frees the staging slice, delivers nothing
  raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100000), filter()] });
  assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
  assert.is(raw.byebye(s.slot, s.gen), -A.EINPROGRESS, 'a staging slice in flight keeps the sender');
  assert.is(raw.reason.reason, A.R_OP_PENDING);
  assert.is(raw.send(s.slot, s.gen, { msg: { dst: rx.id } }), -A.EINPROGRESS, 'one reservation per thread');
  assert.is(e.sendCancel(), 0);
  assert.is(e.poolUsed(s.slot), 0);
  assert.is(take(raw, rx), null, 'cancelled: delivered to nobody');
  assert.is(e.sendCommit(), -A.EINVAL, 'nothing pending any more');
  assert.is(raw.reason.reason, A.R_SEND_NOT_PENDING);
  assert.equal(checkBus(e), []);
});

/** a 4000-byte unicast from `from` to `to` (filling to's pool); 0 or -errno */
function unicastBig(raw: Raw, from: H, to: H): number {
  return raw.send(from.slot, from.gen, { msg: { dst: to.id }, items: [hostVec(4000)] });
}

t("a host-vec broadcast from a connection that has max_queued_per_user messages of its own user queued: its staging slice is not a message queued there (stop 65, an outside reading)", async () => {
  // (the staging slice was charged with the message count limit: every thread of a process is
  // one user, so a main thread with its workers' requests queued could not emit a large signal)
  const bus = await Bus.create({ engine: ENGINE, provider: new MockProvider({ seed: 1 }), limits: { ...SMALL, poolMax: 1 << 20, maxQueuedPerUser: 3 } });
  try {
    const main = bus.connect({ poolSize: 262144 }), worker = bus.connect(), sub = bus.connect({ poolSize: 1 << 20 }); // (sub: room for both)
    sub.addMatch("interface='org.x.I'");
    const body = 'x'.repeat(40000); // a host vec: larger than the command area
    main.signal('/p', 'org.x.I', 'M', 's', [body]);
    for (let i = 0; i < 3; i++) worker.send(main.id, new Uint8Array(8)); // the worker's requests: main's quota for their user is full
    assert.throws(() => worker.send(main.id, new Uint8Array(8)), (e: BusError) => e.code === 'ENOBUFS' && e.reason === A.R_SEND_QUOTA_MSGS);
    main.signal('/p', 'org.x.I', 'M', 's', [body]);
    assert.is(sub.queued, 2, 'both delivered');
    while (sub.drop()) { /* */ }
    while (main.drop()) { /* */ }
    assert.equal(bus.check(), []);
    main.close(); worker.close(); sub.close();
  } finally {
    bus.close();
  }
});

t.run();
big.run();
