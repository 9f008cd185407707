// Monitors (issue 8 item 7): a copy of every unicast (memory and host vectors: the copy of a
// two-phase send is made at send_commit, none after send_cancel), broadcast and bus
// notification; what a monitor cannot do (EOPNOTSUPP), cannot be (addressed: ENXIO; listed;
// announced), and a full monitor pool losing its copy (DROPPED) without failing the sender.
import * as assert from 'uvu/assert';
import { Bus, BusError, abi as A, type Connection } from '../../js/index.ts';
import { busSuite, open, ENGINE } from '../helpers/harness.ts';
import { vec, hostVec } from '../helpers/raw.ts';

const t = busSuite('monitors');
const fails = (f: () => unknown): [string, number] => {
  try { f(); } catch (e) { return [(e as BusError).code, (e as BusError).reason ?? -1]; }
  return ['ok', 0];
};
/** every queued message of `c`, summed up (`from>to:what`), freed */
function drain(c: Connection): string[] {
  const out: string[] = [];
  for (let m = c.recv(); m; m = c.recv()) {
    const n = m.notification;
    const what = n ? n.kind + ('name' in n ? `:${n.name}` : `:${n.id}`) : m.flags & A.MSG_SIGNAL ? 'signal' : m.text();
    // (a broadcast signal and a notification both say dst_id ~0: m.dst 2 ** 64)
    out.push(`${m.src}>${m.flags & A.MSG_SIGNAL || m.dst === 2 ** 64 ? 'all' : m.dst}:${what}`);
    m.free();
  }
  return out;
}

t('a monitor gets a copy of each unicast, broadcast and notification; the receivers get theirs', ({ bus }) => {
  const mon = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  assert.equal(drain(mon), [`0>all:id-add:${a.id}`, `0>all:id-add:${b.id}`], 'the ID_ADDs of a and b');
  a.sendText(b.id, 'hi'); // host vector: the copy is made at send_commit
  b.sendText(a.id, 'yo');
  b.addMatch("type='signal',interface='org.example.Mon'");
  a.emit({ path: '/o', interface: 'org.example.Mon', member: 'Ping', signature: '', body: [] });
  a.requestName('org.example.Mon');
  assert.equal(drain(b), [`${a.id}>${b.id}:hi`, `${a.id}>all:signal`]);
  assert.equal(drain(a), [`${b.id}>${a.id}:yo`]);
  assert.equal(drain(mon), [`${a.id}>${b.id}:hi`, `${b.id}>${a.id}:yo`, `${a.id}>all:signal`, `0>all:name-add:org.example.Mon`]);
  // a copy of a message sent by name shows the name and the owner it went to
  b.sendText('org.example.Mon', 'n');
  const copy = mon.recv()!;
  assert.equal([copy.src, copy.dst, copy.dstName, copy.text()], [b.id, a.id, 'org.example.Mon', 'n']);
  copy.free();
  assert.equal(drain(a), [`${b.id}>${a.id}:n`]);
  // a second monitor: never announced to the first (no ID_ADD / ID_REMOVE), both get copies
  const mon2 = bus.connect({ monitor: true });
  a.sendText(b.id, 'two');
  const m1 = drain(mon), m2 = drain(mon2);
  assert.equal([m1, m2], [[`${a.id}>${b.id}:two`], [`${a.id}>${b.id}:two`]]);
  mon2.close();
  a.close();
  assert.equal(drain(mon), [`0>all:name-remove:org.example.Mon`, `0>all:id-remove:${a.id}`]);
  assert.equal(drain(b), [`${a.id}>${b.id}:two`]);
  b.close();
  assert.equal(drain(mon), [`0>all:id-remove:${b.id}`]);
  mon.close();
});

t('a monitor cannot send, own names or add matches (EOPNOTSUPP), be addressed (ENXIO) or be listed', ({ bus }) => {
  const mon = bus.connect({ monitor: true }), a = bus.connect();
  assert.equal(fails(() => mon.sendText(a.id, 'x')), ['EOPNOTSUPP', A.R_SEND_SENDER_KIND]);
  assert.equal(fails(() => mon.requestName('org.example.M')), ['EOPNOTSUPP', A.R_NAME_CALLER_KIND]);
  assert.equal(fails(() => mon.releaseName('org.example.M')), ['EOPNOTSUPP', A.R_NAME_CALLER_KIND]);
  assert.equal(fails(() => mon.addMatch("type='signal'")), ['EOPNOTSUPP', A.R_MATCH_SENDER_KIND]);
  assert.equal(fails(() => a.sendText(mon.id, 'x')), ['ENXIO', A.R_SEND_RECEIVER_KIND]);
  assert.equal(a.listPeers(), [a.id]);
  assert.equal(mon.list({ unique: true, names: true, queued: true, activators: true }).map((x) => x.id), [a.id], 'listed by nobody, itself included');
  assert.is(a.queued, 0);
  a.close();
  assert.equal(drain(mon), [`0>all:id-add:${a.id}`, `0>all:id-remove:${a.id}`], 'nothing copied from the failed sends');
  mon.close();
});

t('a monitor or an activator cannot export or dispatch (EOPNOTSUPP): a monitor\'s copy of another\'s call is not its to answer', async ({ bus }) => {
  const mon = bus.connect({ monitor: true }), act = bus.connect({ activator: 'org.example.Act' });
  const a = bus.connect(), b = bus.connect();
  for (const [who, c] of [['a monitor', mon], ['an activator', act]] as const) {
    const e = fails(() => c.export('/o', 'org.example.I', { M: () => [] }));
    assert.equal(e, ['EOPNOTSUPP', 0], `${who}: export`);
  }
  let ran = 0;
  b.export('/o', 'org.example.I', { M: () => { ran++; return []; } });
  const p = a.callMethod({ destination: b.id, path: '/o', interface: 'org.example.I', member: 'M' }, { timeout: 5000 });
  const call = b.recv()!;
  assert.is(b.dispatch(call), 1);
  call.free();
  await p;
  assert.is(ran, 1);
  let copies = 0;
  for (let m; (m = mon.recv()) !== null; m.free()) {
    if (!m.expectsReply) continue;
    copies++;
    assert.throws(() => mon.dispatch(m), (x: BusError) => x.code === 'EOPNOTSUPP' && /a monitor cannot dispatch messages \(it cannot send, so it could answer no method call/.test(x.message));
  }
  assert.is(copies, 1, 'the monitor saw the call');
  assert.is(ran, 1, 'no handler ran for the monitor\'s copy');
  assert.is(a.queued, 0, 'nothing was sent back to the caller');
  for (const c of [a, b, act]) c.close();
  drain(mon);
  mon.close();
});

t('raw: MATCH_ADD / MATCH_REMOVE check the caller\'s kind before the header, as SEND and NAME_ACQUIRE do (stop 48)', ({ raw, e }) => {
  // (a monitor's oversized MATCH_ADD said EMSGSIZE, its well-formed one EOPNOTSUPP: the header
  // came first, unlike every other command and kdbus; an outside audit of the raw ABI)
  const m = open(raw, { flags: A.HELLO_MONITOR });
  for (const [size, flags] of [[40000, 0], [A.MATCH_CMD_SIZE, 1 << 20], [8, 0]] as const) {
    assert.is(raw.matchAdd(m.slot, m.gen, 1, { size, flags }), -A.EOPNOTSUPP, `MATCH_ADD size ${size} flags ${flags}`);
    assert.is(e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_MATCH_SENDER_KIND);
    assert.is(raw.matchRemove(m.slot, m.gen, 1, { size, flags }), -A.EOPNOTSUPP, `MATCH_REMOVE size ${size} flags ${flags}`);
  }
  const a = open(raw);
  assert.is(raw.matchAdd(a.slot, a.gen, 1, { size: 40000 }), -A.EMSGSIZE, 'an ordinary connection: the header');
  for (const h of [m, a]) assert.is(raw.byebye(h.slot, h.gen, A.BYEBYE_DROP), 0); // (the monitor holds a's ID_ADD)
});

t('raw: a copy from the command area at SEND, a host-vector copy at send_commit, none after send_cancel', ({ raw, e }) => {
  const m = open(raw, { flags: A.HELLO_MONITOR });
  const a = open(raw), b = open(raw);
  assert.is(e.u32[(A.BUS_BASE + A.BUS_N_MONITORS) >>> 2], 1, 'the bus counts its monitors');
  const at = raw.cmd + 16384;
  e.u8.set([9, 8, 7], at);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(3, at)] }), 0);
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(2)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.is(e.queued(m.slot), 3, 'two ID_ADDs and one copy: none before the commit');
  assert.is(e.sendCancel(), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(2)], host: [new Uint8Array([5, 6])] }), 0);
  const got: number[][] = [];
  for (let i = 0; i < 2; i++) assert.is(raw.recv(m.slot, m.gen, A.RECV_DROP).r, 0, 'the ID_ADDs');
  for (const s of [b, m]) {
    for (let r = raw.recv(s.slot, s.gen); r.r === 0; r = raw.recv(s.slot, s.gen)) {
      const p = raw.slice(s.slot, r.offset);
      const off = raw.r64(p + A.MSG_HDR + A.VEC_ADDRESS), n = raw.r64(p + A.MSG_HDR + A.VEC_SIZE);
      got.push([s.slot, raw.r64(p + A.MSG_SRC_ID), raw.r64(p + A.MSG_DST_ID), ...e.u8.slice(p + off, p + off + n)]);
      assert.is(raw.free(s.slot, s.gen, r.offset), 0);
    }
  }
  assert.equal(got, [[b.slot, a.id, b.id, 9, 8, 7], [b.slot, a.id, b.id, 5, 6], [m.slot, a.id, b.id, 9, 8, 7], [m.slot, a.id, b.id, 5, 6]]);
  for (const h of [m, a, b]) assert.is(raw.byebye(h.slot, h.gen), 0);
  assert.is(e.u32[(A.BUS_BASE + A.BUS_N_MONITORS) >>> 2], 0);
});

t('a monitor whose pool is full loses the copy (DROPPED), the sender and receiver do not notice', ({ bus }) => {
  const mon = bus.connect({ monitor: true, poolSize: 4096 });
  const a = bus.connect(), b = bus.connect();
  drain(mon);
  const msg = new Uint8Array(100).fill(1);
  for (let i = 0; i < 8; i++) a.send(b.id, msg);
  assert.is(b.queued, 8, 'every message reached its receiver');
  const copies = mon.queued;
  assert.ok(copies > 0 && copies < 8, `the monitor's quota took some (${copies}), not all`);
  const first = mon.recv()!;
  assert.is(mon.lastDropped, 8 - copies, 'the lost copies are counted, reported by the next RECV');
  first.free();
  assert.equal(drain(mon).length, copies - 1);
  drain(b);
  a.close();
  b.close();
  drain(mon);
  mon.close();
});

t('monitors get a notification before any other receiver (kdbus: no reaction seen before its cause), and every copy carries one TIMESTAMP', async ({ bus, mock }) => {
  const sub = bus.connect({ attachRecv: ['timestamp'] });
  sub.addMatch({ notifications: 'id-add' });
  const mon = bus.connect({ monitor: true, attachRecv: ['timestamp'] }); // a later slot than sub
  // sub's lock held by a live thread: the ID_ADD's walk waits there; at that moment the
  // monitor (walked first) has its copy and sub has none
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const lock = (bus.engine.connAddr(bus.stats().connections.find((c) => c.id === sub.id)!.slot) + A.CONN_LOCK) >>> 2;
  assert.is(Atomics.compareExchange(bus.engine.i32, lock, 0, j.engine.threadSlot + 1), 0);
  const x0 = bus.engine as unknown as { waitLock(left: number): void };
  const waitLock = x0.waitLock;
  let seen: [number, number] | null = null;
  x0.waitLock = function (this: unknown, left: number) {
    if (seen === null) {
      seen = [mon.queued, sub.queued];
      Atomics.store(bus.engine.i32, lock, 0);
      Atomics.notify(bus.engine.i32, lock);
    }
    return waitLock.call(this, left);
  };
  let x: Connection;
  try { x = bus.connect(); } finally { x0.waitLock = waitLock; }
  assert.equal(seen, [1, 0], 'at the wait: the monitor has its copy, the subscriber not yet');
  const ms = mon.recv()!, ss = sub.recv()!;
  assert.equal([ms.notification?.kind, ss.notification?.kind], ['id-add', 'id-add']);
  // one stamp for the notification (kdbus staged it once); per receiver before stop 25
  assert.equal(ss.timestamp, ms.timestamp, 'the same seqnum and clocks in both copies');
  ms.free();
  ss.free();
  x.close();
  sub.close();
  for (let m = mon.recv(); m; m = mon.recv()) m.free();
  mon.close();
  j.close();
});

t("a monitor whose lock a live thread holds: a SEND, a host-vector SEND and a SEND_BATCH wait for it, and every monitor gets every copy (they were lost before stop 26); a holder that is not LIVE is passed over after its grace, that monitor's loss counted", async ({ bus, mock }) => {
  const mon = bus.connect({ monitor: true }), mon2 = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  drain(mon);
  drain(mon2);
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const i32 = bus.engine.i32;
  const lock = (bus.engine.connAddr(bus.stats().connections.find((c) => c.id === mon.id)!.slot) + A.CONN_LOCK) >>> 2;
  /** each message's first byte, the DROPPED_MSGS reported with it, freed */
  const got = (c: Connection): string[] => {
    const out: string[] = [];
    for (let m = c.recv(); m; m = c.recv()) { out.push(`${m.payload[0]}/${c.lastDropped}`); m.free(); }
    return out;
  };
  // j (LIVE) holds the monitor's lock; it lets go when the sender first waits for it
  const x0 = bus.engine as unknown as { waitLock(left: number): void };
  const waitLock = x0.waitLock;
  let waits = 0;
  x0.waitLock = function (this: unknown, left: number) {
    waits++;
    Atomics.store(i32, lock, 0);
    Atomics.notify(i32, lock);
    return waitLock.call(this, left);
  };
  const take = (id: number) => assert.is(Atomics.compareExchange(i32, lock, 0, id), 0, 'the monitor\'s lock was free');
  try {
    take(j.engine.threadSlot + 1);
    a.send(b.id, new Uint8Array([1])); // SEND: the payload in the command area
    take(j.engine.threadSlot + 1);
    a.send(b.id, new Uint8Array(A.SEND_INLINE_MAX + 8).fill(2)); // a host-vector SEND: its copies at send_commit
    take(j.engine.threadSlot + 1);
    assert.is(a.sendMany(b.id, [new Uint8Array([3]), new Uint8Array([4])]), 2); // SEND_BATCH
  } finally {
    x0.waitLock = waitLock;
  }
  assert.is(waits, 3, 'each send waited once for the monitor\'s lock');
  assert.equal(got(b), ['1/0', '2/0', '3/0', '4/0']);
  assert.equal(got(mon), ['1/0', '2/0', '3/0', '4/0'], 'the monitor whose lock was held got every copy');
  assert.equal(got(mon2), ['1/0', '2/0', '3/0', '4/0']);
  // a holder that is not LIVE (a free thread slot's id): the send waits DEAD_HOLDER_GRACE_MS,
  // then passes that monitor over; the other monitor and the receiver get the message
  const n = bus.engine.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2];
  assert.ok(n > 2 && bus.stats().threads.used === 2, 'the last thread slot is free');
  take(n); // (the id of slot n - 1)
  try { a.send(b.id, new Uint8Array([5])); } finally { Atomics.store(i32, lock, 0); }
  a.send(b.id, new Uint8Array([6]));
  assert.equal(got(b), ['5/0', '6/0']);
  assert.equal(got(mon2), ['5/0', '6/0']);
  assert.equal(got(mon), ['6/1'], 'the copy of 5 lost, and said so with the next');
  for (const c of [a, b]) c.close();
  drain(mon);
  drain(mon2);
  mon.close();
  mon2.close();
  j.close();
});

t("sends from the event loop past a monitor whose lock stays taken: the first waits engine.asyncLockWaitMs and passes it over, the next ones only look (each waited again before: an outside audit, stop 26); every message delivered, every lost copy counted", async ({ bus, mock }) => {
  const mon = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  drain(mon);
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const i32 = bus.engine.i32;
  const lock = (bus.engine.connAddr(bus.stats().connections.find((c) => c.id === mon.id)!.slot) + A.CONN_LOCK) >>> 2;
  assert.is(Atomics.compareExchange(i32, lock, 0, j.engine.threadSlot + 1), 0); // j (LIVE) keeps it
  const lockWaits = () => (bus.engine as unknown as { lockWaits: number }).lockWaits; // (EngineBase's counter, for tests)
  const waits0 = lockWaits();
  const N = 20;
  try {
    for (let i = 0; i < N; i++) await a.sendAsync(b.id, new Uint8Array([i]), { timeout: 10000 });
  } finally {
    Atomics.store(i32, lock, 0);
  }
  const waits = lockWaits() - waits0;
  assert.ok(waits >= 1 && waits <= 3, `the sends slept on the monitor's lock ${waits} times in all (one per send before)`);
  const got: number[] = [];
  for (let m = b.recv(); m; m = b.recv()) { got.push(m.payload[0]); m.free(); }
  assert.equal(got, [...Array(N).keys()], 'every message reached its receiver, in order');
  a.send(b.id, new Uint8Array([N])); // the lock free again: this one's copy is made
  b.recv()!.free();
  const m = mon.recv()!;
  assert.equal([m.payload[0], mon.lastDropped], [N, N], 'the monitor lost the N copies and was told so');
  m.free();
  for (const c of [a, b]) c.close();
  drain(mon);
  mon.close();
  j.close();
});

t("a pass-over request for a unicast's monitor that its command did not consume (it stopped at the receiver's lock first: EDEADLK) is dropped when the command ends; left, it passed over the thread's next broadcast's or unicast's held monitors (a review of stop 71)", async ({ bus, mock, e }) => {
  const mon = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const slotOf = (c: Connection) => bus.stats().connections.find((x) => x.id === c.id)!.slot;
  const t0 = e.cmd - A.THREAD_CMD;
  const bLock = (e.connAddr(slotOf(b)) + A.CONN_LOCK) >>> 2;
  assert.is(Atomics.compareExchange(e.i32, bLock, 0, j.engine.threadSlot + 1), 0);
  // the host's request after it gave its wait at the monitor up (engine.skipReceiver writes these)
  e.u32[(t0 + A.THREAD_MON_SKIP) >>> 2] = slotOf(mon) + 1;
  e.u32[(t0 + A.THREAD_BCAST_SKIP) >>> 2] = A.BCAST_SKIP;
  e.lockWaitMs = 0;
  let code = '';
  try { a.send(b.id, new Uint8Array([1])); } catch (err) { code = (err as BusError).code; } finally { e.lockWaitMs = e.syncLockWaitMs; }
  Atomics.store(e.i32, bLock, 0);
  assert.is(code, 'EDEADLK', 'stopped at the receiver');
  assert.is(e.u32[(t0 + A.THREAD_BCAST_SKIP) >>> 2], 0, 'the request dropped with the command');
  // (the next unicast goes as usual: the monitor gets its copy, the receiver its message)
  a.send(b.id, new Uint8Array([2]));
  assert.equal(drain(b), [`${a.id}>${b.id}:\u0002`]);
  assert.equal(drain(mon).filter((x) => x.startsWith(`${a.id}>`)), [`${a.id}>${b.id}:\u0002`]);
  assert.is(mon.lastDropped, 0);
  for (const c of [a, b, mon]) c.close({ drop: true });
  j.close();
});

t("a two-phase send's commit that gave up at its receiver with its monitor's pass-over request unconsumed keeps it for its cancel, which passes the still-held monitor over at once instead of waiting LOCK_WAIT_MS there again (a review of stop 71)", async ({ bus, mock, e, raw }) => {
  const mon = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const slotOf = (c: Connection) => bus.stats().connections.find((x) => x.id === c.id)!.slot;
  const t0 = e.cmd - A.THREAD_CMD, skipWord = (t0 + A.THREAD_BCAST_SKIP) >>> 2;
  const bLock = (e.connAddr(slotOf(b)) + A.CONN_LOCK) >>> 2, mLock = (e.connAddr(slotOf(mon)) + A.CONN_LOCK) >>> 2;
  const holder = j.engine.threadSlot + 1;
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(6000)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.is(Atomics.compareExchange(e.i32, bLock, 0, holder), 0);
  assert.is(Atomics.compareExchange(e.i32, mLock, 0, holder), 0);
  // as after the commit's wait at the monitor gave up (engine.skipReceiver), its run again then meeting the receiver's lock
  e.u32[(t0 + A.THREAD_MON_SKIP) >>> 2] = slotOf(mon) + 1;
  e.u32[skipWord] = A.BCAST_SKIP;
  e.lockWaitMs = 0;
  let k: number;
  try { k = e.sendCommit(); } finally { e.lockWaitMs = e.syncLockWaitMs; }
  assert.is(k, -A.EDEADLK);
  assert.is(e.u32[skipWord], A.BCAST_SKIP, 'kept for the reservation still pending');
  Atomics.store(e.i32, bLock, 0);
  const t1 = performance.now();
  assert.is(e.sendCancel(), 0);
  const took = performance.now() - t1;
  Atomics.store(e.i32, mLock, 0);
  assert.ok(took < A.LOCK_WAIT_MS / 2, `the cancel passed the monitor over at once: ${took.toFixed(1)} ms`);
  assert.is(e.u32[skipWord], 0);
  for (const c of [a, b, mon]) c.close({ drop: true });
  j.close();
});

t("the bus's REPLY_TIMEOUT and REPLY_DEAD to a caller are copied too", async ({ bus }) => {
  const mon = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  for (let m = mon.recv(); m; m = mon.recv()) m.free(); // the ID_ADDs
  // a call that times out (the MockProvider's clock, as calls.test.ts): the call, then the bus's REPLY_TIMEOUT to the caller
  try { await a.call(b.id, new Uint8Array([1]), { timeout: 0.02 }); assert.unreachable('timed out'); } catch (e) { assert.is((e as BusError).code, 'ETIMEDOUT'); }
  const call = mon.recv()!;
  assert.equal([call.src, call.dst, call.expectsReply], [a.id, b.id, true]);
  const cookie = call.cookie;
  call.free();
  const tmo = mon.recv()!;
  assert.equal([tmo.src, tmo.dst, tmo.kernel], [0, a.id, { kind: 'reply-timeout', cookie }]);
  tmo.free();
  assert.is(b.drop(), true, 'b drops the expired call (nothing owed any more)');
  // a call whose replier drops it: REPLY_DEAD
  const p = a.call(b.id, new Uint8Array([2]), { timeout: 5000 });
  const c2 = mon.recv()!;
  const cookie2 = c2.cookie;
  c2.free();
  assert.is(b.drop(), true);
  try { await p; assert.unreachable('dead'); } catch (e) { assert.is((e as BusError).code, 'EPIPE'); }
  const dead = mon.recv()!;
  assert.equal([dead.src, dead.dst, dead.kernel], [0, a.id, { kind: 'reply-dead', cookie: cookie2 }]);
  dead.free();
  assert.is(mon.recv(), null);
  a.close();
  b.close();
  for (let m = mon.recv(); m; m = mon.recv()) m.free();
  mon.close();
});

// (an outside audit, stop 41: dispatch of a signal said "a monitor cannot answer method calls")
t("a monitor's dispatch of a signal or a notification is refused in words that fit it (EOPNOTSUPP), no handler run", ({ bus }) => {
  const mon = bus.connect({ monitor: true });
  const a = bus.connect(), b = bus.connect();
  b.addMatch("member='X'");
  a.signal('/p', 'org.ex.I', 'X');
  const kinds: string[] = [];
  for (let m; (m = mon.recv()) !== null; m.free()) {
    kinds.push(m.notification ? 'notification' : 'signal');
    assert.throws(() => mon.dispatch(m), (x: BusError) => x.code === 'EOPNOTSUPP' &&
      /^dispatch: EOPNOTSUPP: a monitor cannot dispatch messages \(it cannot send, so it could answer no method call; a signal or a notification is refused too\)/.test(x.message));
  }
  assert.ok(kinds.includes('signal') && kinds.includes('notification'), kinds.join());
  assert.throws(() => mon.export('/p', 'org.ex.I', { M: () => {} }), (x: BusError) => x.code === 'EOPNOTSUPP' && /^export: EOPNOTSUPP: a monitor cannot answer method calls \(it cannot send\)/.test(x.message));
  drain(b);
  a.close(); b.close(); mon.close({ drop: true });
});

t.run();
