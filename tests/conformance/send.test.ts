// SEND: every validation of KDBUS.md that applies to unicast by id, the slice layout in the
// receiver's pool, the payload copied once, quotas and a full pool.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { ALL, vec, hostVec, str, type Item } from '../helpers/raw.ts';

const t = busSuite('SEND');

function pair(raw: Parameters<typeof open>[0], o: Parameters<typeof open>[1] = {}) {
  return { a: open(raw, o), b: open(raw, o) };
}

t('a message lands in the receiver slice exactly as kdbus lays it out', ({ raw, e }) => {
  const { a, b } = pair(raw);
  const data = new Uint8Array(13).map((_, i) => i + 1);
  const r = raw.send(a.slot, a.gen, {
    msg: { dst: b.id, cookie: 0x1122334455667788n, priority: -3n, payloadType: 0x4442757344427573n, flags: A.MSG_NO_AUTO_START },
    items: [hostVec(13), vec(5, 0)], host: [data],
  });
  assert.is(r, 0);
  const m = raw.recv(b.slot, b.gen);
  assert.is(m.r, 0);
  const s = raw.slice(b.slot, m.offset);
  assert.is(s % 8, 0, '8-byte aligned');
  assert.is(m.size, 64 + 32 + 32);
  assert.is(raw.r64(s + A.MSG_SIZE), 128);
  assert.is(raw.r64big(s + A.MSG_FLAGS), BigInt(A.MSG_NO_AUTO_START));
  assert.is(raw.r64big(s + A.MSG_PRIORITY), BigInt.asUintN(64, -3n));
  assert.is(raw.r64(s + A.MSG_DST_ID), b.id);
  assert.is(raw.r64(s + A.MSG_SRC_ID), a.id, 'src_id filled in by the bus');
  assert.is(raw.r64big(s + A.MSG_PAYLOAD_TYPE), 0x4442757344427573n);
  assert.is(raw.r64big(s + A.MSG_COOKIE), 0x1122334455667788n);
  assert.is(raw.r64(s + A.MSG_TIMEOUT), 0);
  // PAYLOAD_OFF for the data vec: offset = ALIGN8(msg.size)
  let p = s + 64;
  assert.is(raw.r64(p), 32);
  assert.is(raw.r64(p + 8), A.ITEM_PAYLOAD_OFF);
  assert.is(raw.r64(p + 16), 13);
  assert.is(raw.r64(p + 24), 128);
  assert.equal(e.u8.slice(s + 128, s + 141), data);
  assert.equal(e.u8.slice(s + 141, s + 144), new Uint8Array(3), 'padding zeroed');
  // the padding vec: offset ~0, no bytes stored
  p += 32;
  assert.is(raw.r64(p + 16), 5);
  assert.is(raw.r64big(p + 24), ALL);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
});

t('payload from the shared memory: the command area and the user region', async ({ raw, e, bus }) => {
  const { a, b } = pair(raw);
  const src = e.cmd + 4096;
  e.u8.set([9, 8, 7], src);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(3, src)] }), 0);
  const m = raw.recv(b.slot, b.gen);
  const s = raw.slice(b.slot, m.offset);
  assert.equal([...e.u8.slice(s + raw.r64(s + 64 + 24), s + raw.r64(s + 64 + 24) + 3)], [9, 8, 7]);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  // the user region: after the bus state, up to the end of the memory
  assert.ok(bus.userRegion + 8 <= e.u8.length);
  e.u8.set([1, 2, 3, 4, 5, 6, 7, 8], bus.userRegion);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(8, bus.userRegion)] }), 0);
  const m2 = raw.recv(b.slot, b.gen);
  const s2 = raw.slice(b.slot, m2.offset);
  assert.equal([...e.u8.slice(s2 + 96, s2 + 104)], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.is(raw.free(b.slot, b.gen, m2.offset), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(8, e.u8.length - 4)] }), -A.EFAULT);
});

t('VEC address inside bus state, below 64 KiB or beyond the memory -> EFAULT', ({ raw, e }) => {
  const { a, b } = pair(raw);
  for (const addr of [A.BUS_BASE, e.poolBase(b.slot), 1024, e.u8.length - 4, 1n << 32n]) {
    assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(8, addr)] }), -A.EFAULT, `address ${addr}`);
  }
});

t('malformed messages -> EINVAL', ({ raw }) => {
  const { a, b } = pair(raw);
  const s = (o: Parameters<typeof raw.send>[2]) => raw.send(a.slot, a.gen, { ...o, msg: { dst: b.id, ...o!.msg } });
  assert.is(s({ items: [vec(0, ALL)] }), -A.EINVAL, 'VEC size 0');
  assert.is(s({ items: [{ type: A.ITEM_PAYLOAD_VEC, data: [8] }] }), -A.EINVAL, 'VEC item too small');
  assert.is(s({ items: [{ type: A.ITEM_ID, data: [1] }] }), -A.EINVAL, 'an item SEND does not take');
  assert.is(s({ items: [{ type: 0x1234, data: [1] }] }), -A.EINVAL, 'unknown item');
  assert.is(s({ items: [{ type: A.ITEM_DST_NAME, data: new Uint8Array([97, 98]) }] }), -A.EINVAL, 'name without NUL');
  assert.is(s({ items: [{ type: A.ITEM_PAYLOAD_VEC, data: [8, ALL], size: 48 }] }), -A.EINVAL, 'item beyond the message');
  assert.is(s({ msg: { size: 40 } }), -A.EINVAL, 'message smaller than its header');
  assert.is(s({ msg: { flags: 8 } }), -A.EINVAL, 'unknown message flag');
  assert.is(s({ msg: { payloadType: 0 } }), -A.EINVAL, 'payload type 0 is the bus\'s');
  assert.is(s({ msg: { src: 99 } }), -A.EINVAL, 'src_id neither 0 nor the sender');
  assert.is(s({ msg: { src: a.id } }), 0, 'src_id = sender is fine');
  assert.is(s({ flags: 4 }), -A.EINVAL, 'unknown command flag');
  assert.is(s({ cmdItems: [{ type: A.ITEM_ID, data: [1] }] }), -A.EINVAL, 'command item');
  assert.is(s({ cmdSize: 40 }), -A.EINVAL, 'command smaller than the struct');
  const m = raw.recv(b.slot, b.gen);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
});

t('sizes and addresses: EMSGSIZE over 32 KiB or 2 MiB of payload, EFAULT for the message address', ({ raw, e }) => {
  const { a, b } = pair(raw);
  assert.is(raw.send(a.slot, a.gen, { cmdSize: A.CMD_MAX + 8, msg: { dst: b.id } }), -A.EMSGSIZE);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, size: A.CMD_MAX + 8 } }), -A.EMSGSIZE);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(A.MAX_PAYLOAD + 1)] }), -A.EMSGSIZE);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(A.MAX_PAYLOAD / 2), hostVec(A.MAX_PAYLOAD / 2 + 8)] }), -A.EMSGSIZE);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(1n << 40n)] }), -A.EMSGSIZE);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, msgAddress: e.cmd + 60 }), -A.EFAULT, 'unaligned');
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, msgAddress: A.BUS_BASE }), -A.EFAULT, 'outside the command area');
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, msgAddress: e.cmd + A.CMD_MAX - 32 }), -A.EFAULT, 'runs past the command area');
});

t('duplicates -> EEXIST; fds and memfds -> EOPNOTSUPP; bloom not a multiple of 8 -> EFAULT', ({ raw }) => {
  const { a, b } = pair(raw);
  const bloom: Item = { type: A.ITEM_BLOOM_FILTER, data: [0, 0, 0, 0, 0, 0, 0, 0, 0] };
  const dn = str(A.ITEM_DST_NAME, 'org.example.X');
  const s = (items: Item[], flags = 0) => raw.send(a.slot, a.gen, { msg: { dst: b.id, flags }, items });
  assert.is(s([dn, dn]), -A.EEXIST);
  assert.is(s([bloom, bloom], A.MSG_SIGNAL), -A.EEXIST);
  assert.is(s([{ type: A.ITEM_PAYLOAD_MEMFD, data: [0, 0] }]), -A.EOPNOTSUPP);
  assert.is(s([{ type: A.ITEM_FDS, data: [0] }]), -A.EOPNOTSUPP);
  assert.is(s([{ type: A.ITEM_CANCEL_FD, data: [0] }]), -A.EOPNOTSUPP);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, cmdItems: [{ type: A.ITEM_CANCEL_FD, data: [0] }] }), -A.EOPNOTSUPP);
  assert.is(s([{ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(12) }], A.MSG_SIGNAL), -A.EFAULT);
});

t('broadcast, signal, reply and destination rules, in KDBUS.md order', ({ raw, bus }) => {
  const { a, b } = pair(raw);
  const bloom = (n: number): Item => ({ type: A.ITEM_BLOOM_FILTER, data: new Array(1 + n / 8).fill(0) });
  const good = bloom(bus.bloom.size);
  const s = (msg: object, items: Item[] = [], flags = 0) => raw.send(a.slot, a.gen, { flags, msg: { dst: b.id, ...msg }, items });
  assert.is(s({ dst: ALL }), -A.EBADMSG, 'broadcast without SIGNAL');
  assert.is(s({ dst: ALL, flags: A.MSG_SIGNAL, timeout: 5 }, [good]), -A.ENOTUNIQ, 'broadcast with a timeout');
  assert.is(s({ dst: ALL, flags: A.MSG_SIGNAL | A.MSG_EXPECT_REPLY, timeout: 5 }, [good]), -A.ENOTUNIQ, 'broadcast expecting a reply');
  assert.is(s({ dst: ALL, flags: A.MSG_SIGNAL }, [good, str(A.ITEM_DST_NAME, 'org.example.X')]), -A.EBADMSG, 'broadcast with a name');
  assert.is(s({ flags: A.MSG_EXPECT_REPLY }), -A.EINVAL, 'EXPECT_REPLY with timeout 0');
  assert.is(s({ flags: A.MSG_EXPECT_REPLY | A.MSG_SIGNAL, timeout: 5 }, [good]), -A.ENOTUNIQ, 'EXPECT_REPLY + SIGNAL');
  assert.is(s({}, [], A.SEND_SYNC_REPLY), -A.EINVAL, 'SYNC_REPLY without EXPECT_REPLY');
  assert.is(s({ flags: A.MSG_SIGNAL, timeout: 7 }, [good]), -A.EINVAL, 'reply + SIGNAL');
  assert.is(s({}, [good]), -A.EBADMSG, 'BLOOM_FILTER without SIGNAL');
  assert.is(s({ flags: A.MSG_SIGNAL }), -A.EBADMSG, 'SIGNAL without BLOOM_FILTER');
  assert.is(s({ flags: A.MSG_SIGNAL }, [bloom(bus.bloom.size + 8)]), -A.EDOM, 'bloom size differs from the bus');
  assert.is(s({ dst: 0 }), -A.EDESTADDRREQ, 'no destination');
  assert.is(s({ dst: 0 }, [str(A.ITEM_DST_NAME, 'noDots')]), -A.EINVAL, 'invalid name');
  for (const bad of ['a..b', '.a.b', 'a.b.', '1a.b', 'a.1b', 'a.b/c', 'x'.repeat(254) + '.y']) {
    assert.is(s({ dst: 0 }, [str(A.ITEM_DST_NAME, bad)]), -A.EINVAL, `invalid name ${bad}`);
  }
  // accepted by validation, not built yet
  assert.is(s({ timeout: 5 }), -A.EBADSLT, 'a reply to no call (calls: reply.test.ts)');
  assert.is(s({ flags: A.MSG_SIGNAL }, [good]), 0, 'a unicast signal without a matching rule: dropped silently (match.test.ts)');
  assert.is(s({ dst: 0 }, [str(A.ITEM_DST_NAME, 'org.example.Foo')]), -A.ESRCH, 'no name has an owner yet');
  assert.is(s({ dst: 0 }, [str(A.ITEM_DST_NAME, '_a-b.c_d9.' + 'x'.repeat(200))]), -A.ESRCH);
});

t('unknown destination id -> ENXIO', ({ raw }) => {
  const { a } = pair(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: 77 } }), -A.ENXIO);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: 1n << 40n } }), -A.ENXIO);
});

t('a message to oneself is delivered', ({ raw }) => {
  const a = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: a.id }, items: [hostVec(3)] }), 0);
  const m = raw.recv(a.slot, a.gen);
  assert.is(m.r, 0);
  assert.is(raw.free(a.slot, a.gen, m.offset), 0);
});

t('quota: a sending user may fill a third of the free half; then ENOBUFS, nothing queued', ({ raw, e, mock }) => {
  const b = open(raw, { poolSize: 65536 });
  mock.setCreds({ uid: 2000 });
  const a = open(raw);
  const n = () => e.queued(b.slot);
  // each message: 32 header + 64 msg + 32 vec item + 1024 payload = 1152 bytes charged
  let sent = 0;
  for (;;) {
    const r = raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(1024)] });
    if (r !== 0) { assert.is(r, -A.ENOBUFS); break; }
    sent++;
  }
  assert.is(sent, Math.floor(65536 / 2 / 3 / 1152), 'a third of half the pool');
  assert.is(n(), sent);
  // receiving releases the accounting (FREE does not matter): the user can send again
  const m = raw.recv(b.slot, b.gen);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(1024)] }), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(1024)] }), -A.ENOBUFS);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  // another user still gets a third of what is left
  const used = e.poolUsed(b.slot);
  mock.setCreds({ uid: 3000 });
  const c = open(raw);
  let sentC = 0;
  while (raw.send(c.slot, c.gen, { msg: { dst: b.id }, items: [hostVec(1024)] }) === 0) sentC++;
  assert.is(sentC, Math.floor((32768 - sent * 1152) / 3 / 1152));
  assert.ok(e.poolUsed(b.slot) > used);
  while (raw.recv(b.slot, b.gen, A.RECV_DROP).r === 0);
});

t('quota: at most 256 queued messages per sending user -> ENOBUFS', ({ raw, e, mock }) => {
  const b = open(raw, { poolSize: 262144 });
  mock.setCreds({ uid: 5 });
  const a = open(raw);
  for (let i = 0; i < 256; i++) assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), -A.ENOBUFS);
  assert.is(e.queued(b.slot), 256);
  mock.setCreds({ uid: 6 });
  const c = open(raw);
  assert.is(raw.send(c.slot, c.gen, { msg: { dst: b.id } }), 0, 'another user is not limited by it');
  while (raw.recv(b.slot, b.gen, A.RECV_DROP).r === 0);
});

t('a full pool -> EXFULL, and nothing is left reserved', ({ raw, e, mock }) => {
  // the owner's own published slices are not accounted: fill the pool with messages it has received
  const b = open(raw, { poolSize: 8192 });
  mock.setCreds({ uid: 9 });
  const a = open(raw);
  const offs: number[] = [];
  for (;;) {
    const r = raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(600)] });
    if (r === -A.EXFULL) break;
    assert.is(r, 0);
    const m = raw.recv(b.slot, b.gen);
    offs.push(m.offset);
  }
  assert.ok(offs.length >= 8);
  const used = e.poolUsed(b.slot);
  assert.is(e.queued(b.slot), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(600)] }), -A.EXFULL);
  assert.is(e.poolUsed(b.slot), used, 'nothing reserved by the failed sends');
  for (const o of offs) assert.is(raw.free(b.slot, b.gen, o), 0);
});

t('send_commit / send_cancel without a pending send -> EINVAL; other commands wait for it -> EINPROGRESS', ({ raw, e }) => {
  const { a, b } = pair(raw);
  assert.is(e.sendCommit(), -A.EINVAL);
  assert.is(e.sendCancel(), -A.EINVAL);
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(64)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.is(raw.recv(b.slot, b.gen).r, -A.EINPROGRESS);
  assert.is(raw.byebye(b.slot, b.gen), -A.EINPROGRESS);
  assert.is(e.sendCancel(), 0, 'cancel undoes the reservation');
  assert.is(e.poolUsed(b.slot), 0);
  assert.is(e.queued(b.slot), 0);
  assert.is(raw.recv(b.slot, b.gen).r, -A.EAGAIN);
});

t('SEND_PROBE: every check but room, nothing changed; the receiver\'s space word in the thread slot', ({ raw, e, bus }) => {
  const a = open(raw), b = open(raw, { poolSize: 16384 }), w = open(raw);
  const slotWord = (off: number) => e.u32[(raw.cmd - A.THREAD_CMD + off) >>> 2];
  const probe = (msg: object, items: Item[] = [], host?: Uint8Array[]) =>
    raw.send(a.slot, a.gen, { flags: A.SEND_PROBE, msg: { dst: b.id, ...msg }, items, host });
  // a message that would be sent: 0, nothing queued, no cookie used, no record made
  e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_WAIT_ADDR) >>> 2] = 0;
  assert.is(probe({ cookie: 5 }, [vec(8, 0)]), 0);
  assert.is(slotWord(A.THREAD_WAIT_ADDR), e.connAddr(b.slot) + A.CONN_SPACE, 'the receiver, as a SEND without room leaves it');
  assert.is(probe({ cookie: 6, flags: A.MSG_EXPECT_REPLY, timeout: 1e9 }), 0, 'a call: its record is not made');
  assert.is(probe({ cookie: 7 }, [hostVec(1500)], [new Uint8Array(1500)]), 0, 'host bytes: no reservation (not SEND_PENDING)');
  assert.is(e.queued(b.slot), 0);
  assert.is(raw.recv(b.slot, b.gen).r, -A.EAGAIN);
  // what no room could help fails as SEND would: never fits, too large, no receiver, a bad rule
  const share = Math.floor(16384 / 2 / 3);
  assert.is(probe({}, [hostVec(share)]), -A.ENOBUFS, 'never fits');
  assert.is(e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_SEND_NEVER_FITS);
  assert.is(probe({}, [vec(A.MAX_PAYLOAD + 1, 0)]), -A.EMSGSIZE);
  assert.is(probe({ dst: 999999 }), -A.ENXIO);
  assert.is(probe({ dst: 0 }, [str(A.ITEM_DST_NAME, 'org.example.Nobody')]), -A.ESRCH);
  assert.is(probe({ flags: A.MSG_EXPECT_REPLY }), -A.EINVAL);
  // a full receiver (its per-user message quota): the probe still says 0; SEND says ENOBUFS
  for (let i = 0; ; i++) { const r = raw.send(w.slot, w.gen, { msg: { dst: b.id } }); if (r < 0) { assert.is(r, -A.ENOBUFS); break; } assert.ok(i < 100000); }
  const q = e.queued(b.slot);
  assert.is(raw.send(w.slot, w.gen, { flags: A.SEND_PROBE, msg: { dst: b.id } }), 0, 'room is not checked');
  assert.is(e.queued(b.slot), q);
  // a broadcast is checked, not delivered
  const bloom: Item = { type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + bus.bloom.size) };
  raw.matchAdd(a.slot, a.gen, 1, { items: [] });
  assert.is(raw.send(w.slot, w.gen, { flags: A.SEND_PROBE, msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [bloom] }), 0);
  assert.is(raw.recv(a.slot, a.gen).r, -A.EAGAIN, 'nobody got the broadcast');
  // and an unknown command flag is still refused
  assert.is(raw.send(a.slot, a.gen, { flags: 4, msg: { dst: b.id } }), -A.EINVAL);
  for (let m = raw.recv(b.slot, b.gen); m.r === 0; m = raw.recv(b.slot, b.gen)) raw.free(b.slot, b.gen, m.offset);
});

t.run();
