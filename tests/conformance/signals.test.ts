// Signals on the public API (issue 8): conn.addMatch (match strings, MatchSpec), conn.emit /
// conn.signal (broadcast and unicast D-Bus signals with their bloom filter), the receiver's
// re-check (m.dbus, m.matches, onSignal + dispatch) filtering bloom false positives,
// unsubscribe, decoded notifications (m.notification) and waitForName.
import * as assert from 'uvu/assert';
import { BusError, abi as A, dbus, type Connection, type Message } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('signals');
const tiny = busSuite('signals (8-byte bloom, 1 hash)', { bloom: { size: 8, hashes: 1 } });
const names = busSuite('signals (128 names)', { limits: { threads: 4, connections: 8, poolMax: 262144, names: 128, matches: 16, replies: 16 } });
const fewMatches = busSuite('signals (3 match entries)', { limits: { threads: 4, connections: 8, poolMax: 262144, names: 16, matches: 3, replies: 16 } });
const large = busSuite('signals (2 MiB pools)', { limits: { threads: 4, connections: 6, poolMax: 2097152, names: 16, matches: 16, replies: 16 } });
const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as BusError).code; } return 'ok'; };

/** Every queued message of `c`: [what, msg] with what = member or notification kind; freed after `f`. */
function drain(c: Connection, f?: (m: Message) => void): string[] {
  const out: string[] = [];
  for (let m = c.recv(); m; m = c.recv()) {
    f?.(m);
    const n = m.notification;
    out.push(n ? n.kind : m.dbus ? m.dbus.header.member! : 'other');
    m.free();
  }
  return out;
}
const FOO = { path: '/org/example/Obj', interface: 'org.example.Foo', member: 'Changed', signature: 'si', body: ['x', 7] };

t('a broadcast D-Bus signal reaches only the subscribers whose match strings match; unsubscribe', ({ bus }) => {
  const s = bus.connect(), a = bus.connect(), b = bus.connect(), c = bus.connect(), none = bus.connect();
  const offA = a.addMatch("type='signal',interface='org.example.Foo',member='Changed',path_namespace='/org/example',arg0='x'");
  b.addMatch("type='signal',interface='org.example.Bar'");
  c.addMatch({ match: "interface='org.example.Foo'", sender: s.id });
  const cookie = s.emit(FOO);
  assert.equal(drain(a, (m) => {
    assert.is(m.src, s.id);
    assert.is(m.payloadType, dbus.PAYLOAD_DBUS);
    assert.ok(m.flags & A.MSG_SIGNAL);
    assert.equal(m.dbus!.body, ['x', 7]);
    assert.is(m.dbus!.header.sender, s.uniqueName, 'the sender from the kdbus message');
    assert.is(m.dbus!.header.serial, cookie);
    assert.is(m.dbus!.header.destination, undefined, 'a broadcast has no destination');
    assert.ok(m.matches("interface='org.example.Foo',arg0='x'"));
    assert.not.ok(m.matches("arg0='y'"));
    assert.is(m.notification, null);
  }), ['Changed']);
  assert.equal(drain(b), [], 'another interface: rejected by the bloom check');
  assert.equal(drain(c), ['Changed'], 'ID rule and mask');
  assert.equal(drain(none), [], 'no match: nothing');
  assert.equal(drain(s), [], 'not to the sender');
  s.signal('/org/example/Obj', 'org.example.Foo', 'Changed', 's', ['y']);
  assert.equal(drain(a), [], "arg0='y' is not arg0='x'");
  assert.equal(drain(c), ['Changed']);
  offA();
  offA(); // idempotent
  s.emit(FOO);
  assert.equal(drain(a), [], 'unsubscribed');
  assert.equal(drain(c), ['Changed']);
  // another sender: c's ID rule rejects it
  b.emit(FOO);
  assert.equal(drain(c), []);
  for (const x of [s, a, b, c, none]) x.close();
});

t('each addMatch has its own cookie; close drops them all; errors', ({ bus, e }) => {
  const a = bus.connect(), s = bus.connect();
  const nMatches = () => e.u32[(e.connAddr(a.slot) + A.CONN_N_MATCHES) >>> 2];
  const off1 = a.addMatch("member='One'");
  a.addMatch("member='Two'");
  a.addMatch({ notifications: 'id-add' });
  assert.is(nMatches(), 3);
  off1();
  assert.is(nMatches(), 2);
  s.signal('/a', 'org.ex.I', 'One');
  s.signal('/a', 'org.ex.I', 'Two');
  assert.equal(drain(a), ['Two']);
  assert.is(code(() => a.addMatch("member='1bad'")), 'EINVAL');
  assert.is(code(() => a.addMatch({ notifications: 'id-add', sender: 3 })), 'EINVAL');
  assert.is(code(() => a.addMatch({ notifications: 'nope' as 'id-add' })), 'EINVAL');
  // not a string: refused by its kind, never looked up as a key (['name-add'], or an object whose
  // toString gave a kind, made a match entry; a BigInt or a cycle threw a TypeError: an outside audit, stop 71)
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  for (const [v, kind] of [[['name-add'], 'array'], [{ toString: () => 'id-add' }, 'object'], [10n, 'bigint'], [cycle, 'object'], [Symbol('x'), 'symbol']] as const) {
    let m = '';
    try { a.addMatch({ notifications: v as unknown as 'id-add' }); } catch (err) { m = err instanceof BusError ? err.message : `not a BusError: ${String(err)}`; }
    assert.is(m, `addMatch: EINVAL: notifications must be one of id-add, id-remove, name-add, name-remove, name-change, got ${kind}`);
  }
  assert.is(code(() => a.addMatch({ bloomMask: new Uint8Array(12) })), 'EDOM', 'the core judges the mask size');
  assert.is(code(() => a.addMatch({ wrong: 1 } as object)), 'EINVAL');
  assert.is(nMatches(), 2, 'failed adds left nothing');
  const off2 = a.addMatch({ bloomMask: new Uint8Array(64) });
  a.close();
  off2(); // a no-op once closed
  assert.is(code(() => a.addMatch('')), 'ECONNRESET');
  // the entries went with the connection: a signal finds no one
  s.signal('/a', 'org.ex.I', 'Two');
  s.close();
});

t('emit: unicast signals need a matching rule; a payload larger than the command area goes as a host vec; over MAX_PAYLOAD is EMSGSIZE', ({ bus }) => {
  const s = bus.connect(), r = bus.connect(), other = bus.connect();
  s.emit({ ...FOO, destination: r.id });
  assert.equal(drain(r), [], 'a unicast signal without a rule is not delivered');
  r.addMatch({ destination: r.id });
  other.addMatch('');
  s.emit({ ...FOO, destination: r.id });
  s.emit({ ...FOO, destination: r.uniqueName, member: 'ByUnique' });
  r.requestName('org.example.R');
  s.emit({ ...FOO, destination: 'org.example.R', member: 'ByName' });
  drain(r, (m) => assert.ok(m.dbus!.header.destination === r.uniqueName || m.dbus!.header.destination === 'org.example.R'));
  assert.equal(drain(other), [], 'unicast: only the destination');
  s.signal('/a', 'org.ex.I', 'Big', 's', ['z'.repeat(40000)]); // more than the command area: staged
  assert.equal(drain(other), ['Big']);
  const err = (() => { try { s.signal('/a', 'org.ex.I', 'Huge', 's', ['z'.repeat(A.MAX_PAYLOAD)]); } catch (x) { return x as BusError; } return null; })();
  assert.is(err?.code, 'EMSGSIZE');
  assert.is(err?.reason, A.R_SEND_PAYLOAD_MAX);
  assert.is(s.poolUsed, 0);
  s.signal('/a', 'org.ex.I', 'Fits', 's', ['z'.repeat(30000)]);
  assert.equal(drain(other), ['Fits']);
  assert.is(code(() => s.signal('/a/', 'org.ex.I', 'M')), 'EINVAL', 'bad path');
  assert.is(code(() => s.emit({ ...FOO, signature: 'u', body: ['x'] })), 'EINVAL');
  for (const x of [s, r, other]) x.close();
});

// (API.md, emit and onSignal; both sentences were wrong until an outside audit, stop 35)
t('only a broadcast staged as a host vector needs room in its sender\'s own pool; addMatch(\'\') takes signals only, addMatch({}) notifications too', ({ bus }) => {
  const s = bus.connect({ poolSize: 16384 }); // its own quota there: about 2.7 KiB
  const any = bus.connect(), all = bus.connect();
  any.addMatch('');
  all.addMatch({});
  s.signal('/a', 'org.ex.I', 'Fits', 's', ['z'.repeat(30000)]); // in the command area: no staging
  assert.equal(drain(any), ['Fits']);
  assert.equal(drain(all), ['Fits']);
  const err = (() => { try { s.signal('/a', 'org.ex.I', 'Big', 's', ['z'.repeat(40000)]); } catch (x) { return x as BusError; } return null; })();
  assert.ok(err?.code === 'ENOBUFS' || err?.code === 'EXFULL', `staged in a 16 KiB pool: ${err?.code}`);
  assert.equal(drain(any), [], 'sent nothing');
  assert.equal(drain(all), []);
  const c = bus.connect();
  c.requestName('org.example.N');
  c.close();
  assert.equal(drain(any), [], 'a bloom-mask entry never passes a notification');
  assert.equal(drain(all), ['id-add', 'name-add', 'name-remove', 'id-remove']);
  for (const x of [all, s, any]) x.close(); // (all first: it would get the others' ID_REMOVE)
});

tiny('a bloom false positive is delivered, and filtered by m.matches and onSignal', ({ bus }) => {
  const s = bus.connect(), r = bus.connect();
  const p = { size: 8, nHash: 1 };
  const rule = dbus.parseMatch("type='signal',interface='org.ex.I',member='M0'");
  const mask = dbus.ruleMask(rule, p);
  // a member whose filter passes M0's mask: a genuine hash collision in 64 bits
  let fp = '';
  for (let i = 1; i < 5000 && !fp; i++) {
    const h = { type: 'signal' as const, serial: 1, path: '/a', interface: 'org.ex.I', member: `M${i}` };
    if (dbus.bloomCheck(dbus.signalFilter(h, [], p), 0, mask)) fp = `M${i}`;
  }
  assert.ok(fp, 'found a colliding member');
  const got: string[] = [];
  r.onSignal("type='signal',interface='org.ex.I',member='M0'", (sig, m) => { got.push(sig.header.member!); assert.is(m.src, s.id); });
  s.signal('/a', 'org.ex.I', 'M0');
  s.signal('/a', 'org.ex.I', fp);
  const seen: [string, boolean, number][] = [];
  for (let m = r.recv(); m; m = r.recv()) {
    seen.push([m.dbus!.header.member!, m.matches(rule), r.dispatch(m)]);
    m.free();
  }
  assert.equal(seen, [['M0', true, 1], [fp, false, 0]], 'both delivered; the re-check keeps M0 only');
  assert.equal(got, ['M0']);
  s.close();
  r.close();
});

t('onSignal: handlers by full rule, unsubscribe removes the match', ({ bus }) => {
  const s = bus.connect(), r = bus.connect();
  const got: string[] = [];
  const off = r.onSignal("interface='org.ex.I',arg0path='/x/'", (sig) => got.push(`A:${sig.body[0]}`));
  r.onSignal("interface='org.ex.I',member='M'", (sig) => got.push(`B:${sig.body[0]}`));
  s.signal('/a', 'org.ex.I', 'M', 's', ['/x/y']);
  s.signal('/a', 'org.ex.I', 'M', 's', ['/z']);
  s.signal('/a', 'org.ex.I', 'N', 's', ['/z']); // arg0path adds no bloom element: delivered, re-check rejects
  for (let m = r.recv(); m; m = r.recv()) { r.dispatch(m); m.free(); }
  assert.equal(got, ['A:/x/y', 'B:/x/y', 'B:/z']);
  off();
  got.length = 0;
  s.signal('/a', 'org.ex.I', 'N', 's', ['/x/y']);
  assert.equal(drain(r), [], "only B's match is left");
  r.sendText(s.id, 'not D-Bus');
  const m = s.recv()!;
  assert.is(m.dbus, null);
  assert.is(m.matches(''), false);
  assert.is(s.dispatch(m), 0);
  m.free();
  s.close();
  r.close();
});

t("dispatch: a handler runs only when its own rule's bloom mask passes, so a rule on an argument after a non-string one never runs, whatever else the connection matches", ({ bus }) => {
  const s = bus.connect(), r = bus.connect();
  const got: string[] = [];
  // (i s): arg1 is after a non-string argument, outside the filter (DBUS.md's known limit)
  r.onSignal("type='signal',arg1='org.example.Name'", (sig) => got.push(`arg1:${sig.header.member}`));
  r.onSignal("type='signal',arg0='org.example.Name'", (sig) => got.push(`arg0:${sig.header.member}`));
  s.signal('/a', 'org.ex.I', 'A', 'is', [1, 'org.example.Name']);
  assert.equal(drain(r), [], 'the arg1 rule alone lets nothing in');
  // an unrelated rule of the same connection lets the signal in: the arg1 handler still does not run
  r.onSignal("type='signal',interface='org.ex.I'", (sig) => got.push(`iface:${sig.header.member}`));
  s.signal('/a', 'org.ex.I', 'B', 'is', [1, 'org.example.Name']);
  s.signal('/a', 'org.ex.I', 'C', 'ss', ['org.example.Name', 'x']);
  let runs = 0;
  for (let m = r.recv(); m; m = r.recv()) { runs += r.dispatch(m); m.free(); }
  assert.equal(got, ['iface:B', 'arg0:C', 'iface:C']);
  assert.is(runs, 3);
  s.close();
  r.close();
});

t('a D-Bus message whose header disagrees with its kdbus message is refused (EBADMSG), as sd-bus did: a signal sent as a plain unicast, a serial that is not the cookie', ({ bus }) => {
  const s = bus.connect(), r = bus.connect();
  let ran = 0;
  r.onSignal("interface='org.ex.I',member='M'", () => { ran++; });
  // a signal, but sent without the kdbus SIGNAL flag (a plain unicast), serial = the cookie
  const sig = (serial: number) => dbus.encodeMessage({ type: 'signal', serial, path: '/p', interface: 'org.ex.I', member: 'M', signature: 's', flags: 0 }, ['x']);
  s.send(r.id, sig(9001), { payloadType: dbus.PAYLOAD_DBUS, cookie: 9001 });
  let m = r.recv()!;
  assert.throws(() => m.dbus, (e: BusError) => e.code === 'EBADMSG' && /the D-Bus header says \w+ and the kdbus SIGNAL flag is (set|clear): it must be set exactly for a signal/.test(e.message));
  assert.is(r.dispatch(m), 0, 'no handler runs for it');
  m.free();
  // a method call whose header serial is not its kdbus cookie
  const call = dbus.encodeMessage({ type: 'method_call', serial: 777, path: '/p', interface: 'org.ex.I', member: 'M', flags: dbus.FLAG_NO_REPLY_EXPECTED }, []);
  s.send(r.id, call, { payloadType: dbus.PAYLOAD_DBUS, cookie: 5 });
  m = r.recv()!;
  assert.throws(() => m.dbus, (e: BusError) => e.code === 'EBADMSG' && /the header serial 777 is not the kdbus cookie 5/.test(e.message));
  assert.is(r.dispatch(m), 0);
  m.free();
  // bytes after the message: not one D-Bus message
  const one = dbus.encodeMessage({ type: 'method_call', serial: 6, path: '/p', interface: 'org.ex.I', member: 'M', flags: dbus.FLAG_NO_REPLY_EXPECTED }, []);
  const longer = new Uint8Array(one.length + 8);
  longer.set(one);
  s.send(r.id, longer, { payloadType: dbus.PAYLOAD_DBUS, cookie: 6 });
  m = r.recv()!;
  assert.throws(() => m.dbus, (e: BusError) => e.code === 'EBADMSG' && /exactly one message/.test(e.message));
  m.free();
  assert.is(ran, 0);
});

t('notifications decoded: id-add, id-remove, name-add, name-change, name-remove', ({ bus }) => {
  const w = bus.connect();
  w.addMatch({ notifications: 'id-add' });
  w.addMatch({ notifications: 'id-remove' });
  w.addMatch({ notifications: 'name-add' });
  w.addMatch({ notifications: 'name-change' });
  w.addMatch({ notifications: 'name-remove' });
  const a = bus.connect(), b = bus.connect();
  a.requestName('org.ex.N', { allowReplacement: true });
  b.requestName('org.ex.N', { replaceExisting: true });
  b.releaseName('org.ex.N');
  const bid = b.id;
  b.close();
  const got: unknown[] = [];
  for (let m = w.recv(); m; m = w.recv()) {
    assert.is(m.src, 0);
    assert.is(m.dst, 2 ** 64, "a notification is a broadcast: dst_id ~0, as kdbus's (stop 42: it said the receiver's id)");
    assert.is(m.payloadType, 0n);
    assert.is(m.dbus, null);
    got.push(m.notification);
    m.free();
  }
  assert.equal(got, [
    { kind: 'id-add', id: a.id, flags: 0 },
    { kind: 'id-add', id: bid, flags: 0 },
    // (a side with an owner carries NAME_PRIMARY beside its stored flags, as kdbus's did)
    { kind: 'name-add', name: 'org.ex.N', oldOwner: null, newOwner: a.id, oldFlags: 0, newFlags: A.NAME_ALLOW_REPLACEMENT | A.NAME_PRIMARY },
    { kind: 'name-change', name: 'org.ex.N', oldOwner: a.id, newOwner: bid, oldFlags: A.NAME_ALLOW_REPLACEMENT | A.NAME_PRIMARY, newFlags: A.NAME_PRIMARY },
    { kind: 'name-remove', name: 'org.ex.N', oldOwner: bid, newOwner: null, oldFlags: A.NAME_PRIMARY, newFlags: 0 },
    { kind: 'id-remove', id: bid, flags: 0 },
  ]);
  const x = bus.connect();
  x.addMatch({ notifications: 'id-add', id: 999 });
  bus.connect().close();
  assert.equal(drain(x), [], 'an id-add rule about another id');
  a.close();
  drain(w);
  drain(x);
  w.close();
  x.close();
});

t('waitForName: owned already, owned later (bus: notifications; conn: polling), timeout, abort', async ({ bus }) => {
  const a = bus.connect();
  a.requestName('org.ex.Now');
  assert.is(await bus.waitForName('org.ex.Now', { timeout: 1000 }), a.id);
  assert.is(await a.waitForName('org.ex.Now'), a.id);
  const later = bus.waitForName('org.ex.Later', { timeout: 5000 });
  const later2 = a.waitForName('org.ex.Later', { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 20));
  const b = bus.connect();
  b.requestName('org.ex.Later');
  assert.is(await later, b.id);
  assert.is(await later2, b.id);
  const t0 = performance.now();
  const e1 = await bus.waitForName('org.ex.Never', { timeout: 30 }).then(() => null, (x: BusError) => x);
  assert.is(e1?.code, 'ETIMEDOUT');
  assert.ok(performance.now() - t0 < 2000);
  const e2 = await a.waitForName('org.ex.Never', { timeout: 10 }).then(() => null, (x: BusError) => x);
  assert.is(e2?.code, 'ETIMEDOUT');
  const ac = new AbortController();
  const p = bus.waitForName('org.ex.Never', { signal: ac.signal });
  setTimeout(() => ac.abort(), 10);
  assert.is((await p.then(() => null, (x: BusError) => x))?.code, 'ECANCELED');
  assert.is(bus.connections.length, 2, 'the helper connections were closed');
  assert.is((await bus.waitForName(7 as unknown as string).then(() => null, (x: BusError) => x))?.code, 'EINVAL');
  a.close();
  b.close();
});


t('waitForName { owner }: a queued owner waits for its turn (bus: notifications; conn: polling); its timeout says so; a bad owner is EINVAL', async ({ bus }) => {
  // (a new-user audit, stop 23: a queued owner had to match NAME_CHANGE itself, or poll)
  const a = bus.connect(), b = bus.connect();
  a.requestName('org.ex.Turn');
  assert.is(b.requestName('org.ex.Turn', { queue: true }), 'in-queue');
  const mine = bus.waitForName('org.ex.Turn', { owner: b.id, timeout: 5000 });
  const mine2 = b.waitForName('org.ex.Turn', { owner: b.id, timeout: 5000 });
  assert.is(await bus.waitForName('org.ex.Turn', { owner: a.id }), a.id, 'the owner now: at once');
  await new Promise((r) => setTimeout(r, 20));
  let settled = false;
  void mine.then(() => { settled = true; });
  await null;
  assert.is(settled, false, 'not while another owns it');
  a.releaseName('org.ex.Turn');
  assert.is(await mine, b.id);
  assert.is(await mine2, b.id);
  const e1 = await bus.waitForName('org.ex.Turn', { owner: a.id, timeout: 20 }).then(() => null, (x: BusError) => x);
  assert.is(e1?.message, `waitForName: ETIMEDOUT: "org.ex.Turn" did not pass to ${a.id} (as its primary owner) within 20 ms`);
  const e2 = await b.waitForName('org.ex.Turn', { owner: a.id, timeout: 10 }).then(() => null, (x: BusError) => x);
  assert.is(e2?.code, 'ETIMEDOUT');
  for (const bad of [0, -1, 1.5, '2', null]) {
    const e = await bus.waitForName('org.ex.Turn', { owner: bad as unknown as number }).then(() => null, (x: BusError) => x);
    assert.match(`${e?.code} ${e?.message}`, /^EINVAL waitForName: EINVAL: owner must be a connection id \(an integer > 0\), got /);
  }
  assert.is(bus.connections.length, 2, 'the helper connections were closed');
  while (b.drop());
  a.close();
  b.close();
});

t("a well-known sender in a match string is a NAME rule: only the name's primary owner's signals reach", ({ bus }) => {
  const owner = bus.connect(), other = bus.connect(), rx = bus.connect();
  const seen: number[] = [];
  rx.onSignal("type='signal',sender='org.example.Svc',interface='org.example.Foo'", (_, m) => seen.push(m.src));
  const pump = () => { for (let m = rx.recv(); m; m = rx.recv()) { rx.dispatch(m); m.free(); } };
  owner.emit(FOO);
  pump();
  assert.equal(seen, [], 'nobody owns the name yet');
  owner.requestName('org.example.Svc');
  owner.emit(FOO);
  other.emit(FOO);
  pump();
  assert.equal(seen, [owner.id], 'the owner only');
  owner.releaseName('org.example.Svc');
  owner.emit(FOO);
  pump();
  assert.equal(seen, [owner.id], 'released: no longer');
  assert.is(code(() => rx.addMatch({ notifications: 'name-add', name: 'bad' })), 'EINVAL');
  assert.is(code(() => rx.addMatch({ notifications: 'id-add', name: 'org.example.Svc' })), 'EINVAL');
  assert.is(code(() => rx.addMatch({ match: "interface='a.b'", name: 'org.example.Svc' } as never)), 'EINVAL');
  for (const x of [owner, other, rx]) x.close();
});

t('a name-* notification rule with a name: notifications about that name only', ({ bus }) => {
  const w = bus.connect(), a = bus.connect();
  w.addMatch({ notifications: 'name-add', name: 'org.example.Watched' });
  w.addMatch({ notifications: 'name-remove', name: 'org.example.Watched' });
  a.requestName('org.example.Other');
  a.requestName('org.example.Watched');
  a.releaseName('org.example.Watched');
  a.releaseName('org.example.Other');
  const got: string[] = [];
  for (let m = w.recv(); m; m = w.recv()) {
    const n = m.notification;
    if (n && 'name' in n) got.push(`${n.kind} ${n.name}`);
    m.free();
  }
  assert.equal(got, ['name-add org.example.Watched', 'name-remove org.example.Watched']);
  for (const x of [w, a]) x.close();
});

large('a signal larger than the command area: broadcast through a staging slice, unicast as a host vec', ({ bus }) => {
  const pool = { poolSize: 2097152 };
  const s = bus.connect(pool), rx = [bus.connect(pool), bus.connect(pool), bus.connect(pool)];
  for (const r of rx) r.addMatch("interface='org.example.Big'");
  const text = 'x'.repeat(200 * 1024) + 'end';
  const BIG = { path: '/o', interface: 'org.example.Big', member: 'Blob', signature: 's', body: [text] };
  s.emit(BIG);
  assert.is(s.poolUsed, 0, 'the staging slice was freed');
  for (const r of rx) {
    const m = r.recv();
    assert.ok(m, 'delivered');
    assert.equal(m!.dbus!.body, [text]);
    assert.is(m!.src, s.id);
    m!.free();
    assert.is(r.recv(), null);
  }
  s.emit({ ...BIG, destination: rx[1].id });
  const m = rx[1].recv();
  assert.equal(m!.dbus!.body, [text], 'unicast');
  m!.free();
  // too large for the sender's own pool quota (a sixth of its pool): its errno
  const small = bus.connect({ poolSize: 262144 });
  assert.is(code(() => small.emit(BIG)), 'ENOBUFS');
  assert.is(small.poolUsed, 0);
  for (const r of rx) assert.is(r.recv(), null, 'nothing from the failed one');
  for (const x of [s, small, ...rx]) x.close();
});

t('a MatchRule object without args (documented: absent means none) works in addMatch, onSignal and m.matches', ({ bus }) => {
  // (an outside audit: the types required args, and addMatch read such an object as a MatchSpec: EINVAL "unknown option rule.type")
  const s = bus.connect(), a = bus.connect(), b = bus.connect();
  const rule = { type: 'signal' as const, interface: 'org.example.Foo', member: 'Changed' };
  const off = a.addMatch(rule);
  b.addMatch({ interface: 'org.example.Other' });
  s.emit(FOO);
  const m = a.recv()!;
  assert.ok(m && m.matches(rule) && m.matches({ interface: 'org.example.Foo' }));
  assert.not.ok(m.matches({ member: 'Other' }));
  let handled = 0;
  const unsub = a.onSignal(rule, () => { handled++; });
  assert.is(a.dispatch(m), 1);
  assert.is(handled, 1);
  m.free();
  assert.is(b.recv(), null, 'the other rule does not match');
  // a MatchSpec key beside MatchRule keys: said so
  assert.throws(() => a.addMatch({ match: "interface='x.y'", member: 'M' } as never), (e: BusError) => e.code === 'EINVAL' && /is a MatchSpec/.test(e.message));
  unsub(); off();
  s.close(); a.close(); b.close();
});

t('MatchRule objects: only sender or destination (names: a MatchRule), a class instance or inherited keys (refused: EINVAL, nothing added), getters read once', ({ bus }) => {
  // (a second outside audit: { sender: 'name' } was read as a MatchSpec and refused; a rule
  // whose keys sat on its prototype was read as {} and matched every signal; a getter was read
  // three times and could answer a TypeError)
  const s = bus.connect(), a = bus.connect();
  s.requestName('org.example.Sender');
  const off = a.addMatch({ sender: 'org.example.Sender' });
  s.emit(FOO);
  const m = a.recv()!;
  assert.ok(m && m.matches({ sender: 'org.example.Sender' }) && m.matches({ sender: s.uniqueName }));
  assert.not.ok(m.matches({ sender: 'org.example.Nobody' }));
  m.free();
  off();
  const matches0 = bus.stats().matches.live;
  class Rule { get interface() { return 'org.example.Only'; } }
  for (const bad of [new Rule(), Object.create({ interface: 'org.example.Only' })]) {
    assert.throws(() => a.addMatch(bad as never), (e: BusError) => e.code === 'EINVAL' && /plain object/.test(e.message));
    assert.throws(() => a.onSignal(bad as never, () => {}), (e: BusError) => e.code === 'EINVAL' && /plain object/.test(e.message));
  }
  assert.is(bus.stats().matches.live, matches0, "nothing added");
  let reads = 0;
  const once = { get interface() { return reads++ === 0 ? 'org.example.Foo' : (7 as unknown as string); } };
  const off2 = a.addMatch(once);
  assert.is(reads, 1, 'the getter read once');
  off2();
  s.close(); a.close();
});

t('a bad match string is EINVAL told as the method that took it (addMatch, onSignal, matches), not parseMatch', async ({ bus }) => {
  // (they said parseMatch before stop 39, as they did not for a bad MatchRule: an outside audit)
  const a = bus.connect(), b = bus.connect();
  const says = (f: () => unknown, op: string) => {
    try { f(); } catch (err) {
      assert.instance(err, BusError);
      assert.is((err as BusError).code, 'EINVAL');
      assert.ok((err as BusError).message.startsWith(`${op}: EINVAL: type must be one of`), (err as BusError).message);
      return;
    }
    assert.unreachable(`${op}: accepted`);
  };
  says(() => b.addMatch("type='bogus'"), 'addMatch');
  says(() => b.onSignal("type='bogus'", () => {}), 'onSignal');
  b.addMatch('');
  a.signal('/x', 'org.a.B', 'C');
  const m = b.recv()!;
  says(() => m.matches("type='bogus'"), 'matches');
  assert.throws(() => dbus.parseMatch("type='bogus'"), (err: BusError) => err.message.startsWith('parseMatch: EINVAL: '), 'parseMatch itself');
  m.free();
  a.close(); b.close();
});

// (an outside audit, stop 41: the first handler's throw left the later handlers unrun)
t('dispatch: a handler that throws does not stop the others; once all ran the first error is thrown as it was, a later one dropped', ({ bus }) => {
  const s = bus.connect(), r = bus.connect();
  const ran: string[] = [];
  const first = new Error('first'), second = new Error('second');
  r.onSignal("member='Changed'", () => { ran.push('A'); throw first; });
  r.onSignal("member='Changed'", () => { ran.push('B'); });
  r.onSignal("member='Changed'", () => { ran.push('C'); throw second; });
  r.onSignal("member='Other'", () => { ran.push('D'); });
  s.signal('/x', 'org.ex.I', 'Changed');
  const m = r.recv()!;
  let thrown: unknown = null;
  try { r.dispatch(m); } catch (err) { thrown = err; }
  assert.is(thrown, first, "the first handler's error, not wrapped");
  assert.equal(ran, ['A', 'B', 'C'], 'every matching handler ran, in order');
  m.free();
  // a handler that throws undefined: thrown as it is too, after the others
  const t2 = bus.connect();
  t2.onSignal("member='Changed'", () => { ran.push('E'); throw undefined; });
  t2.onSignal("member='Changed'", () => { ran.push('F'); });
  s.signal('/x', 'org.ex.I', 'Changed');
  const m2 = t2.recv()!;
  assert.throws(() => t2.dispatch(m2), (err: unknown) => err === undefined);
  assert.equal(ran.slice(3), ['E', 'F']);
  m2.free();
  for (let x = r.recv(); x; x = r.recv()) x.free();
  // the connection dispatches as before afterwards
  s.signal('/x', 'org.ex.I', 'Other');
  const m3 = r.recv()!;
  assert.is(r.dispatch(m3), 1);
  assert.equal(ran.slice(5), ['D']);
  m3.free();
  s.close(); r.close(); t2.close();
});

names('bus.waitForName: a burst of other names does not crowd out the awaited one; it resolves with the owner at its end, not a stale one', async ({ bus }) => {
  // (an outside audit, stop 42: its matches took every name's changes, 68 of them filled the
  // short-lived connection's quota and the awaited NAME_ADD was dropped: ETIMEDOUT; and the
  // first NAME_ADD's owner was returned though it had released the name meanwhile)
  const svc = bus.connect(), c = bus.connect(), a = bus.connect();
  const p = bus.waitForName('org.ex.Target', { timeout: 3000 }).then((id) => id, (e: BusError) => e.code);
  await new Promise((r) => setTimeout(r, 20)); // parked
  for (let i = 0; i < 100; i++) svc.requestName(`org.ex.Other${i}`);
  svc.requestName('org.ex.Target');
  assert.is(await p, svc.id, 'resolved, not ETIMEDOUT');
  const q = bus.waitForName('org.ex.Y', { timeout: 3000 }).then((id) => id, (e: BusError) => e.code);
  await new Promise((r) => setTimeout(r, 20));
  c.requestName('org.ex.Y'); c.releaseName('org.ex.Y'); a.requestName('org.ex.Y'); // one synchronous turn
  assert.is(await q, a.id, 'the owner when the wait ended');
  assert.is(bus.connections.length, 3, 'its connection closed');
  for (let i = 0; i < 100; i++) svc.releaseName(`org.ex.Other${i}`);
  svc.close(); c.close(); a.close();
});

t("an activator's notifications: NAME_ADD says ACTIVATOR | PRIMARY, the real owner's NAME_CHANGE takes it to PRIMARY and back", ({ bus }) => {
  // (kdbus's flags: each side with an owner was, or has just become, the primary owner;
  // before stop 42 the stored flags alone: an outside audit)
  const w = bus.connect();
  w.addMatch({ notifications: 'name-add' });
  w.addMatch({ notifications: 'name-change' });
  w.addMatch({ notifications: 'name-remove' });
  const act = bus.connect({ activator: 'org.ex.Act' });
  const a = bus.connect();
  a.requestName('org.ex.Act', { queue: true });
  a.releaseName('org.ex.Act');
  const got: unknown[] = [];
  for (let m = w.recv(); m; m = w.recv()) { got.push(m.notification); m.free(); }
  const AP = A.NAME_ACTIVATOR | A.NAME_PRIMARY;
  assert.equal(got, [
    { kind: 'name-add', name: 'org.ex.Act', oldOwner: null, newOwner: act.id, oldFlags: 0, newFlags: AP },
    { kind: 'name-change', name: 'org.ex.Act', oldOwner: act.id, newOwner: a.id, oldFlags: AP, newFlags: A.NAME_QUEUE | A.NAME_PRIMARY },
    { kind: 'name-change', name: 'org.ex.Act', oldOwner: a.id, newOwner: act.id, oldFlags: A.NAME_QUEUE | A.NAME_PRIMARY, newFlags: AP },
  ]);
  a.close(); act.close();
  for (let m = w.recv(); m; m = w.recv()) m.free();
  w.close();
});

t('a MatchSpec whose sender / destination id and its match string\'s unique name disagree is EINVAL, nothing added; agreeing, one rule; a unique name past 2^53 is EINVAL for both keys', ({ bus, e }) => {
  // (an outside audit, stop 46: the spec's id replaced the match string's silently, and a
  // destination past 2^53 was left out, matching every signal)
  const a = bus.connect(), s = bus.connect(), o = bus.connect();
  const nMatches = () => e.u32[(e.connAddr(a.slot) + A.CONN_N_MATCHES) >>> 2];
  const err = (f: () => unknown) => { try { f(); } catch (x) { return x as BusError; } return null; };
  const x1 = err(() => a.addMatch({ match: `sender='${o.uniqueName}'`, sender: s.id }));
  assert.is(x1?.code, 'EINVAL');
  assert.ok(/sender \d+ and the match's sender=':1\.\d+' disagree/.test(x1!.message), x1!.message);
  const x2 = err(() => a.addMatch({ match: `destination='${o.uniqueName}'`, destination: a.id }));
  assert.is(x2?.code, 'EINVAL');
  assert.ok(x2!.message.includes('DST_ID'), x2!.message);
  assert.is(nMatches(), 0, 'nothing added');
  // agreeing: one ID rule, the sender's signals only
  a.addMatch({ match: `interface='org.example.Foo',sender='${s.uniqueName}'`, sender: s.id });
  assert.is(nMatches(), 1);
  s.emit(FOO);
  o.emit(FOO);
  assert.equal(drain(a, (m) => assert.is(m.src, s.id)), ['Changed']);
  for (const key of ['sender', 'destination']) {
    const x = err(() => a.addMatch(`${key}=':1.9007199254740993'`));
    assert.is(x?.code, 'EINVAL', key);
    assert.ok(x!.message.includes('no connection has: its id must be at most 16 digits'), x!.message);
    // (zero-padded to 17 digits: the same rule, which the message says; an audit, stop 46)
    assert.is(err(() => a.addMatch(`${key}=':1.00000000000000003'`))?.code, 'EINVAL');
  }
  assert.is(nMatches(), 1);
  for (const c of [a, s, o]) c.close();
});

t('an emit from the caller\'s code inside an emit (a body element\'s getter): each signal goes out whole, with its own header, filter and body', ({ bus }) => {
  // (emit reuses one header, bloom filter and prepared record from signal to signal since
  // stop 54: an emit under way on the thread makes the nested one use its own)
  const a = bus.connect(), sub = bus.connect();
  sub.addMatch("type='signal',interface='org.ex.Outer'");
  sub.addMatch("type='signal',interface='org.ex.Inner',arg0='in'");
  let nested = 0;
  const body = new Proxy(['out'], {
    get(t, k, r) {
      if (k === '0' && nested === 0) {
        nested++;
        a.emit({ path: '/in', interface: 'org.ex.Inner', member: 'Nested', signature: 's', body: ['in'] });
      }
      return Reflect.get(t, k, r);
    },
  });
  a.emit({ path: '/out', interface: 'org.ex.Outer', member: 'Outer', signature: 's', body });
  a.emit({ path: '/out2', interface: 'org.ex.Outer', member: 'After', signature: 's', body: ['after'] });
  assert.is(nested, 1);
  const got: string[] = [];
  for (let m; (m = sub.recv()) !== null;) {
    const d = m.dbus!;
    got.push(`${d.header.path} ${d.header.interface}.${d.header.member}(${d.header.signature}) ${JSON.stringify(d.body)}`);
    m.free();
  }
  assert.equal(got, ['/in org.ex.Inner.Nested(s) ["in"]', '/out org.ex.Outer.Outer(s) ["out"]', '/out2 org.ex.Outer.After(s) ["after"]']);
  a.close();
  sub.close();
});

t('a body value\'s getter that emits, or that answers differently each time: each signal reaches exactly its subscribers, each value read once', ({ bus }) => {
  // (the getter's emit rebuilt the one cached bloom filter the outer signal was being hashed
  // into, and the outer signal then missed its own subscribers and reached others'; a getter
  // read three times (sized, hashed, encoded) gave a filter that disagreed with the bytes sent.
  // An outside audit, stop 54: the filter is computed from the encoded message now)
  const a = bus.connect(), app = bus.connect(), audit = bus.connect(), disk = bus.connect(), cpu = bus.connect();
  app.addMatch("type='signal',interface='org.ex.App',member='Changed'");
  audit.addMatch("type='signal',interface='org.ex.Audit'");
  disk.addMatch("type='signal',interface='org.ex.Load',arg0='disk'");
  cpu.addMatch("type='signal',interface='org.ex.Load',arg0='cpu'");
  const body: unknown[] = ['x', 'y'];
  let reads = 0;
  Object.defineProperty(body, 1, { get() { reads++; a.emit({ path: '/audit', interface: 'org.ex.Audit', member: 'Read', signature: 's', body: ['y'] }); return 'y'; } });
  a.emit({ path: '/app', interface: 'org.ex.App', member: 'Changed', signature: 'as', body: [body] });
  assert.is(reads, 1, 'the getter ran once');
  const answers = ['disk', 'cpu', 'cpu'];
  let n = 0;
  const load: unknown[] = [];
  Object.defineProperty(load, 0, { get() { return answers[n++] ?? 'cpu'; } });
  a.emit({ path: '/load', interface: 'org.ex.Load', member: 'Now', signature: 's', body: load });
  assert.is(n, 1, 'arg0 read once');
  const got = (c: typeof a) => drain(c, () => {}).length;
  const show = (c: typeof a) => { const out: string[] = []; for (let m; (m = c.recv()) !== null;) { const d = m.dbus!; out.push(`${d.header.interface}.${d.header.member} ${JSON.stringify(d.body)}`); m.free(); } return out; };
  assert.equal(show(app), ['org.ex.App.Changed [["x","y"]]']);
  assert.equal(show(audit), ['org.ex.Audit.Read ["y"]']);
  assert.equal(show(disk), ['org.ex.Load.Now ["disk"]'], 'the arg0 sent, and its filter, agree');
  assert.is(got(cpu), 0, 'no false negative turned into a false positive elsewhere');
  for (const c of [a, app, audit, disk, cpu]) c.close();
});

large('a body getter read more than once (a message larger than the codec\'s buffer, or encoded inside another) that answers shorter, or longer, the last time: the message sent whole, or EINVAL and nothing sent; a first string of 1000 bytes read once', ({ bus }) => {
  // (a shorter last answer sent the sized buffer whole: a message followed by garbage, which
  // no receiver could read and whose filter came from the wrong offset; a longer one was the
  // codec's EMSGSIZE about its buffer; and a message that outgrew the codec's buffer, 256
  // bytes at first, had its values read three times. An outside audit, stop 54. Since stop 57
  // the buffer grows and is kept, so whether a 70 KB message outgrows it depends on what the
  // thread encoded before; one encoded inside another's getter is always sized, then written.)
  const a = bus.connect(), sub = bus.connect(), arg = bus.connect();
  sub.addMatch("type='signal',interface='org.ex.Big'");
  arg.addMatch("type='signal',interface='org.ex.Big',arg1='org.ex.Name'");
  const getterBody = (answers: string[]) => {
    let n = 0;
    const body: unknown[] = ['first', 'org.ex.Name', ''];
    Object.defineProperty(body, 2, { get() { return answers[Math.min(n++, answers.length - 1)]; } });
    return { body, reads: () => n };
  };
  /** `inner` runs inside the getter of another emit's body (its encoding under way) */
  const nested = (inner: () => void) => {
    const body: unknown[] = [];
    Object.defineProperty(body, 0, { get() { inner(); return 'o'; }, enumerable: true });
    a.emit({ path: '/outer', interface: 'org.ex.Outer', member: 'M', signature: 's', body });
  };
  const big = 'x'.repeat(70000), small = 'y'.repeat(10);
  const received = (want: string) => {
    for (const c of [sub, arg]) {
      const m = c.recv();
      assert.ok(m !== null, 'delivered, also to the arg1 rule');
      assert.equal(m!.dbus!.body, ['first', 'org.ex.Name', want], 'the message as last written, whole');
      m!.free();
      assert.is(c.recv(), null);
    }
  };
  // on its own: read once if it fits the codec's buffer, else up to three times (the last answer sent)
  const top = getterBody([big, big, small]);
  a.emit({ path: '/big', interface: 'org.ex.Big', member: 'M', signature: 'sss', body: top.body });
  assert.ok(top.reads() >= 1 && top.reads() <= 3, `read ${top.reads()} times`);
  received(top.reads() === 1 ? big : small);
  // inside another emit: sized, then written
  const shrink = getterBody([big, small]);
  nested(() => a.emit({ path: '/big', interface: 'org.ex.Big', member: 'M', signature: 'sss', body: shrink.body }));
  assert.is(shrink.reads(), 2, 'sized, then written');
  received(small);
  const grow = getterBody([big, big + 'z']);
  let err: unknown = null;
  nested(() => { try { a.emit({ path: '/big', interface: 'org.ex.Big', member: 'M', signature: 'sss', body: grow.body }); } catch (e) { err = e; } });
  assert.instance(err, BusError);
  assert.is((err as BusError).code, 'EINVAL');
  assert.match((err as BusError).message, /^emit: EINVAL: .*a body value changed while the message was encoded/);
  assert.is(sub.recv(), null, 'nothing sent');
  const once = getterBody(['z'.repeat(1000)]);
  a.emit({ path: '/big', interface: 'org.ex.Big', member: 'M', signature: 'sss', body: once.body });
  assert.is(once.reads(), 1, 'a 1 KiB message: its values read once');
  drain(sub);
  drain(arg);
  for (const c of [a, sub, arg]) c.close();
});

fewMatches('bus.waitForName on a match table without two free entries polls getNameOwner (was ENFILE): owned already, owned later, timeout', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.addMatch({ notifications: 'id-add' });
  b.addMatch({ notifications: 'id-add' });
  a.requestName('org.ex.Owned');
  assert.is(bus.stats().matches.live, 2, 'one entry free: too few for the two notification matches');
  assert.is(await bus.waitForName('org.ex.Owned', { timeout: 1000 }), a.id);
  assert.is(bus.stats().matches.live, 2, 'its one match given back');
  const later = bus.waitForName('org.ex.Later', { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 20));
  assert.is(bus.stats().matches.live, 2, 'none held while it polls');
  b.requestName('org.ex.Later');
  assert.is(await later, b.id);
  const x = await bus.waitForName('org.ex.Never', { timeout: 30 }).then(() => null, (y: BusError) => y);
  assert.is(x?.code, 'ETIMEDOUT');
  assert.is(bus.connections.length, 2, 'its connections closed');
  drain(a);
  drain(b);
  a.close();
  b.close();
});

t('a rule with a unique destination lets in a signal sent to a well-known name its connection owns: m.matches is true and dispatch runs its handler, as the bus delivered it (stop 65, an outside reading)', ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  assert.is(b.requestName('org.ex.Svc'), 'primary');
  const rule = `type='signal',interface='org.ex.Foo',destination='${b.uniqueName}'`;
  const other = `type='signal',interface='org.ex.Foo',destination='${c.uniqueName}'`;
  let ran = 0;
  const off = b.onSignal(rule, () => { ran++; });
  a.emit({ path: '/o', interface: 'org.ex.Foo', member: 'ByName', destination: 'org.ex.Svc' });
  a.emit({ path: '/o', interface: 'org.ex.Foo', member: 'ById', destination: b.id });
  const got: string[] = [];
  for (let m = b.recv(); m; m = b.recv()) {
    got.push(`${m.dbus!.header.member}:${m.matches(rule)}:${m.matches(other)}:${b.dispatch(m)}`);
    m.free();
  }
  assert.equal(got, ['ByName:true:false:1', 'ById:true:false:1']);
  assert.is(ran, 2);
  off();
  a.close(); b.close(); c.close();
});

t('an unsubscribe whose MATCH_REMOVE fails (EDEADLK: a lock held by a thread not recovered yet) changed nothing and can be called again: the match goes then, and an onSignal handler stays until it does (stop 65, an outside reading)', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const live = () => bus.stats().matches.live;
  const off = b.addMatch("type='signal',interface='org.ex.Foo'");
  let ran = 0;
  const offSig = b.onSignal("type='signal',interface='org.ex.Bar'", () => { ran++; });
  assert.is(live(), 2);
  const word = (A.BUS_BASE + A.BUS_LOCK) >>> 2;
  const holder = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2]; // the last thread slot's id: not LIVE here
  const waitMs = e.lockWaitMs;
  Atomics.store(e.i32, word, holder);
  e.lockWaitMs = 5;
  try {
    assert.is(code(off), 'EDEADLK');
    assert.is(code(offSig), 'EDEADLK');
  } finally {
    e.lockWaitMs = waitMs;
    Atomics.store(e.i32, word, 0);
  }
  assert.is(live(), 2, 'nothing removed');
  a.emit({ path: '/o', interface: 'org.ex.Bar', member: 'X' });
  const m = b.recv()!;
  assert.is(b.dispatch(m), 1, 'the handler is still there');
  m.free();
  assert.is(ran, 1);
  off();
  offSig();
  assert.is(live(), 0, 'removed on the second call');
  off(); offSig(); // idempotent
  a.emit({ path: '/o', interface: 'org.ex.Foo', member: 'X' });
  a.emit({ path: '/o', interface: 'org.ex.Bar', member: 'X' });
  assert.is(b.queued, 0, 'neither signal comes any more');
  a.close(); b.close();
});

t('a bloomMask longer than any entry holds: EDOM (R_MATCH_BLOOM_SIZE) when its length is not a multiple of the bloom size, else EMSGSIZE (R_MATCH_BLOOM_GENERATIONS), as the core says of shorter ones (stop 65, an outside reading)', ({ bus }) => {
  const a = bus.connect();
  const size = bus.engine.u32[(A.BUS_BASE + A.BUS_BLOOM_SIZE) >>> 2];
  const reasonOf = (f: () => unknown): string => { try { f(); } catch (x) { return `${(x as BusError).code}/${(x as BusError).reason}`; } return 'ok'; };
  assert.is(reasonOf(() => a.addMatch({ bloomMask: new Uint8Array(size + 4) })), `EDOM/${A.R_MATCH_BLOOM_SIZE}`, 'the core');
  assert.is(reasonOf(() => a.addMatch({ bloomMask: new Uint8Array(3 * size) })), `EMSGSIZE/${A.R_MATCH_BLOOM_GENERATIONS}`, 'the core');
  const big = 2 * A.BLOOM_SIZE_MAX + 8;
  assert.is(reasonOf(() => a.addMatch({ bloomMask: new Uint8Array(big + (big % size === 0 ? 4 : 0)) })), `EDOM/${A.R_MATCH_BLOOM_SIZE}`);
  assert.is(reasonOf(() => a.addMatch({ bloomMask: new Uint8Array(size * Math.ceil((2 * A.BLOOM_SIZE_MAX + 1) / size)) })), `EMSGSIZE/${A.R_MATCH_BLOOM_GENERATIONS}`);
  assert.throws(() => a.addMatch({ bloomMask: new Uint8Array(big + 4) }), (x: BusError) => x.code !== 'EDOM' || /non-zero multiple of the bus's bloom size/.test(x.message));
  assert.is(bus.stats().matches.live, 0, 'nothing added');
  a.close();
});

t.run();
tiny.run();
large.run();
names.run();
fewMatches.run();
