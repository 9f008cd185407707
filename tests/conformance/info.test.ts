// UPDATE (attach masks), CONN_INFO (the HELLO-time snapshot) and BUS_CREATOR_INFO (the
// creator's, from BUS_MAKE); every refused command names its reason and changes nothing.
import * as assert from 'uvu/assert';
import { BusError, Bus, MockProvider, abi as A, type Engine } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';
import { stateImage, firstDifference, checkBus } from '../helpers/check.ts';
import { items, INFO, FREE } from '../../js/cmd/index.ts';
import { FULL } from '../helpers/identity.ts';

const t = busSuite('UPDATE, CONN_INFO, BUS_CREATOR_INFO');

/** `fn` throws BusError `code` with reason `reason`, and the bus is byte for byte as before. */
function refused(e: Engine, fn: () => unknown, code: string, reason: number, what: string) {
  const before = stateImage(e);
  try {
    fn();
    assert.unreachable(`${what}: expected ${code}`);
  } catch (err) {
    if (!(err instanceof BusError)) throw err;
    assert.is(err.code, code, what);
    assert.is(err.reason, reason, `${what}: reason`);
  }
  assert.is(firstDifference(before, stateImage(e)), -1, `${what}: the bus is as it was`);
  assert.equal(checkBus(e), []);
}

t('UPDATE changes either mask, from the next message on; the other mask is kept', ({ bus, mock }) => {
  mock.setIdentity(FULL);
  const a = bus.connect({ attachSend: [] });
  const b = bus.connect({ attachRecv: ['creds', 'pids'] });
  a.sendText(b.id, '1');
  a.update({ attachSend: 'all' });
  a.sendText(b.id, '2');
  b.update({ attachRecv: ['pids'] });
  a.sendText(b.id, '3');
  a.update({ attachRecv: 'all' }); // a's send mask stays 'all'
  a.sendText(b.id, '4');
  const ms = [b.recv()!, b.recv()!, b.recv()!, b.recv()!];
  assert.equal(ms.map((m) => m.itemTypes.length - 1), [0, 2, 1, 1]);
  assert.is(ms[2].pids!.pid, 100);
  assert.is(ms[2].creds, null);
  const send = (c: { slot: number }) => bus.engine.u32[(bus.engine.connAddr(c.slot) + A.CONN_ATTACH_SEND) >>> 2];
  const recv = (c: { slot: number }) => bus.engine.u32[(bus.engine.connAddr(c.slot) + A.CONN_ATTACH_RECV) >>> 2];
  assert.is(send(a), A.ATTACH_ALL);
  assert.is(recv(a), A.ATTACH_ALL);
  assert.is(recv(b), A.ATTACH_PIDS);
  for (const m of ms) m.free();
});

t('UPDATE refuses bad masks and items, changing nothing', ({ bus, e }) => {
  const a = bus.connect();
  refused(e, () => a.update({ attachSend: A.ATTACH_ALL * 2 + 1 }), 'EINVAL', A.R_UPDATE_ATTACH_SEND, 'send bits outside ALL');
  refused(e, () => a.update({ attachRecv: 0x4000 }), 'EINVAL', A.R_UPDATE_ATTACH_RECV, 'recv bits outside ALL');
  const cmd = e.cmd, u32 = e.u32, u8 = e.u8;
  const raw = (build: (p: number) => number) => () => {
    const end = build(cmd + A.UPDATE_CMD_SIZE);
    u32[cmd >>> 2] = end - cmd; u32[(cmd >>> 2) + 1] = 0;
    u32[(cmd + 8) >>> 2] = 0; u32[(cmd + 12) >>> 2] = 0;
    const r = e.update(a.slot, a.gen);
    if (r < 0) throw new BusError(-r, 'raw', undefined, u32[(cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2]);
  };
  const attach = (p: number, type: number, size = A.ATTACH_ITEM_SIZE) => { items.putItemHeader(u32, p, size, type); u32[(p + 16) >>> 2] = 1; u32[(p + 20) >>> 2] = 0; return p + items.align8(size); };
  refused(e, raw((p) => attach(attach(p, A.ITEM_ATTACH_FLAGS_SEND), A.ITEM_ATTACH_FLAGS_SEND)), 'EINVAL', A.R_ITEM_DUPLICATE, 'a mask given twice');
  refused(e, raw((p) => attach(p, A.ITEM_ATTACH_FLAGS_RECV, 32)), 'EINVAL', A.R_UPDATE_ATTACH_ITEM, 'an item of the wrong size');
  refused(e, raw((p) => items.putStringItem(u8, u32, p, A.ITEM_NAME, new TextEncoder().encode('a.b'))), 'EOPNOTSUPP', A.R_UPDATE_POLICY, 'a NAME item');
  refused(e, raw((p) => attach(p, A.ITEM_BLOOM_MASK)), 'EINVAL', A.R_ITEM_UNKNOWN, 'another item');
  refused(e, raw((p) => { u32[p >>> 2] = 8; return p + 16; }), 'EINVAL', A.R_ITEM_MALFORMED, 'a malformed item');
  a.update({}); // nothing given: nothing changes
});

t('CONN_INFO: the HELLO-time snapshot, the current description, limited to send mask ∩ request', ({ bus, mock }) => {
  mock.setIdentity(FULL);
  const a = bus.connect({ description: 'svc', attachSend: ['creds', 'exe', 'connDescription', 'cmdline'] });
  mock.setIdentity({ creds: { uid: 65534 }, exe: '/bin/other' });
  const b = bus.connect();
  const i = b.info(a.id);
  assert.is(i.id, a.id);
  assert.is(i.flags, 0);
  assert.is(i.creds!.uid, 1, 'as it was at HELLO');
  assert.is(i.exe, '/usr/bin/node');
  assert.equal(i.cmdline, ['node', 'app.js', '--flag']);
  assert.is(i.description, 'svc');
  assert.is(i.pids, null, 'not in its send mask');
  assert.equal(i.ownedNames, []);
  const j = bus.connectionInfo(a.id, { attach: ['exe'] });
  assert.is(j.exe, '/usr/bin/node');
  assert.is(j.creds, null, 'not asked for');
  const k = a.info(b.id); // b connected after the identity changed
  assert.is(k.creds!.uid, 65534);
  assert.is(k.exe, '/bin/other');
  assert.is(b.poolUsed, 0, 'the answers were freed');
});

t('CONN_INFO: the target\'s current primary names (OWNED_NAME), limited to send mask ∩ request', ({ bus }) => {
  const a = bus.connect(), other = bus.connect(), hidden = bus.connect({ attachSend: A.ATTACH_ALL & ~A.ATTACH_NAMES });
  assert.equal(other.info(a.id).ownedNames, [], 'none yet');
  a.requestName('org.example.One');
  other.requestName('org.example.Two');
  a.requestName('org.example.Two', { queue: true });
  a.requestName('org.example.Three', { allowReplacement: true });
  hidden.requestName('org.example.Hidden');
  const P = A.NAME_PRIMARY;
  const i = other.info(a.id);
  assert.equal(i.ownedNames, [{ name: 'org.example.One', flags: P }, { name: 'org.example.Three', flags: P | A.NAME_ALLOW_REPLACEMENT }], 'primary names only, in the order asked for');
  assert.is(i.ownedNamesTruncated, false);
  assert.equal(other.info('org.example.Three').ownedNames, i.ownedNames, 'by name alike');
  assert.equal(other.info(a.id, { attach: ['creds'] }).ownedNames, [], 'not asked for');
  assert.equal(a.info(hidden.id).ownedNames, [], 'not in its send mask');
  other.releaseName('org.example.Two');
  a.releaseName('org.example.One');
  assert.equal(other.info(a.id).ownedNames.map((n) => n.name), ['org.example.Two', 'org.example.Three'], 'current: after release and a move up from the queue');
});

t('CONN_INFO refuses bad input, changing nothing', ({ bus, e, mock }) => {
  const a = bus.connect();
  refused(e, () => a.info(a.id + 100), 'ENXIO', A.R_INFO_NO_CONN, 'an unknown id');
  refused(e, () => a.info(0), 'EINVAL', A.R_INFO_NO_ID, 'id 0 without a name');
  refused(e, () => a.info(a.id, { attach: 0x4000 }), 'EINVAL', A.R_INFO_ATTACH, 'bits outside ALL');
  const c = bus.connect({ poolSize: 4096 });
  mock.setIdentity(FULL);
  const d = bus.connect();
  // fill c's pool with received (published, not freed) messages: no room for the answer
  const kept = [];
  while (true) {
    try { d.send(c.id, new Uint8Array(8)); } catch { break; }
    kept.push(c.recv()!);
  }
  refused(e, () => c.info(d.id), 'EXFULL', A.R_INFO_POOL_FULL, 'no room in the caller\'s pool');
  for (const m of kept) m.free();
  for (let m; (m = c.recv()) !== null;) m.free();
});

t('BUS_CREATOR_INFO: the creator\'s metadata as it was at Bus.create', async ({ bus }) => {
  const p = new MockProvider({ seed: 3, ...FULL });
  const b2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  p.setIdentity({ creds: { uid: 65534 } });
  const c = b2.connect();
  const i = c.creatorInfo();
  assert.is(i.id, 0);
  assert.is(i.creds!.uid, 1);
  assert.equal(i.groups, [10, 20, 30]);
  assert.is(i.description, null);
  assert.is(b2.creatorInfo({ attach: ['pids'] }).creds, null);
  assert.is(c.info(c.id).creds!.uid, 65534);
  c.close();
  b2.close();
});

t('CONN_INFO by well-known name: the primary owner; ESRCH for a name nobody owns; EINVAL for a bad name', ({ bus, e }) => {
  const a = bus.connect({ description: 'asker' }), b = bus.connect({ description: 'owner' });
  assert.is(b.requestName('org.example.Info'), 'primary');
  const byName = a.info('org.example.Info'), byId = a.info(b.id);
  assert.is(byName.id, b.id, 'the primary owner');
  assert.equal(byName, byId, 'the same answer as by id');
  refused(e, () => a.info('org.example.Nobody'), 'ESRCH', A.R_INFO_NAME_NO_OWNER, 'a name nobody owns');
  refused(e, () => a.info('not-a-name'), 'EINVAL', A.R_NAME_INVALID, 'not a well-known name');
  b.releaseName('org.example.Info');
  refused(e, () => a.info('org.example.Info'), 'ESRCH', A.R_INFO_NAME_NO_OWNER, 'released');
});

t('CONN_INFO of a described target, asked without connDescription (or the target withholds it): no description, and the answer is as long as what it holds (stop 65, an outside reading)', ({ bus }) => {
  // (its size counted the description item all the same, and the answer's tail was the
  // caller's pool as it was: here another connection's description, read as alice's)
  const alice = bus.connect({ description: 'alice' });
  const carol = bus.connect({ description: 'carol' });
  const bob = bus.connect({ attachRecv: ['connDescription'] });
  carol.sendText(bob.id, 'x'); // a CONN_DESCRIPTION "carol" in bob's pool
  const m = bob.recv()!;
  assert.is(m.description, 'carol');
  m.free();
  const i = bob.info(alice.id, { attach: ['pids', 'tidComm'] });
  assert.is(i.description, null);
  const dave = bus.connect({ description: 'dave', attachSend: ['pids', 'tidComm'] });
  assert.is(bob.info(dave.id).description, null, 'withheld by its send mask');
  assert.is(bob.info(alice.id).description, 'alice', 'asked and allowed: there');
  // the answer's size, raw: the description item counts only when it is there
  const e = bob.engine;
  const size = (mask: number): number => {
    INFO.encode(e.u32, e.cmd, alice.id, mask);
    assert.is(e.connInfo(bob.slot, bob.gen), 0);
    const n = INFO.infoSize(e.u32, e.cmd), off = INFO.offset(e.u32, e.cmd);
    FREE.encode(e.u32, e.cmd, off);
    assert.is(e.free(bob.slot, bob.gen), 0);
    return n;
  };
  const item = Math.ceil((A.ITEM_HDR + 'alice'.length + 1) / 8) * 8;
  assert.is(size(A.ATTACH_PIDS | A.ATTACH_CONN_DESCRIPTION) - size(A.ATTACH_PIDS), item);
  assert.is(size(A.ATTACH_PIDS), A.KINFO_HDR + (size(A.ATTACH_PIDS | A.ATTACH_TID_COMM) - size(A.ATTACH_TID_COMM)), 'PIDS alone: the header and its item');
  for (const c of [alice, carol, bob, dave]) c.close();
});

t.run();
