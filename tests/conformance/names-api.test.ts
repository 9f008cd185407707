// The public names API: requestName's typed results, releaseName, getNameOwner /
// nameHasOwner on the bus and a connection, listNames / listPeers, send(name), its errors.
import * as assert from 'uvu/assert';
import { BusError, abi } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('names API');
const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as BusError).code; } return 'ok'; };

t('requestName results, getNameOwner, listNames, listPeers, send by name', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  assert.is(a.requestName('org.api.One', { allowReplacement: true }), 'primary');
  assert.is(a.requestName('org.api.One', { allowReplacement: true }), 'already-owner', 'flags updated (still allowing replacement)');
  assert.is(b.requestName('org.api.One', { queue: true }), 'in-queue');
  assert.is(b.requestName('org.api.One', { queue: true }), 'already-queued');
  assert.is(bus.getNameOwner('org.api.One'), a.id);
  assert.is(b.nameHasOwner('org.api.Two'), false);
  assert.equal(bus.listNames(), ['org.api.One']);
  assert.equal(a.listPeers(), [a.id, b.id]);
  b.send('org.api.One', new Uint8Array([7]));
  const m = a.recv()!;
  assert.equal([...m.payload], [7]);
  m.free();
  assert.is(b.requestName('org.api.One', { replaceExisting: true }), 'primary');
  assert.is(a.getNameOwner('org.api.One'), b.id);
  b.releaseName('org.api.One');
  assert.is(bus.nameHasOwner('org.api.One'), false, 'a had no QUEUE: it lost the name');
  a.close();
  b.close();
  assert.is(bus.getNameOwner('org.api.One'), null, 'works with no connection open');
});

t('requestName follows the documented rules in order: replacement before queueing (a queued connection takes the name, the replaced owner goes first in line or loses it), left-queue, EEXIST; list() is in slot order, not queue order (stop 50: outside audit DM)', ({ bus }) => {
  const [p, q, r, s] = [bus.connect(), bus.connect(), bus.connect(), bus.connect()];
  const who = (id: number | null) => ({ [p.id]: 'p', [q.id]: 'q', [r.id]: 'r', [s.id]: 's' })[id ?? -1];
  const N = 'org.api.Rules';
  assert.is(s.requestName(N, { queue: true }), 'primary', 'rule 1: no primary');
  assert.is(r.requestName(N, { queue: true }), 'in-queue', 'rule 4: appended');
  assert.is(q.requestName(N, { queue: true, replaceExisting: true }), 'in-queue', 'rule 3 needs the primary to allow replacement: appended after r');
  assert.is(p.requestName(N, { queue: true }), 'in-queue');
  // list(): one record per (connection, name), in connection slot order, PRIMARY or IN_QUEUE only
  const rec = p.list({ names: true, queued: true }).filter((x) => x.name === N);
  assert.equal(rec.map((x) => who(x.id)), ['p', 'q', 'r', 's'], 'slot order');
  assert.equal(rec.map((x) => (x.nameFlags! & abi.NAME_PRIMARY) !== 0), [false, false, false, true]);
  // the queue's order shows as the name passes on
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const o = bus.getNameOwner(N)!;
    order.push(who(o)!);
    [p, q, r, s].find((c) => c.id === o)!.releaseName(N);
  }
  assert.equal(order, ['s', 'r', 'q', 'p'], 'FIFO');

  const M = 'org.api.Replace';
  assert.is(p.requestName(M, { allowReplacement: true, queue: true }), 'primary');
  assert.is(q.requestName(M, { queue: true }), 'in-queue');
  assert.is(r.requestName(M, { queue: true }), 'in-queue');
  // rule 3 before rule 5: queued r asks again without queue but with replaceExisting, and p
  // allows replacement: r takes the name ('primary', not 'left-queue'); p had queue: first in line
  assert.is(r.requestName(M, { replaceExisting: true }), 'primary');
  assert.equal(p.stats().names, { owned: 0, queued: 1 }, 'the replaced owner is queued');
  assert.equal(r.stats().names, { owned: 1, queued: 0 });
  // r did not allow replacement: q's replaceExisting only updates its flags (rule 4)
  assert.is(q.requestName(M, { queue: true, replaceExisting: true }), 'already-queued');
  r.releaseName(M);
  assert.is(who(bus.getNameOwner(M)), 'p', 'the replaced owner was first in line, ahead of q');
  // rule 5: queued q asks again without queue and without replaceExisting: it leaves the queue
  assert.is(q.requestName(M), 'left-queue');
  assert.equal(q.stats().names, { owned: 0, queued: 0 });
  assert.is(code(() => q.requestName(M)), 'EEXIST', 'not queued, no replacement: EEXIST');
  // a replaced owner without queue loses the name
  assert.is(p.requestName(M, { allowReplacement: true }), 'already-owner', 'flags updated: queue dropped');
  assert.is(s.requestName(M, { replaceExisting: true }), 'primary');
  assert.equal(p.stats().names, { owned: 0, queued: 0 }, 'it lost the name');
  s.releaseName(M);
  assert.is(bus.getNameOwner(M), null);
  for (const c of [p, q, r, s]) c.close();
});

t("the D-Bus driver's names are reserved, as sd-bus reserves them: requestName and an activator's EINVAL, nothing taken, waitForName EINVAL, a send to the driver ESRCH saying so", async ({ bus }) => {
  const a = bus.connect();
  const before = bus.stats().connections.length;
  for (const [name, why] of [['org.freedesktop.DBus', /the bus's own name/], ['org.freedesktop.DBus.Local', /local end of a D-Bus connection/]] as const) {
    for (const queue of [false, true]) {
      try { a.requestName(name, { queue, replaceExisting: true }); assert.unreachable(); } catch (e) {
        assert.is((e as BusError).code, 'EINVAL');
        assert.match((e as BusError).message, /^requestName: EINVAL: /);
        assert.match((e as BusError).message, why);
      }
    }
    try { bus.connect({ activator: name }); assert.unreachable(); } catch (e) {
      assert.is((e as BusError).code, 'EINVAL');
      assert.match((e as BusError).message, /^connect: EINVAL: .* as sd-bus reserves it: no connection may own it$/);
    }
    assert.is(bus.getNameOwner(name), null);
  }
  // checked after the activator's length, as connect's table of errors says (a too long description first)
  assert.is(code(() => bus.connect({ activator: 'org.freedesktop.DBus', description: 'x'.repeat(5000) })), 'ENAMETOOLONG');
  // waitForName: EINVAL at once, not the whole timeout
  for (const w of [() => bus.waitForName('org.freedesktop.DBus', { timeout: 60000 }), () => a.waitForName('org.freedesktop.DBus.Local', { timeout: 60000 })]) {
    try { await w(); assert.unreachable(); } catch (e) {
      assert.is((e as BusError).code, 'EINVAL');
      assert.match((e as BusError).message, /no connection may own it: waitForName would wait out its timeout$/);
    }
  }
  // a call to the D-Bus driver: ESRCH, saying there is none
  try { a.send('org.freedesktop.DBus', new Uint8Array(1)); assert.unreachable(); } catch (e) {
    assert.is((e as BusError).code, 'ESRCH');
    assert.match((e as BusError).message, /no connection owns the name "org\.freedesktop\.DBus": it is the D-Bus driver's, reserved, and wasmbus has no driver/);
  }
  assert.is(bus.stats().connections.length, before, 'no activator connection left behind');
  assert.equal(bus.listNames(), []);
  assert.is(a.requestName('org.freedesktop.DBus.Other'), 'primary', 'only the two names are reserved');
  a.close();
});

t('errors: EEXIST, ESRCH, EADDRINUSE, EINVAL with messages naming the rule', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.requestName('org.api.Two');
  assert.is(code(() => b.requestName('org.api.Two')), 'EEXIST');
  assert.is(code(() => b.releaseName('org.api.Two')), 'EADDRINUSE');
  assert.is(code(() => b.releaseName('org.api.Three')), 'ESRCH');
  assert.is(code(() => b.send('org.api.Three', null)), 'ESRCH');
  try { b.requestName('bad'); assert.unreachable(); } catch (e) { assert.match((e as BusError).message, /not a well-known name/); }
  assert.is(code(() => b.requestName('org.api.X', { queue: 1 as unknown as boolean })), 'EINVAL');
  assert.is(code(() => b.requestName(5 as unknown as string)), 'EINVAL');
  a.close();
  b.close();
  assert.is(code(() => a.requestName('org.api.Two')), 'ECONNRESET');
});

t('releaseName checks the name form first: EINVAL naming the rule, not ESRCH (as sd_bus_release_name)', ({ bus }) => {
  // (audit EZ, stop 56: a malformed or reserved name read "no connection owns" it)
  const a = bus.connect();
  a.requestName('org.api.Kept');
  const before = JSON.stringify(a.list({ unique: true, names: true, queued: true }));
  const cases: [string, RegExp][] = [
    ['bad', /^releaseName: EINVAL: "bad" is not a well-known name \(two or more '\.'-separated elements/],
    ['', /is not a well-known name/],
    ['a..b', /"a\.\.b" is not a well-known name/],
    ['org.3x', /is not a well-known name/],
    [`org.${'x'.repeat(300)}`, /is not a well-known name .*at most 255 bytes/],
    [':1.1', /":1\.1" is a unique name \(a connection's own, for as long as it is open: nothing to release\); releaseName takes a well-known name/],
    [':x.y', /neither a unique name of this bus .* nor a well-known name/],
    ['org.freedesktop.DBus', /reserved as sd-bus reserves it: no connection may own it/],
  ];
  for (const [name, re] of cases) {
    try { a.releaseName(name); assert.unreachable(name); } catch (e) {
      assert.instance(e, BusError, name);
      assert.is((e as BusError).code, 'EINVAL', name);
      assert.match((e as BusError).message, re, name);
    }
  }
  assert.is(JSON.stringify(a.list({ unique: true, names: true, queued: true })), before, 'nothing changed');
  assert.is(code(() => a.releaseName('org.api.Nobody')), 'ESRCH', 'a well-formed name nobody owns: still ESRCH');
  a.releaseName('org.api.Kept');
  a.close();
});


t('unique names: getNameOwner(":1.<id>") and info(":1.<id>") take them as send() does; an invalid name is EINVAL, said by the method called', ({ bus }) => {
  // (outside audit, stop 16: info() refused ":1.<id>", getNameOwner answered null for any string)
  const a = bus.connect({ description: 'alice' }), b = bus.connect();
const err = (f: () => unknown) => { try { f(); } catch (e) { return e as BusError; } assert.unreachable('no error'); return null as never; };
  assert.is(b.getNameOwner(a.uniqueName), a.id, 'a unique name on the bus: its own id (D-Bus GetNameOwner answers a unique name with itself)');
  assert.is(bus.nameHasOwner(a.uniqueName), true);
  assert.is(b.info(a.uniqueName).description, 'alice');
  assert.is(bus.connectionInfo(a.uniqueName).description, 'alice');
  const gone = bus.connect();
  const goneName = gone.uniqueName;
  gone.close();
  assert.is(b.getNameOwner(goneName), null, 'a unique name no longer on the bus');
  assert.is(b.getNameOwner(':1.99999'), null);
  assert.is(err(() => b.getNameOwner(':1.99999999999999999999')).code, 'EINVAL', 'an id past 2^53, as info() says');
    for (const bad of ['bad', 'org..x', '1org.x', ':x.1', `org.${'a'.repeat(260)}`]) {
    const e = err(() => b.getNameOwner(bad));
    assert.is(e.code, 'EINVAL', bad);
    assert.match(e.message, /^getNameOwner: EINVAL: .*(not a well-known name|neither a unique name)/, bad);
  }
  assert.match(err(() => b.nameHasOwner('bad')).message, /^nameHasOwner: EINVAL/);
  assert.match(err(() => bus.nameHasOwner('bad')).message, /^nameHasOwner: EINVAL/);
  assert.match(err(() => bus.connectionInfo('bad')).message, /^connectionInfo: EINVAL/, 'bus.connectionInfo says its own name');
  assert.is(err(() => bus.connectionInfo(':1.99999')).code, 'ENXIO');
  a.close();
  b.close();
});
t('a close passes its names on the last one asked for first, then ID_REMOVE; connect({ flags: 1 }) is announced with flags 1 (API.md, BYEBYE and the notifications; stop 62: outside audit GA)', ({ bus }) => {
  const w = bus.connect();
  for (const k of ['id-add', 'id-remove', 'name-remove'] as const) w.addMatch({ notifications: k });
  const c = bus.connect({ flags: 1 }), plain = bus.connect();
  for (const n of ['org.order.A', 'org.order.B', 'org.order.C']) c.requestName(n);
  c.releaseName('org.order.B');
  c.requestName('org.order.B');
  const cid = c.id, pid = plain.id;
  c.close();
  plain.close();
  const seen: string[] = [];
  for (let m = w.recv(); m !== null; m = w.recv()) {
    const n = m.notification!;
    if (n.kind === 'id-add' || n.kind === 'id-remove') seen.push(`${n.kind} ${n.id === cid ? 'c' : n.id === pid ? 'plain' : n.id} ${n.flags}`);
    else seen.push(`${n.kind} ${'name' in n ? n.name : ''}`);
    m.free();
  }
  assert.equal(seen, ['id-add c 1', 'id-add plain 0', 'name-remove org.order.B' /* the release */, 'name-remove org.order.B', 'name-remove org.order.C', 'name-remove org.order.A', 'id-remove c 1', 'id-remove plain 0']);
  w.close();
});
t.run();
