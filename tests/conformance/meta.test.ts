// Metadata: every attach flag as its kdbus item, send mask ∩ receive mask bit by bit, items
// the provider cannot tell or that are over their cap left out, live values per message (the
// per-thread cache follows the provider's epoch).
import * as assert from 'uvu/assert';
import { abi as A, ATTACH, MockProvider, type BusError, type Creds } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { Raw, hostVec } from '../helpers/raw.ts';
import { FULL } from '../helpers/identity.ts';

const t = busSuite('metadata');


t('ALL: every item kind in kdbus order, with the values the provider reports', ({ bus, mock }) => {
  mock.setIdentity(FULL);
  const a = bus.connect({ description: 'alice' });
  const b = bus.connect({ attachRecv: 'all' });
  a.sendText(b.id, 'hi');
  const m = b.recv()!;
  // OWNED_NAME: alice owns no name (no item); nothing was cut (no TRUNCATED item)
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

/**
 * On a bus of provider `p`: a send, then `spoil(true)` and a send that must fail EINVAL
 * matching `rule` and change nothing, then `spoil(false)` and a send that goes through.
 */
async function spoiledSend(engine: 'wasm' | 'twin', p: MockProvider, spoil: (on: boolean) => void, rule: RegExp, name: string): Promise<void> {
  const { Bus, BusError } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect(), b = bus2.connect({ attachRecv: 'all' });
  a.sendText(b.id, 'before');
  spoil(true);
  let err: unknown = null;
  try { a.sendText(b.id, 'spoiled'); } catch (e) { err = e; }
  assert.ok(err instanceof BusError, `${name}: the send fails`);
  assert.is((err as InstanceType<typeof BusError>).code, 'EINVAL', name);
  assert.match((err as Error).message, rule, name);
  assert.equal(bus2.check(), [], `${name}: the bus as it was`);
  assert.is(b.queued, 1, `${name}: only the message sent before`);
  spoil(false);
  a.sendText(b.id, 'after');
  assert.equal([b.recv()!, b.recv()!].map((m) => { const t = m.text(); m.free(); return t; }), ['before', 'after']);
  a.close(); b.close();
  await bus2.close();
}

t('a provider answer outside the Provider contract fails the command with EINVAL naming it, never becomes metadata', async ({ bus }) => {
  // (outside audit, stop 16: a uid of -5 arrived as 4294967291, NaN as 0, a comm string as NUL bytes, a tid of -1 as 2^64)
  type Spoil = Record<string, (...a: never[]) => unknown>;
  const creds = (over: Partial<Creds>) => (o: Creds) => { Object.assign(o, { uid: 1, euid: 1, suid: 1, fsuid: 1, gid: 1, egid: 1, sgid: 1, fsgid: 1 }, over); return true; };
  const cases: [string, Spoil, RegExp][] = [
    ['uid -5', { creds: creds({ uid: -5 }) }, /provider "sloppy": creds\(\)\.uid must be an integer in 0 … 4294967294 \(4294967295, \(uid_t\) −1, is no id\), got -5/],
    // ((uid_t) -1: no id, and the pseudo-user of bus notifications, UID_KERNEL: such a sender
    // shared their quota row in every receiver before stop 66; so for a gid, as the kernel)
    ['uid 4294967295', { creds: creds({ uid: 0xffffffff }) }, /creds\(\)\.uid must be an integer in 0 … 4294967294 .*got 4294967295/],
    ['fsgid 4294967295', { creds: creds({ fsgid: 0xffffffff }) }, /creds\(\)\.fsgid must be an integer in 0 … 4294967294/],
    ['groups 4294967295', { groups: () => [1, 0xffffffff] }, /groups\(\)\[1\] must be an integer in 0 … 4294967294/],
    ['euid NaN', { creds: creds({ euid: NaN }) }, /provider "sloppy": creds\(out\) returned true with out\.euid unset \(NaN\): it must fill the object it is given/],
    // out not filled, or filled in part (stop 44, an outside audit: the fields kept the last
    // answer, or the 0 the object was made with: every message said uid 0, root)
    ['creds a new object', { creds: (o: Creds) => { o = { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000 }; return o.uid > 0; } }, /creds\(out\) returned true with out\.uid unset \(NaN\): it must fill the object it is given \(assigning a new object to the parameter fills nothing\), or return false/],
    ['creds uid only', { creds: (o: Creds) => { o.uid = 7; return true; } }, /creds\(out\) returned true with out\.euid unset/],
    ['pids a new object', { pids: (o: { pid: number; tid: number; ppid: number }) => { o = { pid: 1, tid: 1, ppid: 1 }; return o.pid > 0; } }, /pids\(out\) returned true with out\.pid unset/],
    ['audit a new object', { audit: (o: { loginuid: number; sessionid: number }) => { o = { loginuid: 1, sessionid: 1 }; return o.sessionid > 0; } }, /audit\(out\) returned true with out\.loginuid unset/],
    ['gid 1.5', { creds: creds({ gid: 1.5 }) }, /creds\(\)\.gid must be/],
    ['tid -1', { pids: (o: { pid: number; tid: number; ppid: number }) => { o.pid = 10; o.tid = -1; o.ppid = 1; return true; } }, /pids\(\)\.tid must be a non-negative safe integer/],
    ['comm string', { comm: () => 'worker-1' }, /comm\(\) must be a Uint8Array/],
    ['comm with a NUL', { comm: () => new Uint8Array([97, 0, 98]) }, /comm\(\) must be bytes without a NUL .*at byte 1/],
    ['comm an array dressed as bytes', { comm: () => Object.assign([300, -1], { [Symbol.toStringTag]: 'Uint8Array' }) }, /comm\(\) must be a Uint8Array/],
    ['groups -1', { groups: () => [1, -1] }, /groups\(\)\[1\] must be an integer/],
    ['caps short', { caps: () => ({ lastCap: 40, inheritable: new Uint32Array(1), permitted: new Uint32Array(2), effective: new Uint32Array(2), bounding: new Uint32Array(2) }) }, /caps\(\)\.inheritable\.length must be 2/],
    ['audit NaN', { audit: (o: { loginuid: number; sessionid: number }) => { o.loginuid = NaN; o.sessionid = 1; return true; } }, /audit\(out\) returned true with out\.loginuid unset \(NaN\)/],
    ['audit sessionid -1', { audit: (o: { loginuid: number; sessionid: number }) => { o.loginuid = 1; o.sessionid = -1; return true; } }, /audit\(\)\.sessionid must be an integer in 0 … 4294967295, got -1/],
  ];
  for (const [name, spoil, rule] of cases) {
    // a provider that answers within the contract until `spoiled` (no epoch: read on every message)
    const base = new MockProvider();
    let spoiled = false;
    const pick = (k: string) => (...a: never[]) => {
      const f = spoiled && spoil[k] ? spoil[k] : (base as unknown as Spoil)[k];
      return f ? (f as (...x: never[]) => unknown).apply(base, a) : null;
    };
    const p = {
      name: 'sloppy', clock: pick('clock'), random: pick('random'), creds: pick('creds'), pids: pick('pids'), groups: pick('groups'),
      comm: pick('comm'), caps: pick('caps'), audit: pick('audit'),
    } as unknown as MockProvider;
    await spoiledSend(bus.engine.kind, p, (on) => { spoiled = on; }, rule, name);
  }
});

t('CAPS from a provider of the user\'s own: the bits above lastCap arrive clear, in all four sets', async ({ bus }) => {
  // (they were passed on as the provider set them: capabilities that do not exist; kdbus
  // cleared them; MockProvider and the default provider clear their own. An outside audit, stop 55)
  const { Bus } = await import('../../js/index.ts');
  for (const [lastCap, want] of [[33, [0xffffffff, 0x3]], [0, [0x1]], [31, [0xffffffff]], [62, [0xffffffff, 0x7fffffff]], [63, [0xffffffff, 0xffffffff]]] as const) {
    const base = new MockProvider();
    const words = Math.ceil((lastCap + 1) / 32), all = () => new Array<number>(words).fill(0xffffffff);
    const p = Object.assign(Object.create(base) as MockProvider, {
      name: 'own', caps: () => ({ lastCap, inheritable: all(), permitted: all(), effective: all(), bounding: all() }),
    });
    const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
    const a = bus2.connect(), b = bus2.connect({ attachRecv: ['caps'] });
    a.sendText(b.id, 'x');
    const m = b.recv()!;
    const c = m.caps!;
    assert.is(c.lastCap, lastCap);
    for (const set of [c.inheritable, c.permitted, c.effective, c.bounding]) assert.equal([...set], [...want], `lastCap ${lastCap}`);
    m.free();
    const info = b.info(a.id, { attach: ['caps'] }); // (CONN_INFO's HELLO snapshot: the same rule)
    assert.equal([...info.caps!.effective], [...want], `lastCap ${lastCap}: CONN_INFO`);
    assert.equal(bus2.check(), []);
    a.close(); b.close();
    bus2.close();
  }
});

t('a provider epoch() that is not a u32 fails the command with EINVAL (it was coerced: old metadata kept)', async ({ bus }) => {
  // (an outside audit, stop 39: 0.1 and 0.2, NaN, 7 and 2^32 + 7 read as one epoch, and messages carried the old uid)
  for (const bad of [0.5, NaN, 2 ** 32 + 7, -1, 'x']) {
    const base = new MockProvider();
    let spoiled = false;
    const p = Object.assign(Object.create(base) as MockProvider, { name: 'sloppy', epoch: () => (spoiled ? bad : 1) as number });
    await spoiledSend(bus.engine.kind, p, (on) => { spoiled = on; }, /provider "sloppy": epoch\(\) must be an integer in 0 … 4294967295/, String(bad));
  }
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
  assert.ok(m.cmdlineTruncated, 'the cut is flagged');
  assert.is(m.truncated, A.ATTACH_CMDLINE, 'the TRUNCATED item names CMDLINE alone');
  assert.is(m.itemTypes[m.itemTypes.length - 1], A.ITEM_TRUNCATED, 'after the metadata items');
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

t('CMDLINE cut to whole arguments is flagged (TRUNCATED item), also by argument count and in CONN_INFO; not when it fits', ({ bus, mock }) => {
  const b = bus.connect({ attachRecv: 'all' });
  const cases: [string[], string[] | null, boolean][] = [
    [['node', 'app.js'], ['node', 'app.js'], false],
    [['node', 'x'.repeat(4088)], ['node', 'x'.repeat(4088)], false], // 5 + 4089 = 4094 bytes: fits
    [['node', 'x'.repeat(4091)], ['node'], true], // 4097 bytes: the second argument does not fit
    [Array.from({ length: 300 }, (_, i) => `a${i}`), Array.from({ length: 256 }, (_, i) => `a${i}`), true], // > 256 arguments
    [['y'.repeat(5000)], ['y'.repeat(4095)], true], // not even the first argument fits: that one cut
  ];
  for (const [argv, want, cut] of cases) {
    mock.setIdentity({ cmdline: argv });
    const a = bus.connect({ attachSend: ['cmdline'] });
    a.sendText(b.id, 'x');
    const m = b.recv()!;
    assert.equal(m.cmdline, want, `${argv.length} arguments`);
    assert.is(m.cmdlineTruncated, cut, `${argv.length} arguments: flagged ${cut}`);
    assert.is(m.ownedNamesTruncated, false);
    assert.equal(m.itemTypes, cut ? [A.ITEM_PAYLOAD_OFF, A.ITEM_CMDLINE, A.ITEM_TRUNCATED] : [A.ITEM_PAYLOAD_OFF, A.ITEM_CMDLINE]);
    m.free();
    const i = b.info(a.id); // the HELLO snapshot: cut alike
    assert.equal(i.cmdline, want);
    assert.is(i.cmdlineTruncated, cut);
    a.close();
  }
  // a receiver that does not ask for CMDLINE gets no TRUNCATED item either
  mock.setIdentity({ cmdline: ['z'.repeat(5000)] });
  const a = bus.connect();
  const r = bus.connect({ attachRecv: ['creds'] });
  a.sendText(r.id, 'x');
  const m = r.recv()!;
  assert.is(m.truncated, 0);
  assert.equal(m.itemTypes, [A.ITEM_PAYLOAD_OFF, A.ITEM_CREDS]);
  m.free();
});

t('CMDLINE: the cut flag is of the command line delivered, also from a provider whose answer changes between its calls', async ({ bus }) => {
  // (the host asked the provider again for the full size: its cut flag came from another
  // answer than the item's, a long one delivered capped without TRUNCATED, or a short one
  // flagged cut; stop 66)
  const { Bus } = await import('../../js/index.ts');
  const enc = (argv: string[]) => new TextEncoder().encode(argv.map((x) => `${x}\0`).join(''));
  const long = enc(['node', 'x'.repeat(5000)]), short = enc(['n']); // long: delivered ['node'], cut
  const base = new MockProvider();
  let calls = 0; // (no epoch: the metadata is read for every message, not cached)
  const p = Object.assign(Object.create(base) as MockProvider, { name: 'fickle', epoch: undefined, cmdline: () => (calls++ % 2 === 0 ? long : short) });
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const b = bus2.connect({ attachRecv: ['cmdline'] });
  for (let k = 0; k < 4; k++) {
    const a = bus2.connect({ attachSend: ['cmdline'] });
    a.sendText(b.id, 'x');
    const m = b.recv()!;
    const cut = m.cmdline![0] === 'node';
    assert.equal(m.cmdline, cut ? ['node'] : ['n'], `message ${k}`);
    assert.is(m.cmdlineTruncated, cut, `message ${k}: flagged as its command line was`);
    m.free();
    const i = b.info(a.id);
    assert.is(i.cmdlineTruncated, i.cmdline![0] === 'node', `CONN_INFO ${k}`);
    a.close();
  }
  b.close();
  assert.equal(bus2.check(), []);
  bus2.close();
});

t('OWNED_NAME: the primary names at SEND, iff both masks allow it; not queued ones, not after release', ({ bus }) => {
  const a = bus.connect({ description: 'a' }), other = bus.connect();
  const b = bus.connect({ attachRecv: ['names'] });
  const notAsked = bus.connect({ attachRecv: A.ATTACH_ALL & ~A.ATTACH_NAMES });
  const withheld = bus.connect({ attachSend: A.ATTACH_ALL & ~A.ATTACH_NAMES });
  const got = (from: typeof a, to = b) => {
    from.sendText(to.id, 'x');
    const m = to.recv()!;
    const r = { names: m.ownedNames, types: m.itemTypes };
    m.free();
    return r;
  };
  assert.equal(got(a), { names: [], types: [A.ITEM_PAYLOAD_OFF] }, 'no name: no item');
  assert.is(a.requestName('org.example.First'), 'primary');
  assert.is(a.requestName('org.example.Second', { allowReplacement: true }), 'primary');
  assert.is(other.requestName('org.example.Taken'), 'primary');
  assert.is(a.requestName('org.example.Taken', { queue: true }), 'in-queue');
  const P = A.NAME_PRIMARY;
  assert.equal(got(a), {
    names: [{ name: 'org.example.First', flags: P }, { name: 'org.example.Second', flags: P | A.NAME_ALLOW_REPLACEMENT }],
    types: [A.ITEM_PAYLOAD_OFF, A.ITEM_OWNED_NAME, A.ITEM_OWNED_NAME],
  }, 'the primary names in the order asked for, flags as LIST; the queued name is not listed');
  assert.equal(got(a, notAsked).names, [], 'the receiver does not ask');
  assert.is(withheld.requestName('org.example.W'), 'primary');
  assert.equal(got(withheld).names, [], 'the sender withholds them');
  a.releaseName('org.example.First');
  assert.equal(got(a).names.map((n) => n.name), ['org.example.Second'], 'not after release');
  other.releaseName('org.example.Taken'); // a moves up from the queue
  assert.equal(got(a).names, [{ name: 'org.example.Second', flags: P | A.NAME_ALLOW_REPLACEMENT }, { name: 'org.example.Taken', flags: P | A.NAME_QUEUE }],
    'a name it moved up to from the queue (ordered from when it asked)');
  other.requestName('org.example.Second', { replaceExisting: true });
  assert.equal(got(a).names.map((n) => n.name), ['org.example.Taken'], 'not a name taken from it');
  assert.equal(got(other).names.map((n) => n.name), ['org.example.Second']);
  // by name, as a call's reply would be: the same rule
  a.sendText('org.example.Second', 'to other by name');
  const m = other.recv()!;
  assert.equal(m.ownedNames.map((n) => n.name), [], 'other does not ask for names');
  m.free();
  other.update({ attachRecv: ['names'] });
  b.requestName('org.example.B');
  b.sendText('org.example.Second', 'by name');
  const m2 = other.recv()!;
  assert.equal(m2.ownedNames, [{ name: 'org.example.B', flags: P }]);
  m2.free();
});

t('OWNED_NAME in a call by name and in its reply (the bus lock is already held for the reply record)', async ({ bus }) => {
  const caller = bus.connect({ attachRecv: ['names'] }), svc = bus.connect({ attachRecv: ['names'] });
  caller.requestName('org.example.Caller');
  svc.requestName('org.example.Svc');
  const p = caller.call('org.example.Svc', new TextEncoder().encode('ping'));
  const m = svc.recv()!;
  assert.equal(m.ownedNames.map((n) => n.name), ['org.example.Caller']);
  svc.replyText(m, 'pong');
  m.free();
  const r = await p;
  assert.equal(r.ownedNames.map((n) => n.name), ['org.example.Svc']);
  r.free();
});

t('OWNED_NAME in a broadcast: each subscriber that asks gets the sender\'s names', ({ bus }) => {
  const s = bus.connect(), asks = bus.connect({ attachRecv: ['names'] }), not = bus.connect({ attachRecv: ['creds'] });
  const rule = "type='signal',interface='org.example.Foo'";
  asks.addMatch(rule);
  not.addMatch(rule);
  const sig = { path: '/o', interface: 'org.example.Foo', member: 'M', signature: '', body: [] };
  s.emit(sig);
  let m = asks.recv()!;
  assert.equal(m.ownedNames, [], 'owns none yet');
  m.free();
  not.recv()!.free();
  s.requestName('org.example.Sig');
  s.requestName('org.example.Sig2');
  s.emit(sig);
  m = asks.recv()!;
  assert.equal(m.ownedNames.map((n) => n.name), ['org.example.Sig', 'org.example.Sig2']);
  m.free();
  m = not.recv()!;
  assert.equal(m.ownedNames, [], 'did not ask');
  assert.ok(m.creds !== null);
  m.free();
  s.releaseName('org.example.Sig');
  s.emit(sig);
  m = asks.recv()!;
  assert.equal(m.ownedNames.map((n) => n.name), ['org.example.Sig2'], 'after release');
  m.free();
  not.recv()!.free();
});

t('OWNED_NAME over META_NAMES_MAX: cut to the names asked for first, whole, and flagged', ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ attachRecv: ['names'] });
  // 14 items of 280 bytes (a 255-byte name) fill 3920 of 4096 bytes; a 15th does not fit
  const long = (i: number) => `org.n${String(i).padStart(2, '0')}.${'x'.repeat(255 - 9)}`;
  for (let i = 0; i < 14; i++) a.requestName(long(i));
  a.sendText(b.id, 'x');
  let m = b.recv()!;
  assert.is(m.ownedNames.length, 14);
  assert.is(m.ownedNamesTruncated, false, 'all fit');
  m.free();
  a.requestName(long(14));
  a.requestName('org.short.Name');
  a.sendText(b.id, 'x');
  m = b.recv()!;
  assert.equal(m.ownedNames.map((n) => n.name), Array.from({ length: 14 }, (_, i) => long(i)), 'the first 14, whole');
  assert.ok(m.ownedNamesTruncated);
  assert.is(m.truncated, A.ATTACH_NAMES);
  m.free();
  const i = b.info(a.id, { attach: ['names'] });
  assert.is(i.ownedNames.length, 14, 'CONN_INFO: the same cap');
  assert.ok(i.ownedNamesTruncated);
  a.releaseName(long(0));
  a.sendText(b.id, 'x');
  m = b.recv()!;
  assert.equal(m.ownedNames.length, 15, 'fits again');
  assert.equal(m.ownedNames[14].name, 'org.short.Name');
  assert.not.ok(m.ownedNamesTruncated);
  m.free();
});

t('a broadcast asks the provider only for what some receiver asks for: an item nobody asks for is not read (a provider failing on it failed every signal), the clocks only for TIMESTAMP; each receiver gets its own share (stop 44, an outside audit)', async ({ bus }) => {
  const calls: Record<string, number> = {};
  const count = (k: string) => { calls[k] = (calls[k] ?? 0) + 1; };
  class Flaky extends MockProvider {
    broken = false; // (BUS_MAKE's and HELLO's snapshots read every item: broken once they are taken)
    override cgroup(): Uint8Array | null { count('cgroup'); if (this.broken) throw new Error('cgroup() unavailable'); return super.cgroup(); }
    override creds(o: Creds): boolean { count('creds'); return super.creds(o); }
    override exe(): Uint8Array | null { count('exe'); return super.exe(); }
    override clock(id: number, out: Uint32Array): boolean { count('clock'); return super.clock(id, out); }
  }
  const p = new Flaky({ exe: '/usr/bin/svc' });
  Object.defineProperty(p, 'epoch', { value: undefined }); // no epoch: every item read per message
  const { Bus } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 8, poolMax: 65536 } });
  const s = bus2.connect(); // attachSend 'all': cgroup allowed, asked for by nobody
  const r1 = bus2.connect({ attachRecv: ['creds'] }), r2 = bus2.connect({ attachRecv: ['creds', 'exe'] }), r3 = bus2.connect({ attachRecv: [] });
  const rule = "type='signal',interface='org.example.Foo'";
  for (const r of [r1, r2, r3]) r.addMatch(rule);
  p.broken = true;
  const sig = { path: '/o', interface: 'org.example.Foo', member: 'M', signature: 's', body: ['x'] };
  for (const k of Object.keys(calls)) delete calls[k];
  s.emit(sig);
  assert.equal(calls, { creds: 1, exe: 1 }, 'creds and exe once each, no cgroup, no clock');
  const m1 = r1.recv()!, m2 = r2.recv()!, m3 = r3.recv()!;
  assert.equal(m1.itemTypes.filter((x) => x !== A.ITEM_PAYLOAD_OFF && x !== A.ITEM_PAYLOAD_VEC), [A.ITEM_CREDS], 'r1: creds');
  assert.equal(m2.itemTypes.filter((x) => x !== A.ITEM_PAYLOAD_OFF && x !== A.ITEM_PAYLOAD_VEC), [A.ITEM_CREDS, A.ITEM_EXE], 'r2: creds and exe');
  assert.equal(m2.exe, '/usr/bin/svc');
  assert.equal(m3.itemTypes.filter((x) => x !== A.ITEM_PAYLOAD_OFF && x !== A.ITEM_PAYLOAD_VEC), [], 'r3: nothing');
  for (const m of [m1, m2, m3]) m.free();
  // a receiver that asks for TIMESTAMP: the clocks are read, for it alone
  r3.update({ attachRecv: ['timestamp'] });
  for (const k of Object.keys(calls)) delete calls[k];
  s.emit(sig);
  assert.equal(calls, { creds: 1, exe: 1, clock: 2 }, 'and the two clocks');
  const t1 = r1.recv()!, t3 = r3.recv()!;
  assert.is(t1.timestamp, null, 'r1 did not ask for it');
  assert.ok(t3.timestamp !== null && t3.timestamp.monotonicNs > 0n, 'r3 did');
  t1.free(); t3.free(); r2.recv()!.free();
  // one that asks for cgroup: the provider's failure is the broadcast's, nothing delivered (as before)
  r3.update({ attachRecv: ['cgroup'] });
  assert.throws(() => s.emit(sig), /cgroup\(\) unavailable/);
  assert.equal([r1.queued, r2.queued, r3.queued], [0, 0, 0], 'nothing delivered');
  assert.equal(bus2.check(), []);
  p.broken = false;
  for (const c of [s, r1, r2, r3]) c.close();
  await bus2.close();
});

t('a cmdline() whose last argument has no NUL reads as one more argument wherever it is, and is not flagged cut (stop 44, an outside audit)', async ({ bus }) => {
  const enc = (x: string) => new TextEncoder().encode(x);
  let answer = enc('abc');
  class Raw extends MockProvider {
    override cmdline(): Uint8Array | null { return answer; }
  }
  const p = new Raw();
  Object.defineProperty(p, 'epoch', { value: undefined }); // (read per message)
  const { Bus } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect(), b = bus2.connect({ attachRecv: ['cmdline'] });
  for (const [raw, argv] of [['abc', ['abc']], ['a\0b', ['a', 'b']], ['a\0bc\0d', ['a', 'bc', 'd']], ['a\0b\0', ['a', 'b']], ['', null]] as const) {
    answer = enc(raw);
    const before = answer.slice();
    a.sendText(b.id, 'x');
    const m = b.recv()!;
    assert.equal(m.cmdline, argv, JSON.stringify(raw));
    assert.is(m.cmdlineTruncated, false, `${JSON.stringify(raw)}: not cut`);
    m.free();
    assert.equal(answer, before, 'the provider\'s bytes are not modified');
  }
  a.close(); b.close();
  await bus2.close();
});

t('a clock() that returns true without writing reads as no clock (0), never as its last reading, and fails nothing (stop 44: a second look)', async ({ bus }) => {
  let silent = false;
  class Quiet extends MockProvider {
    override clock(id: number, out: Uint32Array): boolean { return silent ? true : super.clock(id, out); }
  }
  const { Bus } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: new Quiet(), limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect(), b = bus2.connect({ attachRecv: ['timestamp'] });
  const w = bus2.connect({ attachRecv: ['timestamp'] });
  w.addMatch({ notifications: 'name-add' });
  a.sendText(b.id, 'before');
  const m1 = b.recv()!;
  assert.ok(m1.timestamp!.monotonicNs > 0n, 'a reading');
  m1.free();
  silent = true;
  a.sendText(b.id, 'silent');
  const m2 = b.recv()!;
  assert.is(m2.timestamp!.monotonicNs, 0n, 'no reading: 0, not the last one');
  assert.is(m2.timestamp!.realtimeNs, 0n);
  m2.free();
  // a command whose bus notification reads the clocks after it committed goes through whole
  a.requestName('org.example.Quiet');
  const n = w.recv()!;
  assert.is(n.timestamp!.monotonicNs, 0n, 'the notification, with no reading');
  n.free();
  assert.equal(a.getNameOwner('org.example.Quiet'), a.id);
  // a call needs the monotonic clock for its deadline: refused at once, nothing sent (it
  // waited for good, and callSync blocked its thread, before: a last look, stop 44)
  await a.call(b.id, new Uint8Array(1), { timeout: 100 }).then(() => assert.unreachable('resolved'), (e) => {
    assert.is((e as BusError).code, 'EOPNOTSUPP');
    assert.match((e as Error).message, /^call: EOPNOTSUPP: this thread's provider has no CLOCK_MONOTONIC/);
  });
  assert.throws(() => a.callSync(b.id, new Uint8Array(1), { timeout: 100 }), /^callSync: EOPNOTSUPP: this thread's provider has no CLOCK_MONOTONIC/);
  assert.is(b.queued, 0, 'nothing sent');
  assert.is(a.pendingCalls, 0);
  silent = false;
  for (const c of [a, b, w]) c.close();
  await bus2.close();
});

t('a clock() that throws while a bus notification is stamped (after its command committed) reads as no clock there: the command and its notification go through; before the commit it fails the command, which changes nothing (stop 45)', async ({ bus }) => {
  let throwing = false;
  class Broken extends MockProvider {
    override clock(id: number, out: Uint32Array): boolean {
      if (throwing) throw new Error('clock broke');
      return super.clock(id, out);
    }
  }
  const { Bus } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: new Broken(), limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect(), b = bus2.connect({ attachRecv: ['timestamp'] }), x = bus2.connect();
  const w = bus2.connect({ attachRecv: ['timestamp'] });
  w.addMatch({ notifications: 'name-add' });
  w.addMatch({ notifications: 'id-remove' });
  throwing = true;
  // a notification read after the change: the call succeeds, the watcher gets it, with no reading
  a.requestName('org.example.Broken');
  assert.equal(a.getNameOwner('org.example.Broken'), a.id);
  const n = w.recv()!;
  assert.is(n.notification?.kind, 'name-add', 'the NAME_ACQUIRE notification');
  assert.is(n.timestamp!.monotonicNs, 0n, 'no reading');
  assert.is(n.timestamp!.realtimeNs, 0n);
  n.free();
  // BYEBYE: the close goes through, ID_REMOVE is sent
  const xid = x.id;
  x.close();
  const r = w.recv()!;
  const gone = r.notification;
  assert.ok(gone?.kind === 'id-remove' && gone.id === xid, 'the ID_REMOVE notification');
  r.free();
  // a message's own TIMESTAMP is read before anything is queued: the send fails with the
  // provider's error, and nothing reaches the receiver
  assert.throws(() => a.sendText(b.id, 'x'), /clock broke/);
  assert.is(b.queued, 0, 'nothing queued');
  throwing = false;
  a.sendText(b.id, 'y');
  const m = b.recv()!;
  assert.ok(m.timestamp!.monotonicNs > 0n);
  m.free();
  assert.equal(bus2.check(), []);
  for (const c of [w, a, b]) c.close();
  await bus2.close();
});

/** A MockProvider whose clock() throws from read `throwFrom` on (counted in `reads`). */
class LateClock extends MockProvider {
  reads = 0;
  throwFrom = Infinity;
  override clock(id: number, out: Uint32Array): boolean {
    if (++this.reads >= this.throwFrom) throw new Error(`clock broke at read ${this.reads}`);
    return super.clock(id, out);
  }
}

t('a clock() that throws after a close committed (its end: the REPLY_DEADs of the calls made to it) reads as no clock there: the close goes through whole; one that throws before it (the deadline tick) fails it and changes nothing (stop 45: a second look)', async ({ bus }) => {
  const pv = new LateClock();
  const { Bus } = await import('../../js/index.ts');
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: pv, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect({ attachRecv: ['timestamp'] }), svc = bus2.connect();
  const p = a.call(svc.id, new Uint8Array(4), { timeout: 60_000 });
  const got = p.then(() => 'reply', (e: BusError) => e.code);
  const m = svc.recv()!;
  m.free();
  // every read throws: the close's first read (the deadline tick, before it changes anything) fails it
  pv.throwFrom = pv.reads + 1;
  assert.throws(() => svc.close(), /clock broke/);
  assert.is(svc.closed, false, 'still open');
  assert.ok(bus2.connections.includes(svc));
  // its first read works, the later ones (after the close committed) throw: the close goes through
  pv.throwFrom = pv.reads + 2;
  svc.close();
  assert.is(svc.closed, true);
  assert.not.ok(bus2.connections.includes(svc), 'gone from bus.connections');
  pv.throwFrom = Infinity;
  assert.is(await got, 'EPIPE', 'the caller got its REPLY_DEAD');
  assert.equal(bus2.check(), []);
  a.close();
  await bus2.close();
});

t('the bus\'s own REPLY_TIMEOUTs read a throwing clock as no clock: a command that expires calls (each committed on its own) goes through whole; one whose first reading throws fails and changes nothing (stop 45: a last look)', async ({ bus }) => {
  const { Bus } = await import('../../js/index.ts');
  for (const k of [1, 2, 3, 4, 5, 6, 7]) {
    const p = new LateClock();
    const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
    const a = bus2.connect({ attachRecv: ['timestamp'] }), svc = bus2.connect(), x = bus2.connect();
    const ends = [0, 1, 2].map(() => a.call(svc.id, new Uint8Array(4), { timeout: 1 }).then(() => 'reply', (e: BusError) => e.code));
    const o = new Uint32Array(2);
    for (let i = 0; i < 3000; i++) p.clock(1, o); // 3 ms of the stepping clock: every deadline passed
    p.throwFrom = p.reads + k;
    if (k === 1) {
      // the expiry's own reading throws: nothing changed
      assert.throws(() => x.recv(), /clock broke/);
      assert.is(bus2.stats().calls.pending, 3, 'k 1: the calls still pending');
    } else {
      assert.is(x.recv(), null, `k ${k}: the command that expired them went through`);
      assert.is(bus2.stats().calls.pending, 0, `k ${k}: every call expired`);
    }
    p.throwFrom = Infinity;
    assert.equal(await Promise.all(ends), ['ETIMEDOUT', 'ETIMEDOUT', 'ETIMEDOUT']);
    assert.equal(bus2.check(), []);
    for (const c of [svc, a, x]) c.close({ drop: true });
    await bus2.close();
  }
});

t('a cancelled reply\'s REPLY_DEAD reads a throwing clock as no clock: the cancel goes through (stop 45: a last look)', async ({ bus }) => {
  const { Bus } = await import('../../js/index.ts');
  const p = new LateClock();
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const raw = new Raw(bus2.engine), e = bus2.engine;
  const a = open(raw, { attachRecv: A.ATTACH_TIMESTAMP }), b = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: 7, flags: A.MSG_EXPECT_REPLY, timeout: 1n << 62n }, items: [hostVec(4)] }), 0);
  const m = raw.recv(b.slot, b.gen);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  raw.writeSend({ msg: { dst: a.id, cookie: 1, timeout: 7 }, items: [hostVec(4)] });
  assert.is(e.send(b.slot, b.gen), A.SEND_PENDING, 'the reply reserved');
  p.throwFrom = p.reads + 1; // every read throws
  assert.is(e.sendCancel(), 0, 'the cancel went through');
  p.throwFrom = Infinity;
  const k = raw.recv(a.slot, a.gen);
  assert.is(k.r, 0);
  const sl = raw.slice(a.slot, k.offset);
  assert.is(raw.r64(sl + A.MSG_HDR + A.ITEM_TYPE), A.ITEM_REPLY_DEAD, 'the caller told');
  assert.is(raw.free(a.slot, a.gen, k.offset), 0);
  assert.equal(bus2.check(), []);
  assert.is(raw.byebye(a.slot, a.gen), 0);
  assert.is(raw.byebye(b.slot, b.gen), 0);
  await bus2.close();
});

t('bus.shutdown() whose closes meet a throwing clock says so as Bus.shutdown\'s BusError (the provider\'s error its cause); shutdown() again finishes (stop 45: a last look)', async ({ bus }) => {
  const { Bus, BusError } = await import('../../js/index.ts');
  const p = new LateClock();
  const bus2 = await Bus.create({ engine: bus.engine.kind, provider: p, limits: { threads: 2, connections: 4, poolMax: 65536 } });
  const a = bus2.connect(), svc = bus2.connect();
  const end = a.call(svc.id, new Uint8Array(4), { timeout: 60_000 }).then(() => 'reply', (e: BusError) => e.code);
  p.throwFrom = p.reads + 1; // every read throws: each close fails at its deadline tick
  let err: unknown = null;
  try { bus2.shutdown(); } catch (x) { err = x; }
  assert.ok(err instanceof BusError, `a BusError, got ${String(err)}`);
  assert.is((err as BusError).code, 'EBUSY');
  assert.match((err as Error).message, /^Bus\.shutdown: EBUSY: the bus is shut down \(every waiter woken\), but a connection of this thread could not be closed: its close threw "clock broke at read \d+"/);
  assert.match(String(((err as Error).cause as Error)?.message), /clock broke/);
  assert.is(bus2.isShutdown, true);
  assert.is(await end, 'ESHUTDOWN');
  p.throwFrom = Infinity;
  bus2.shutdown();
  assert.is(a.closed && svc.closed, true);
});

t.run();
