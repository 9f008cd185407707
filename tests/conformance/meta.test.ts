// Metadata: every attach flag as its kdbus item, send mask ∩ receive mask bit by bit, items
// the provider cannot tell or that are over their cap left out, live values per message (the
// per-thread cache follows the provider's epoch).
import * as assert from 'uvu/assert';
import { abi as A, ATTACH, MockProvider, type Creds } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';
import { FULL } from '../helpers/identity.ts';

const t = busSuite('metadata');


t('ALL: every item kind in kdbus order, with the values the provider reports', ({ bus, mock }) => {
  mock.setIdentity(FULL);
  const a = bus.connect({ description: 'alice' });
  const b = bus.connect({ attachRecv: 'all' });
  a.sendText(b.id, 'hi');
  const m = b.recv()!;
  // OWNED_NAME: alice owns no name (the registry is the names branch's)
  assert.equal(m.itemTypes, [A.ITEM_PAYLOAD_OFF, A.ITEM_TIMESTAMP, A.ITEM_CREDS, A.ITEM_PIDS, A.ITEM_AUXGROUPS,
    A.ITEM_TID_COMM, A.ITEM_PID_COMM, A.ITEM_EXE, A.ITEM_CMDLINE, A.ITEM_CGROUP, A.ITEM_CAPS, A.ITEM_SECLABEL,
    A.ITEM_AUDIT, A.ITEM_CONN_DESCRIPTION]);
  assert.equal(m.creds, { uid: 1, euid: 2, suid: 3, fsuid: 4, gid: 5, egid: 6, sgid: 7, fsgid: 8 });
  assert.equal(m.pids, { pid: 100, tid: 101, ppid: 1 });
  assert.equal(m.groups, [10, 20, 30]);
  assert.equal(m.ownedNames, []);
  assert.is(m.tidComm, 'worker-1');
  assert.is(m.pidComm, 'node');
  assert.is(m.exe, '/usr/bin/node');
  assert.equal(m.cmdline, ['node', 'app.js', '--flag']);
  assert.is(m.cgroup, '/user.slice/app.scope');
  const caps = m.caps!;
  assert.is(caps.lastCap, 40);
  assert.equal([...caps.permitted], [0xffffffff, 0x1ff]);
  assert.equal([...caps.effective], [1, 0]);
  assert.is(m.seclabel, 'unconfined');
  assert.equal(m.audit, { loginuid: 1000, sessionid: 4294967295 });
  assert.is(m.description, 'alice');
  assert.is(m.text(), 'hi');
  m.free();
});

t('send mask ∩ receive mask, bit by bit, for every attach flag', ({ bus, mock }) => {
  mock.setIdentity(FULL);
  const names = Object.keys(ATTACH).filter((k) => k !== 'all' && k !== 'names') as (keyof typeof ATTACH)[];
  for (const n of names) {
    const bit = ATTACH[n];
    const type = A.ITEM_TIMESTAMP + Math.log2(bit);
    const s1 = bus.connect({ attachSend: A.ATTACH_ALL & ~bit, description: 'x' });
    const s2 = bus.connect({ attachSend: bit, description: 'y' });
    const r = bus.connect({ attachRecv: bit });
    const rAll = bus.connect({ attachRecv: A.ATTACH_ALL & ~bit });
    s1.sendText(r.id, '1'); // the sender withholds it
    s2.sendText(r.id, '2'); // both agree
    s2.sendText(rAll.id, '3'); // the receiver does not ask
    const m1 = r.recv()!, m2 = r.recv()!, m3 = rAll.recv()!;
    assert.equal(m1.itemTypes, [A.ITEM_PAYLOAD_OFF], `${n}: withheld by the sender`);
    assert.equal(m2.itemTypes, [A.ITEM_PAYLOAD_OFF, type], `${n}: attached`);
    assert.equal(m3.itemTypes, [A.ITEM_PAYLOAD_OFF], `${n}: not asked for`);
    for (const m of [m1, m2, m3]) m.free();
    for (const c of [s1, s2, r, rAll]) c.close();
  }
});

t('unsupported items are left out, never invented (CREDS included)', async ({ bus }) => {
  class NoCreds extends MockProvider {
    override creds(_out: Creds): boolean { return false; }
  }
  const p = new NoCreds(); // nothing else configured: every other process item unsupported
  const { Bus } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect();
  const b = bus2.connect({ attachRecv: 'all' });
  a.sendText(b.id, 'x');
  const m = b.recv()!;
  assert.equal(m.itemTypes, [A.ITEM_PAYLOAD_OFF, A.ITEM_TIMESTAMP], 'only the timestamp (no description given)');
  assert.is(m.creds, null);
  assert.is(m.pids, null);
  assert.is(m.exe, null);
  m.free();
  a.close(); b.close();
  await bus2.close();
});

t('values over their cap are left out; CMDLINE is cut to whole arguments', ({ bus, mock }) => {
  mock.setIdentity({
    ...FULL,
    comm: 'a-comm-longer-than-15', exe: '/' + 'e'.repeat(1100), groups: Array.from({ length: 65 }, (_, i) => i),
    cgroup: '/' + 'c'.repeat(1022), seclabel: 's'.repeat(1024),
    cmdline: ['node', 'x'.repeat(3000), 'y'.repeat(3000)],
    caps: { lastCap: 64 }, // 3 words per set: over META_CAPS_WORDS_MAX
  });
  const a = bus.connect();
  const b = bus.connect({ attachRecv: 'all' });
  a.sendText(b.id, 'x');
  const m = b.recv()!;
  assert.is(m.tidComm, null);
  assert.is(m.pidComm, null);
  assert.is(m.exe, null);
  assert.is(m.groups, null);
  assert.is(m.cgroup, '/' + 'c'.repeat(1022), 'exactly at the cap (1024 with the NUL)');
  assert.is(m.seclabel, null, 'one byte over its cap');
  assert.equal(m.cmdline, ['node', 'x'.repeat(3000)], 'the arguments that fit in 4096 bytes');
  assert.is(m.caps, null);
  assert.ok(m.creds !== null && m.pids !== null && m.audit !== null);
  m.free();
});

t('live: each message shows the sender as it is at SEND (the cache follows the epoch)', ({ bus, mock }) => {
  mock.setIdentity(FULL);
  const a = bus.connect();
  const b = bus.connect({ attachRecv: ['creds', 'exe', 'pids'] });
  a.sendText(b.id, '1');
  a.sendText(b.id, '2'); // from the thread's cache
  mock.setIdentity({ creds: { uid: 65534, euid: 65534 }, exe: null });
  a.sendText(b.id, '3');
  const m1 = b.recv()!, m2 = b.recv()!, m3 = b.recv()!;
  assert.is(m1.creds!.uid, 1);
  assert.equal(m2.creds, m1.creds);
  assert.is(m2.exe, '/usr/bin/node');
  assert.is(m3.creds!.uid, 65534);
  assert.is(m3.creds!.euid, 65534);
  assert.is(m3.creds!.gid, 5);
  assert.is(m3.exe, null, 'became unsupported: left out');
  assert.equal(m3.pids, { pid: 100, tid: 101, ppid: 1 });
  for (const m of [m1, m2, m3]) m.free();
});

t.run();
