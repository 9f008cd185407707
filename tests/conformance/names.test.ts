// Names: NAME_ACQUIRE / NAME_RELEASE with every flag, the FIFO queue, replacement,
// re-acquire, every errno in kdbus's order, SEND by name, names passed on at disconnect and
// LIST. The harness checks the registry (tests/helpers/check.ts) after every test.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { checkNames } from '../helpers/check.ts';
import { hostVec, str } from '../helpers/raw.ts';

const t = busSuite('names', { limits: { threads: 4, connections: 8, poolMax: 262144, names: 300, matches: 16, replies: 16 } });
const { REPLACE_EXISTING: RE, ALLOW_REPLACEMENT: AR, QUEUE: Q } = { REPLACE_EXISTING: A.NAME_REPLACE_EXISTING, ALLOW_REPLACEMENT: A.NAME_ALLOW_REPLACEMENT, QUEUE: A.NAME_QUEUE };
const P = A.NAME_PRIMARY, ACQ = A.NAME_ACQUIRED, INQ = A.NAME_IN_QUEUE;
const N = 'org.example.Service';

type Raw = Parameters<typeof open>[0];
/** the primary owner's id of `name`, by LIST (0: none) */
function ownerOf(raw: Raw, h: { slot: number; gen: number }, name: string): number {
  const l = raw.list(h.slot, h.gen, A.LIST_NAMES);
  assert.is(l.r, 0);
  const e = l.entries.find((x) => x.name === name);
  return e ? Number(e.id) : 0;
}
function queueOf(raw: Raw, h: { slot: number; gen: number }, name: string): number[] {
  const l = raw.list(h.slot, h.gen, A.LIST_NAMES | A.LIST_QUEUED);
  return l.entries.filter((x) => x.name === name).map((x) => Number(x.id));
}

t('acquire a free name: PRIMARY | ACQUIRED; again: PRIMARY (already the owner)', ({ raw }) => {
  const a = open(raw);
  assert.equal(raw.nameAcquire(a.slot, a.gen, N), { r: 0, flags: P | ACQ });
  assert.equal(raw.nameAcquire(a.slot, a.gen, N, AR), { r: 0, flags: P });
  assert.is(ownerOf(raw, a, N), a.id);
  assert.is(raw.nameRelease(a.slot, a.gen, N), 0);
  assert.is(ownerOf(raw, a, N), 0);
});

t('taken without QUEUE: EEXIST, nothing changes', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  raw.nameAcquire(a.slot, a.gen, N);
  assert.is(raw.nameAcquire(b.slot, b.gen, N).r, -A.EEXIST);
  assert.is(raw.reason.reason, A.R_NAME_TAKEN);
  assert.is(raw.nameAcquire(b.slot, b.gen, N, RE).r, -A.EEXIST, 'REPLACE_EXISTING needs ALLOW_REPLACEMENT');
  assert.equal(queueOf(raw, a, N), [a.id]);
  assert.equal(checkNames(e), []);
});

t('QUEUE: FIFO; the primary leaving passes the name to the first in line', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  raw.nameAcquire(a.slot, a.gen, N);
  assert.equal(raw.nameAcquire(b.slot, b.gen, N, Q), { r: 0, flags: INQ | ACQ });
  assert.equal(raw.nameAcquire(c.slot, c.gen, N, Q), { r: 0, flags: INQ | ACQ });
  assert.equal(raw.nameAcquire(c.slot, c.gen, N, Q), { r: 0, flags: INQ }, 'already queued');
  assert.equal(queueOf(raw, a, N), [a.id, b.id, c.id].sort((x, y) => x - y), 'LIST by connection slot');
  assert.is(raw.nameRelease(a.slot, a.gen, N), 0);
  assert.is(ownerOf(raw, a, N), b.id);
  assert.is(raw.nameRelease(b.slot, b.gen, N), 0);
  assert.is(ownerOf(raw, a, N), c.id);
  assert.is(raw.nameRelease(c.slot, c.gen, N), 0);
  assert.is(ownerOf(raw, a, N), 0);
});

t('queued, asking again without QUEUE: leaves the queue (0, no flags)', ({ raw }) => {
  const a = open(raw), b = open(raw);
  raw.nameAcquire(a.slot, a.gen, N);
  raw.nameAcquire(b.slot, b.gen, N, Q);
  assert.equal(raw.nameAcquire(b.slot, b.gen, N), { r: 0, flags: 0 });
  assert.equal(queueOf(raw, a, N), [a.id]);
  assert.is(raw.nameRelease(b.slot, b.gen, N), -A.EADDRINUSE);
});

t('replacement: ALLOW_REPLACEMENT + REPLACE_EXISTING; the old owner queues only with QUEUE', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  raw.nameAcquire(a.slot, a.gen, N, AR | Q);
  assert.equal(raw.nameAcquire(b.slot, b.gen, N, RE | AR), { r: 0, flags: P | ACQ });
  assert.is(ownerOf(raw, a, N), b.id);
  assert.equal(queueOf(raw, a, N).sort(), [a.id, b.id].sort(), 'a stays queued (it had QUEUE)');
  // b allows replacement without QUEUE: c replaces it, b loses the name, a is still queued
  assert.equal(raw.nameAcquire(c.slot, c.gen, N, RE), { r: 0, flags: P | ACQ });
  assert.is(ownerOf(raw, a, N), c.id);
  assert.is(raw.nameRelease(b.slot, b.gen, N), -A.EADDRINUSE);
  // c does not allow replacement: a queued connection cannot take over
  assert.is(raw.nameAcquire(a.slot, a.gen, N, RE | Q).flags, INQ);
  // c leaves: a (first in line: it was second after c) gets it
  assert.is(raw.nameRelease(c.slot, c.gen, N), 0);
  assert.is(ownerOf(raw, a, N), a.id);
  raw.nameRelease(a.slot, a.gen, N);
});

t('a queued connection replacing the primary moves to the head (PRIMARY | ACQUIRED)', ({ raw }) => {
  const a = open(raw), b = open(raw);
  raw.nameAcquire(a.slot, a.gen, N, AR);
  raw.nameAcquire(b.slot, b.gen, N, Q);
  assert.equal(raw.nameAcquire(b.slot, b.gen, N, RE), { r: 0, flags: P | ACQ });
  assert.equal(queueOf(raw, a, N), [b.id]);
  raw.nameRelease(b.slot, b.gen, N);
});

t('release: ESRCH for a name nobody owns, EADDRINUSE for one the caller does not own', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.nameRelease(a.slot, a.gen, N), -A.ESRCH);
  assert.is(raw.reason.reason, A.R_NAME_UNKNOWN);
  assert.is(raw.nameRelease(a.slot, a.gen, 'not a name'), -A.ESRCH, 'no syntax check on release (kdbus)');
  raw.nameAcquire(a.slot, a.gen, N);
  assert.is(raw.nameRelease(b.slot, b.gen, N), -A.EADDRINUSE);
  assert.is(raw.reason.reason, A.R_NAME_NOT_OWNER);
  raw.nameRelease(a.slot, a.gen, N);
});

t('validation: flags, items, name syntax, in order', ({ raw }) => {
  const a = open(raw);
  assert.is(raw.nameAcquire(a.slot, a.gen, N, 8).r, -A.EINVAL);
  assert.is(raw.reason.reason, A.R_CMD_FLAGS);
  assert.is(raw.nameRelease(a.slot, a.gen, N, A.NAME_QUEUE), -A.EINVAL, 'release takes no flags');
  assert.is(raw.nameAcquire(a.slot, a.gen, N, 0, { items: [] }).r, -A.EINVAL);
  assert.is(raw.reason.reason, A.R_NAME_MISSING);
  assert.is(raw.nameAcquire(a.slot, a.gen, N, 0, { items: [str(A.ITEM_NAME, N), str(A.ITEM_NAME, N)] }).r, -A.EINVAL);
  assert.is(raw.reason.reason, A.R_ITEM_DUPLICATE);
  assert.is(raw.nameAcquire(a.slot, a.gen, N, 0, { items: [str(A.ITEM_DST_NAME, N)] }).r, -A.EINVAL);
  assert.is(raw.reason.reason, A.R_ITEM_UNKNOWN);
  for (const bad of ['org', 'org.', '.org.x', 'org..x', 'org.1x', 'org.x!', 'a.' + 'b'.repeat(254)]) {
    assert.is(raw.nameAcquire(a.slot, a.gen, bad).r, -A.EINVAL, bad);
    assert.is(raw.reason.reason, A.R_NAME_INVALID);
  }
  assert.is(raw.nameAcquire(a.slot, a.gen, 'a.' + 'b'.repeat(253)).r, 0, '255 bytes');
  assert.is(raw.nameAcquire(a.slot, a.gen, '_a.b-1.c_').r, 0);
  assert.ok(raw.message(-A.EINVAL, 'NAME_ACQUIRE') !== null);
});

t('per-connection limit: E2BIG at MAX_NAMES_PER_CONN (owned + queued), before the registry', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  raw.nameAcquire(b.slot, b.gen, 'org.q.x');
  for (let i = 0; i < A.MAX_NAMES_PER_CONN - 1; i++) assert.is(raw.nameAcquire(a.slot, a.gen, `org.n.x${i}`).r, 0);
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.q.x', Q).flags, INQ | ACQ, 'a queued name counts');
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.n.more').r, -A.E2BIG);
  assert.equal(raw.reason, { reason: A.R_NAME_CONN_LIMIT, arg: A.MAX_NAMES_PER_CONN });
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.n.x0').r, -A.E2BIG, 'even for a name it owns (kdbus counts first)');
  assert.equal(checkNames(e), []);
  assert.is(raw.nameRelease(a.slot, a.gen, 'org.n.x0'), 0);
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.n.more').r, 0);
});

t('bus-wide table full: ENFILE, after the per-connection limit', async () => {
  const { makeBus } = await import('../helpers/harness.ts');
  const { bus } = await makeBus({ limits: { threads: 2, connections: 4, poolMax: 65536, names: 3, matches: 0, replies: 0 } });
  const { Raw } = await import('../helpers/raw.ts');
  const raw = new Raw(bus.engine);
  const a = open(raw), b = open(raw);
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.a.x').r, 0);
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.a.y').r, 0);
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.x', Q).r, 0);
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.z').r, -A.ENFILE);
  assert.equal(raw.reason, { reason: A.R_NAME_TABLE_FULL, arg: 3 });
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.y', Q).r, -A.ENFILE, 'a queue entry needs a record too');
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.y').r, -A.EEXIST, 'no record needed: EEXIST');
  // a replacement whose old owner did not ask to queue needs no record more: its record is
  // the new owner's (ENFILE before stop 46: an outside audit); one that queues keeps its record
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.a.y', A.NAME_ALLOW_REPLACEMENT).r, 0, 'a allows replacement (flags updated)');
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.y', A.NAME_REPLACE_EXISTING).flags, A.NAME_PRIMARY | A.NAME_ACQUIRED, 'replaced on a full table');
  assert.is(ownerOf(raw, b, 'org.a.y'), b.id);
  assert.equal(queueOf(raw, b, 'org.a.y'), [b.id], 'a left (it did not ask to queue)');
  assert.equal(checkNames(bus.engine), []);
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.y', A.NAME_ALLOW_REPLACEMENT | Q).r, 0);
  assert.is(raw.nameAcquire(a.slot, a.gen, 'org.a.y', A.NAME_REPLACE_EXISTING).r, -A.ENFILE, 'the old owner queues: a record more');
  assert.is(ownerOf(raw, a, 'org.a.y'), b.id, 'unchanged');
  assert.equal(checkNames(bus.engine), []);
  assert.is(raw.byebye(a.slot, a.gen), 0);
  assert.is(raw.nameAcquire(b.slot, b.gen, 'org.a.z').r, 0, 'records freed at disconnect are reused');
  assert.equal(checkNames(bus.engine), []);
  assert.is(raw.byebye(b.slot, b.gen), 0);
  assert.equal(checkNames(bus.engine), []);
});

t('disconnect passes each name on to the next in its queue and drops its queue entries', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  raw.nameAcquire(a.slot, a.gen, 'org.x.one');
  raw.nameAcquire(a.slot, a.gen, 'org.x.two');
  raw.nameAcquire(b.slot, b.gen, 'org.x.one', Q);
  raw.nameAcquire(c.slot, c.gen, 'org.x.three');
  raw.nameAcquire(a.slot, a.gen, 'org.x.three', Q);
  assert.is(raw.byebye(a.slot, a.gen), 0);
  assert.is(ownerOf(raw, b, 'org.x.one'), b.id);
  assert.is(ownerOf(raw, b, 'org.x.two'), 0);
  assert.equal(queueOf(raw, b, 'org.x.three'), [c.id]);
});

t('SEND by name: ESRCH, EREMCHG, delivered to the primary owner with DST_NAME', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  const send = (dst: number | bigint, name: string) => raw.send(a.slot, a.gen, { msg: { dst }, items: [str(A.ITEM_DST_NAME, name), hostVec(4)] });
  assert.is(send(0, N), -A.ESRCH);
  assert.is(raw.reason.reason, A.R_SEND_NAME_NO_OWNER);
  raw.nameAcquire(b.slot, b.gen, N);
  raw.nameAcquire(c.slot, c.gen, N, Q);
  assert.is(send(c.id, N), -A.EREMCHG);
  assert.is(raw.reason.reason, A.R_SEND_NAME_DST_ID);
  assert.is(send(b.id, N), 0, 'dst_id = the owner: fine');
  assert.is(send(0, N), 0);
  for (let i = 0; i < 2; i++) {
    const m = raw.recv(b.slot, b.gen);
    assert.is(m.r, 0);
    const s = raw.slice(b.slot, m.offset);
    assert.is(raw.r64(s + A.MSG_SRC_ID), a.id);
    assert.is(raw.r64(s + A.MSG_HDR + A.ITEM_TYPE), A.ITEM_DST_NAME, 'the DST_NAME item is delivered');
    assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  }
  assert.is(raw.recv(c.slot, c.gen).r, -A.EAGAIN, 'the queued owner gets nothing');
  raw.nameRelease(b.slot, b.gen, N);
  assert.is(send(0, N), 0, 'the next owner');
  const m = raw.recv(c.slot, c.gen);
  assert.is(m.r, 0);
  raw.free(c.slot, c.gen, m.offset);
  raw.nameRelease(c.slot, c.gen, N);
});

t('LIST: UNIQUE, NAMES, QUEUED records, flags; empty list; errors', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  let l = raw.list(a.slot, a.gen, A.LIST_UNIQUE);
  assert.equal(l.entries.map((x) => [Number(x.id), x.name]), [[a.id, undefined], [b.id, undefined]]);
  assert.is(l.size, 2 * A.KINFO_HDR);
  l = raw.list(a.slot, a.gen, A.LIST_NAMES);
  assert.is(l.size, 0);
  assert.is(l.offset, e.u32[(e.connAddr(a.slot) + A.CONN_POOL_SIZE) >>> 2], 'empty: offset = pool size');
  raw.nameAcquire(a.slot, a.gen, 'org.l.one', AR);
  raw.nameAcquire(b.slot, b.gen, 'org.l.one', Q);
  l = raw.list(a.slot, a.gen, A.LIST_NAMES);
  assert.equal(l.entries.map((x) => [Number(x.id), x.name, x.nameFlags]), [[a.id, 'org.l.one', AR | P]]);
  l = raw.list(a.slot, a.gen, A.LIST_NAMES | A.LIST_QUEUED | A.LIST_UNIQUE);
  assert.equal(l.entries.map((x) => [Number(x.id), x.name, x.nameFlags]), [[a.id, 'org.l.one', AR | P], [b.id, 'org.l.one', Q | INQ]]);
  l = raw.list(a.slot, a.gen, A.LIST_NAMES | A.LIST_UNIQUE);
  assert.equal(l.entries.map((x) => [Number(x.id), x.name]), [[a.id, 'org.l.one'], [b.id, undefined]], 'b bare: its queued name is not asked for');
  assert.is(l.size % 8, 0);
  assert.is(raw.list(a.slot, a.gen, 16).r, -A.EINVAL);
  assert.is(raw.reason.reason, A.R_CMD_FLAGS);
  assert.is(raw.list(a.slot, a.gen, 1, { size: A.LIST_CMD_SIZE + 16 }).r, -A.EINVAL);
  assert.is(raw.reason.reason, A.R_CMD_ITEMS);
  const k = raw.list(a.slot, a.gen, A.LIST_UNIQUE, { keep: true });
  assert.is(raw.free(a.slot, a.gen, k.offset), 0, 'the list is a published slice');
  raw.nameRelease(a.slot, a.gen, 'org.l.one');
  raw.nameRelease(b.slot, b.gen, 'org.l.one');
});

t('LIST in a full pool: EXFULL, nothing changes', ({ raw, e }) => {
  const a = open(raw, { poolSize: 4096 }), b = open(raw);
  for (let i = 0; i < 40; i++) raw.nameAcquire(b.slot, b.gen, `org.full.name-with-a-long-tail-${'x'.repeat(60)}${i}`);
  const used = e.poolUsed(a.slot);
  assert.is(raw.list(a.slot, a.gen, A.LIST_NAMES).r, -A.EXFULL);
  assert.is(raw.reason.reason, A.R_LIST_POOL_FULL);
  assert.is(e.poolUsed(a.slot), used);
});

t('a closed handle: ECONNRESET for every names command', ({ raw }) => {
  const a = open(raw);
  raw.byebye(a.slot, a.gen);
  assert.is(raw.nameAcquire(a.slot, a.gen, N).r, -A.ECONNRESET);
  assert.is(raw.nameRelease(a.slot, a.gen, N), -A.ECONNRESET);
  assert.is(raw.list(a.slot, a.gen, 1).r, -A.ECONNRESET);
});

t.run();
