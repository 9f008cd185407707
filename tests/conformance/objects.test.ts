// Exported objects and D-Bus method calls (js/objects.ts): conn.export / unexport, the
// dispatch rule (UnknownObject, UnknownInterface, UnknownMethod, InvalidArgs, Failed, a
// handler's own DBusError), async handlers, NO_REPLY_EXPECTED, Peer and Introspectable,
// calls by well-known name. Every failing call must reject at once with the remote error:
// the service answers in the same thread, so a call that got no reply would stay pending
// (and the leak check would find it in the reply table).
import * as assert from 'uvu/assert';
import { Bus, BusError, DBusError, DBUS_ERROR, dbus, abi as A, type Connection, type MethodCall } from '../../js/index.ts';
import { busSuite, ENGINE } from '../helpers/harness.ts';

const t = busSuite('objects');

/** Receive and dispatch everything queued for `svc` (freed); returns what dispatch returned for each. */
function serve(svc: Connection): number[] {
  const out: number[] = [];
  for (let m = svc.recv(); m; m = svc.recv()) { out.push(svc.dispatch(m)); m.free(); }
  return out;
}
/** The remote error of a call: [errorName, message], or 'resolved'. */
async function remote(p: Promise<unknown>): Promise<[string, string] | string> {
  try { await p; } catch (e) {
    if (e instanceof DBusError) return [e.errorName, e.message];
    return (e as BusError).code ?? String(e);
  }
  return 'resolved';
}
const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as BusError).code; } return 'ok'; };
const CALC = { path: '/org/example/Calc', interface: 'org.example.Calc' };

function exportCalc(svc: Connection, seen: MethodCall[] = []): () => void {
  return svc.export(CALC.path, CALC.interface, {
    Add: { in: 'ii', out: 'i', handler: ([a, b], call) => { seen.push(call); return [(a as number) + (b as number)]; } },
    Echo: { out: 's', handler: (args) => [JSON.stringify(args)] },
    Nothing: () => {},
    Boom: { handler: () => { throw new Error('the handler broke'); } },
    Denied: { handler: () => { throw new DBusError('org.example.Calc.Error.Denied', 'not for you'); } },
    BadReturn: { out: 'i', handler: () => ['not a number'] },
  });
}

t('export: a method call by id is answered by its handler; the handler sees the call; callMethod resolves with the body', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const seen: MethodCall[] = [];
  exportCalc(svc, seen);
  const p = cli.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [2, 40] });
  assert.is(cli.pendingCalls, 1);
  assert.equal(serve(svc), [1]);
  assert.equal(await p, [42]);
  assert.is(cli.pendingCalls, 0);
  assert.is(seen.length, 1);
  const c = seen[0];
  assert.is(c.path, CALC.path);
  assert.is(c.interface, CALC.interface);
  assert.is(c.member, 'Add');
  assert.is(c.signature, 'ii');
  assert.is(c.sender, cli.uniqueName);
  assert.is(c.senderId, cli.id);
  assert.is(c.noReply, false);
  // the header's sender and destination from the kdbus message, as m.dbus has them (the
  // destination was missing before stop 35: an outside audit)
  assert.is(c.header.sender, cli.uniqueName);
  assert.is(c.header.destination, svc.uniqueName, 'called by id: the receiver\'s unique name');
  svc.requestName('org.example.Calc');
  const byName = cli.callMethod({ destination: 'org.example.Calc', ...CALC, member: 'Add', signature: 'ii', body: [1, 1] });
  serve(svc);
  assert.equal(await byName, [2]);
  assert.is(seen[1].header.destination, 'org.example.Calc', 'called by name: the name');
  svc.releaseName('org.example.Calc');
  // a bare handler: any arguments, empty reply; no interface named: found in any interface
  const q = cli.callMethod({ destination: svc.uniqueName, path: CALC.path, member: 'Nothing', signature: 's', body: ['x'] });
  serve(svc);
  assert.equal(await q, []);
  const r = cli.callMethod({ destination: svc.id, ...CALC, member: 'Echo', signature: 'sai', body: ['x', [1, 2]] });
  serve(svc);
  assert.equal(await r, ['["x",[1,2]]']);
  assert.is(cli.recv(), null, 'the replies went to their calls');
  svc.close(); cli.close();
});

t('errors: UnknownObject, UnknownInterface, UnknownMethod, InvalidArgs, Failed (throw, bad return), a DBusError of the handler', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  exportCalc(svc);
  const call = (over: object) => cli.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [1, 2], ...over });
  const ps = [
    call({ path: '/org/example/Nope' }),
    call({ interface: 'org.example.Other' }),
    call({ member: 'Subtract' }),
    call({ interface: undefined, member: 'Subtract' }),
    call({ signature: 's', body: ['1'] }),
    call({ member: 'Boom', signature: '', body: [] }),
    call({ member: 'Denied', signature: '', body: [] }),
    call({ member: 'BadReturn', signature: '', body: [] }),
  ];
  assert.equal(serve(svc), [1, 1, 1, 1, 1, 1, 1, 1], 'each call is answered by dispatch');
  const got = await Promise.all(ps.map(remote));
  assert.equal(got.map((g) => g[0]), [
    DBUS_ERROR.UnknownObject, DBUS_ERROR.UnknownInterface, DBUS_ERROR.UnknownMethod, DBUS_ERROR.UnknownMethod,
    DBUS_ERROR.InvalidArgs, DBUS_ERROR.Failed, 'org.example.Calc.Error.Denied', DBUS_ERROR.Failed,
  ]);
  assert.is(got[0][1], "No such object path '/org/example/Nope'");
  assert.is(got[1][1], "No such interface 'org.example.Other' at object path '/org/example/Calc'");
  assert.match(got[2][1], "No such method 'Subtract' in interface 'org.example.Calc'");
  assert.match(got[3][1], 'any interface');
  assert.is(got[4][1], "Invalid arguments for Add: signature 's', expected 'ii'");
  assert.is(got[5][1], 'the handler broke');
  assert.is(got[6][1], 'not for you');
  assert.match(got[7][1], 'does not match its signature');
  assert.is(cli.pendingCalls, 0);
  assert.is(cli.recv(), null);
  // a connection that exports nothing answers too (UnknownObject), as sd-bus does
  const p = cli.callMethod({ destination: bus.connect().id, path: '/', member: 'X' });
  const other = bus.connections[bus.connections.length - 1];
  serve(other);
  assert.equal(await remote(p), [DBUS_ERROR.UnknownObject, "No such object path '/'"]);
  svc.close(); cli.close(); other.close();
});

t('async handlers: the reply is sent when the promise settles (after the message was freed); a rejection is Failed', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  svc.export('/a', 'org.example.Slow', {
    Later: { in: 'ay', out: 'ay', handler: async ([bytes]) => { await gate; return [bytes]; } },
    Reject: { handler: async () => { await gate; throw new Error('async failure'); } },
    Custom: { handler: async () => { throw new DBusError('org.example.Slow.Nope', 'custom'); } },
  });
  const p1 = cli.callMethod({ destination: svc.id, path: '/a', interface: 'org.example.Slow', member: 'Later', signature: 'ay', body: [new Uint8Array([1, 2, 3])] });
  const p2 = remote(cli.callMethod({ destination: svc.id, path: '/a', interface: 'org.example.Slow', member: 'Reject' }));
  const p3 = remote(cli.callMethod({ destination: svc.id, path: '/a', member: 'Custom' }));
  assert.equal(serve(svc), [1, 1, 1], 'dispatched, the messages freed');
  assert.is(cli.pendingCalls, 3);
  release();
  const [b] = await p1 as [Uint8Array];
  assert.equal([...b], [1, 2, 3], 'the argument outlived the freed message');
  assert.equal(await p2, [DBUS_ERROR.Failed, 'async failure']);
  assert.equal(await p3, ['org.example.Slow.Nope', 'custom']);
  assert.is(cli.pendingCalls, 0);
  svc.close(); cli.close();
});

t('NO_REPLY_EXPECTED (sendMethod): the handler runs, no reply and no error reply is sent', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const calls: MethodCall[] = [];
  svc.export('/n', 'org.example.N', { Note: { in: 's', handler: (_a, c) => { calls.push(c); return undefined; } }, Boom: () => { throw new Error('x'); } });
  cli.sendMethod({ destination: svc.id, path: '/n', interface: 'org.example.N', member: 'Note', signature: 's', body: ['hi'] });
  cli.sendMethod({ destination: svc.id, path: '/n', interface: 'org.example.N', member: 'Missing' });
  cli.sendMethod({ destination: svc.id, path: '/n', interface: 'org.example.N', member: 'Boom' });
  cli.sendMethod({ destination: svc.id, path: '/nowhere', member: 'X' });
  const m = svc.recv()!;
  assert.not.ok(m.expectsReply);
  assert.is(m.dbus!.header.flags, dbus.FLAG_NO_REPLY_EXPECTED);
  assert.is(svc.dispatch(m), 1);
  m.free();
  assert.equal(serve(svc), [1, 1, 1]);
  assert.is(calls.length, 1);
  assert.ok(calls[0].noReply);
  assert.is(cli.recv(), null, 'nothing came back');
  assert.is(cli.pendingCalls, 0);
  svc.close(); cli.close();
});

t('a service found by well-known name; Peer.Ping / GetMachineId; Introspect; unexport', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  assert.is(svc.requestName('org.example.Calc'), 'primary');
  const off = exportCalc(svc);
  svc.export('/org/example/Calc/Sub', 'org.example.Sub', { Hi: { in: 's', out: 's', handler: ([s]) => [`hi ${s}`] } });
  const p = cli.callMethod({ destination: 'org.example.Calc', ...CALC, member: 'Add', signature: 'ii', body: [-1, 1] });
  const ping = cli.callMethod({ destination: 'org.example.Calc', path: '/any/where', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
  const mid = cli.callMethod({ destination: 'org.example.Calc', path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'GetMachineId' });
  const intro = cli.callMethod({ destination: 'org.example.Calc', path: '/org/example', interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' });
  const intro2 = cli.callMethod({ destination: 'org.example.Calc', ...CALC, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' });
  const intro3 = remote(cli.callMethod({ destination: 'org.example.Calc', path: '/other', interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }));
  assert.equal(serve(svc), [1, 1, 1, 1, 1, 1]);
  assert.equal(await p, [0]);
  assert.equal(await ping, []);
  const [id] = await mid as [string];
  assert.is(id, [...bus.id128].map((x) => x.toString(16).padStart(2, '0')).join(''));
  const [x1] = await intro as [string];
  assert.match(x1, '<node name="Calc"/>');
  assert.not.match(x1, 'org.example.Calc"');
  const [x2] = await intro2 as [string];
  assert.match(x2, '<interface name="org.example.Calc">');
  assert.match(x2, '<method name="Add"><arg type="i" direction="in"/><arg type="i" direction="in"/><arg type="i" direction="out"/></method>');
  assert.match(x2, '<node name="Sub"/>');
  assert.match(x2, 'org.freedesktop.DBus.Peer');
  assert.equal(await intro3, [DBUS_ERROR.UnknownObject, "No such object path '/other'"]);
  // without an interface, at an exported path: the standard members answer (the XML lists them),
  // unless an exported interface has a member of that name
  svc.export('/own', 'org.example.Own', { Ping: { out: 's', handler: () => ['mine'] } });
  const bare = (path: string, member: string) => cli.callMethod({ destination: 'org.example.Calc', path, member });
  const b1 = bare(CALC.path, 'Ping'), b2 = bare(CALC.path, 'GetMachineId'), b3 = bare(CALC.path, 'Introspect'), b4 = bare('/own', 'Ping');
  assert.equal(serve(svc), [1, 1, 1, 1]);
  assert.equal(await b1, []);
  assert.equal(await b2, [id]);
  assert.match((await b3 as [string])[0], '<interface name="org.example.Calc">');
  assert.equal(await b4, ['mine']);
  // calls to two names and two callers in turn: each reaches its owner and is answered to its
  // caller (the last destination name's bytes and the last unique name are kept between sends)
  const svc2 = bus.connect(), cli2 = bus.connect();
  assert.is(svc2.requestName('org.example.Calc2'), 'primary');
  svc2.export(CALC.path, CALC.interface, { Add: { in: 'ii', out: 'i', handler: (_, call) => [call.senderId] } });
  const add = (c: Connection, destination: string, a: number) => c.callMethod({ destination, ...CALC, member: 'Add', signature: 'ii', body: [a, 1] });
  const r = [add(cli, 'org.example.Calc', 1), add(cli, 'org.example.Calc2', 0), add(cli2, 'org.example.Calc2', 0), add(cli2, 'org.example.Calc', 5), add(cli, 'org.example.Calc', 9)];
  assert.equal(serve(svc), [1, 1, 1]);
  assert.equal(serve(svc2), [1, 1]);
  assert.equal(await Promise.all(r), [[2], [cli.id], [cli2.id], [6], [10]]);
  svc2.releaseName('org.example.Calc2');
  svc2.close(); cli2.close();
  off();
  off(); // idempotent
  const q = remote(cli.callMethod({ destination: 'org.example.Calc', ...CALC, member: 'Add', signature: 'ii', body: [1, 1] }));
  serve(svc);
  assert.equal(await q, [DBUS_ERROR.UnknownObject, "No such object path '/org/example/Calc'"]);
  svc.releaseName('org.example.Calc');
  svc.close(); cli.close();
});

t('export and callMethod argument errors (EINVAL, EEXIST), a non-D-Bus call is left to the user, dispatch of signals unchanged', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const off = svc.export('/p', 'org.example.P', { M: () => {} });
  assert.is(code(() => svc.export('/p', 'org.example.P', { M: () => {} })), 'EEXIST');
  assert.is(code(() => svc.export('/p', 'org.freedesktop.DBus.Peer', { M: () => {} })), 'EEXIST');
  assert.is(code(() => svc.export('p', 'org.example.P', {})), 'EINVAL');
  assert.is(code(() => svc.export('/p', 'noDots', {})), 'EINVAL');
  assert.is(code(() => svc.export('/q', 'org.example.P', { '1bad': () => {} })), 'EINVAL');
  assert.is(code(() => svc.export('/q', 'org.example.P', { M: { in: 'a', handler: () => {} } })), 'EINVAL');
  assert.is(code(() => svc.export('/q', 'org.example.P', { M: { in: 'h', handler: () => {} } })), 'EINVAL'); // a unix fd: not on this bus
  assert.is(code(() => svc.export('/q', 'org.example.P', { M: { out: 'a(sh)', handler: () => {} } })), 'EINVAL');
  assert.is(code(() => svc.export('/q', 'org.example.P', { M: { handler: 3 } as never })), 'EINVAL');
  assert.is(code(() => svc.export('/q', 'org.example.P', { M: { handler: () => {}, extra: 1 } as never })), 'EINVAL');
  assert.is(code(() => svc.export('/q', 'org.example.P', {}, { wrong: 1 } as never)), 'EINVAL');
  off();
  svc.export('/p', 'org.example.P', { M: () => {} }); // free again after unexport
  // bad calls fail before anything is sent
  for (const bad of [{ path: 'x', member: 'M' }, { path: '/p', member: '' }, { path: '/p', member: 'M', signature: 'i', body: ['s'] }, { path: '/p', member: 'M', nope: 1 }]) {
    assert.is(await remote(cli.callMethod({ destination: svc.id, ...bad } as never)), 'EINVAL', JSON.stringify(bad));
  }
  assert.is(await remote(cli.callMethod({ path: '/p', member: 'M' } as never)), 'EINVAL');
  assert.is(await remote(cli.callMethod({ destination: 'org.example.Nobody', path: '/p', member: 'M' })), 'ESRCH');
  assert.is(cli.pendingCalls, 0);
  assert.is(svc.recv(), null, 'nothing was sent');
  // a raw call (not D-Bus): dispatch leaves it alone (0), the user replies
  const raw = cli.call(svc.id, new Uint8Array([7]));
  const m = svc.recv()!;
  assert.is(svc.dispatch(m), 0);
  svc.reply(m, new Uint8Array([8]));
  m.free();
  const r = await raw;
  assert.equal([...r.payload], [8]);
  r.free();
  // signals still go to onSignal handlers
  const got: string[] = [];
  svc.onSignal("interface='org.example.S'", (s) => got.push(s.header.member!));
  cli.signal('/s', 'org.example.S', 'Tick');
  assert.equal(serve(svc), [1]);
  assert.equal(got, ['Tick']);
  svc.close(); cli.close();
});

t('callMethod: a reply that is not D-Bus rejects with EBADMSG; a caller gone before the reply: the handler reply is dropped quietly', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const p = cli.callMethod({ destination: svc.id, path: '/p', member: 'M' });
  const m = svc.recv()!;
  svc.reply(m, new Uint8Array([1])); // answered raw: not a D-Bus message
  m.free();
  assert.is(await remote(p), 'EBADMSG');
  // the caller aborts, then closes: the async reply finds no call (EBADSLT / ENXIO) and is dropped, no throw
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const errors: unknown[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  svc.export('/p', 'org.example.P', { Slow: { out: 's', handler: async () => { await gate; setTimeout(done, 0); return ['late']; } } }, { onError: (e) => errors.push((e as BusError).code) });
  const cli2 = bus.connect();
  const q = remote(cli2.callMethod({ destination: svc.id, path: '/p', member: 'Slow' }, { timeout: 60000 }));
  assert.equal(serve(svc), [1]);
  cli2.close();
  assert.is(await q, 'ECONNRESET');
  release();
  await finished;
  assert.ok(errors.length <= 1, 'at most the reply failure is reported');
  if (errors.length) assert.ok(['ENXIO', 'ESRCH', 'EPIPE'].includes(errors[0] as string), String(errors[0]));
  assert.is(svc.queued, 0);
  svc.close(); cli.close();
});

t("callMethod: a malformed D-Bus reply rejects with its codec's errno and detail, told as callMethod's (it kept op dbus.header / dbus.decode before stop 47)", async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const why = async (answer: (serial: number) => Uint8Array): Promise<string> => {
    const p = cli.callMethod({ destination: svc.id, path: '/p', member: 'M' });
    const m = svc.recv()!;
    const serial = m.dbus!.header.serial;
    svc.reply(m, answer(serial), { payloadType: dbus.PAYLOAD_DBUS, cookie: 99 }); // (the reply's serial, 99 below, is its kdbus cookie)
    m.free();
    try { await p; return 'resolved'; } catch (e) { return (e as BusError).message; }
  };
  // a boolean of 7 in the body: the decoder's rule, told as callMethod's
  const bad = (serial: number) => {
    const b = dbus.encodeMessage({ type: 'method_return', serial: 99, replySerial: serial, signature: 'b' }, [true]);
    b[b.length - 4] = 7;
    return b;
  };
  assert.match(await why(bad), /^callMethod: EBADMSG: .*a boolean is 0 or 1, got 7/);
  // a reply serial that is not the call's cookie
  assert.match(await why((serial) => dbus.encodeMessage({ type: 'method_return', serial: 99, replySerial: serial + 1 }, [])), /^callMethod: EBADMSG: the reply serial \d+ is not the kdbus cookie_reply \d+/);
  // a signal as the reply
  assert.match(await why(() => dbus.encodeMessage({ type: 'signal', serial: 99, path: '/p', interface: 'org.ex.I', member: 'S' }, [])), /^callMethod: EBADMSG: the D-Bus header says signal and the kdbus SIGNAL flag is clear/);
  assert.is(cli.stats().calls.made, 0);
  svc.close(); cli.close();
});

t('a reply that cannot be sent (over MAX_PAYLOAD) reaches the caller as Failed at once; onError is told', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const errors: string[] = [];
  svc.export('/big', 'org.example.Big', { Get: { out: 'ay', handler: () => [new Uint8Array(A.MAX_PAYLOAD + 1)] } }, { onError: (e) => errors.push((e as BusError).code) });
  const p = remote(cli.callMethod({ destination: svc.id, path: '/big', interface: 'org.example.Big', member: 'Get' }, { timeout: 60000 }));
  assert.equal(serve(svc), [1]);
  const r = await p;
  assert.is(r[0], DBUS_ERROR.Failed);
  assert.match(r[1], /org\.example\.Big\.Get: the reply could not be sent: .*EMSGSIZE/);
  assert.equal(errors, ['EMSGSIZE']);
  svc.close(); cli.close();
});

t('a reply that finds no room in the caller waits for room, until the call\'s deadline, instead of failing (ENOBUFS before)', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const errors: string[] = [];
  exportCalc(svc);
  svc.export('/t', 'org.example.T', { Add: { in: 'ii', out: 'i', handler: ([x, y]) => [(x as number) + (y as number)] } }, { onError: (e) => errors.push((e as BusError).code) });
  const p = cli.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [2, 40] }, { timeout: 10000 });
  const q = remote(cli.callMethod({ destination: svc.id, path: '/t', interface: 'org.example.T', member: 'Add', signature: 'ii', body: [1, 1] }, { timeout: 0.05 })); // (50 reads of the MockProvider's stepping clock)
  let n = 0;
  for (;;) { try { svc.send(cli.id, new Uint8Array(8)); n++; } catch (e) { assert.is((e as BusError).code, 'ENOBUFS'); break; } assert.ok(n < 10000); }
  assert.equal(serve(svc), [1, 1], 'dispatch does not throw: the replies wait for room');
  assert.ok(svc.pendingSends >= 1, 'the first reply waits for room');
  // the second call's deadline passes: the caller's wait ends it (ETIMEDOUT); its reply's
  // wait for room ends by the deadline (onError hears ETIMEDOUT, or ENOBUFS when it was
  // already due at dispatch)
  assert.is(await q, 'ETIMEDOUT');
  for (let i = 0; i < 2000 && svc.pendingSends > 1; i++) await new Promise((r) => setTimeout(r, 1));
  assert.is(svc.pendingSends, 1, 'only the first reply still waits');
  assert.ok(errors.length <= 1 && errors.every((x) => x === 'ETIMEDOUT' || x === 'ENOBUFS'), String(errors));
  cli.recv()!.free(); // room for one: the first reply goes
  assert.equal(await p, [42]);
  assert.is(svc.pendingSends, 0);
  let left = 0;
  for (let m; (m = cli.recv()) !== null; left++) m.free();
  assert.ok(left >= n - 2, `the messages sent before are all there (${left} of ${n - 1})`);
  svc.close(); cli.close();
});

t('a handler error the codec cannot carry (NUL, a lone surrogate, 3 MiB, a throwing then) is still answered: its message mended, never a wait for the timeout', async ({ bus }) => {
  // (outside audit, stop 16: each of these left the caller waiting out its timeout)
  const svc = bus.connect(), cli = bus.connect();
  const big = 'x'.repeat(3 << 20);
  svc.export('/e', 'org.example.Err', {
    Nul: { handler: () => { throw new Error('a\0b'); } },
    Lone: { handler: async () => { throw new Error('bad \uD800 half'); } },
    Huge: { handler: () => { throw new Error(big); } },
    NamedNul: { handler: () => { throw new DBusError('org.example.Err.Named', 'x\0y'); } },
    ThrowingThen: { handler: () => ({ get then() { throw new Error('then getter'); } }) as unknown as [] },
    TwiceThen: { out: 's', handler: () => ({ then(ok: (v: unknown) => void) { ok(['one']); ok(['two']); } }) as unknown as [] },
    Unreadable: { handler: () => { throw { toString() { throw new Error('no'); } }; } },
  });
  const call = (member: string) => remote(cli.callMethod({ destination: svc.id, path: '/e', interface: 'org.example.Err', member }, { timeout: 20000 }));
  const ps = ['Nul', 'Lone', 'Huge', 'NamedNul', 'ThrowingThen', 'Unreadable'].map(call);
  const twice = cli.callMethod({ destination: svc.id, path: '/e', interface: 'org.example.Err', member: 'TwiceThen' }, { timeout: 20000 });
  assert.equal(serve(svc), [1, 1, 1, 1, 1, 1, 1]);
  const got = await Promise.all(ps) as [string, string][];
  assert.equal(got[0], [DBUS_ERROR.Failed, 'a\uFFFDb']);
  assert.equal(got[1], [DBUS_ERROR.Failed, 'bad \uFFFD half']);
  assert.is(got[2][0], DBUS_ERROR.Failed);
  assert.is(got[2][1], `${'x'.repeat(4096)}…`, 'cut to 4096 units and marked');
  assert.equal(got[3], ['org.example.Err.Named', 'x\uFFFDy'], 'its own name kept');
  assert.equal(got[4], [DBUS_ERROR.Failed, 'then getter']);
  assert.equal(got[5], [DBUS_ERROR.Failed, 'the handler failed with an error that could not be read']);
  assert.equal(await twice, ['one'], 'a thenable that calls back twice is answered once');
  assert.is(cli.pendingCalls, 0);
  assert.is(cli.recv(), null, 'nothing else came');
  svc.close(); cli.close();
});

t('a well-known sender rule is judged by the names the sender owned when it sent (OWNED_NAME), when the message carries them', async ({ bus }) => {
  // (outside audit, stop 16: dispatch compared with the name's owner at dispatch time, and
  // lost a signal sent just before the name changed hands)
  const svc = bus.connect(), sub = bus.connect({ attachRecv: ['names'] }), plain = bus.connect();
  svc.requestName('org.example.Svc');
  const seen: string[] = [], plainSeen: string[] = [];
  sub.onSignal("type='signal',sender='org.example.Svc',member='Bye'", (s) => { seen.push(s.header.member!); });
  plain.onSignal("type='signal',sender='org.example.Svc',member='Bye'", (s) => { plainSeen.push(s.header.member!); });
  svc.emit({ path: '/s', interface: 'org.example.Svc', member: 'Bye' });
  svc.releaseName('org.example.Svc'); // the name is gone before the subscribers dispatch
  for (let m = sub.recv(); m; m = sub.recv()) { assert.is(sub.dispatch(m), 1, 'dispatched to the handler'); m.free(); }
  assert.equal(seen, ['Bye'], 'the owner at send time (OWNED_NAME)');
  for (let m = plain.recv(); m; m = plain.recv()) { plain.dispatch(m); m.free(); }
  assert.equal(plainSeen, [], 'without OWNED_NAME: the owner now (documented)');
  // a sender that did not own the name when it sent (its OWNED_NAME items list another one)
  const other = bus.connect();
  other.requestName('org.example.Other');
  svc.requestName('org.example.Svc');
  const m0 = (() => { other.emit({ path: '/s', interface: 'org.example.Svc', member: 'Bye' }); return null; })();
  void m0;
  for (let m = sub.recv(); m; m = sub.recv()) { assert.is(m.matches("type='signal',sender='org.example.Svc'"), false, 'owned other names only'); m.free(); }
  for (let m = plain.recv(); m; m = plain.recv()) m.free();
  svc.close(); sub.close(); plain.close(); other.close();
});

t("a dispatch reply waits behind the service's earlier sends to the caller that wait for room: it does not overtake them", async ({ bus }) => {
  // (an outside audit, stop 22: dispatch sent its reply at once when room had just been made,
  // ahead of a sendAsync to the same caller made before it)
  const caller = bus.connect({ poolSize: 4096 }), svc = bus.connect(), mon = bus.connect({ monitor: true });
  svc.export('/a', 'org.test.Order', { Get: { out: 's', handler: () => ['reply'] } });
  const called = caller.callMethod({ destination: svc.id, path: '/a', interface: 'org.test.Order', member: 'Get' }, { timeout: 5000 });
  const call = await svc.recvAsync({ timeout: 5000 });
  let filled = 0;
  try { for (;;) { svc.send(caller.id, new Uint8Array(64)); filled++; } } catch (e) { assert.ok(['ENOBUFS', 'EXFULL'].includes((e as BusError).code), (e as BusError).code); }
  const first = svc.sendAsync(caller.id, new TextEncoder().encode('first'), { timeout: 5000 });
  assert.is(svc.pendingSends, 1);
  caller.recv()!.free(); // room for one
  assert.is(svc.dispatch(call), 1);
  call.free();
  await first;
  // the reply waits for room behind it: the caller makes room
  for (let m = caller.recv(); m; m = caller.recv()) m.free();
  // (bounded by a real timer: the call's own timeout runs on the MockProvider's clock)
  const bounded = await Promise.race([called, new Promise((r) => setTimeout(() => r('no reply within 10 s'), 10000).unref?.())]);
  assert.equal(bounded, ['reply']);
  const order: string[] = [];
  for (let m = mon.recv(); m; m = mon.recv()) {
    if (m.src === svc.id && m.dst === caller.id && m.payload.length !== 64) order.push(m.dbus ? String(m.dbus.body[0]) : m.text());
    m.free();
  }
  assert.equal(order, ['first', 'reply'], 'sent in the order they were made');
  for (let m = caller.recv(); m; m = caller.recv()) m.free();
  assert.ok(filled > 0);
  caller.close(); svc.close(); mon.close({ drop: true });
});

t('callMethod\'s options are its own: their EINVAL says callMethod (it said call)', async ({ bus }) => {
  const cli = bus.connect(), svc = bus.connect();
  const spec = { destination: svc.id, path: '/x', member: 'A' };
  for (const opts of [{ timeout: -1 }, { timout: 5 }, 5]) {
    try {
      await cli.callMethod(spec, opts as never);
      assert.unreachable('accepted');
    } catch (err) {
      assert.instance(err, BusError);
      assert.ok((err as BusError).message.startsWith('callMethod: EINVAL: '), (err as BusError).message);
    }
  }
  assert.is(cli.pendingCalls, 0);
  assert.is(svc.queued, 0, 'nothing sent');
  cli.close(); svc.close();
});

// (an outside audit, stop 41: they said call: / send:, where callMethodSync's said callMethodSync:)
t("the errors of the call() and send() that callMethod and sendMethod make are their own (op callMethod / sendMethod), as callMethodSync's are: errno, reason and cause kept", async ({ bus }) => {
  const cli = bus.connect(), svc = bus.connect();
  const spec = (destination: number | string) => ({ destination, path: '/o', interface: 'org.ex.I', member: 'M' });
  const rejected = async (p: Promise<unknown>): Promise<BusError> => { try { await p; } catch (err) { return err as BusError; } throw new Error('resolved'); };
  const thrown = (f: () => unknown): BusError => { try { f(); } catch (err) { return err as BusError; } throw new Error('returned'); };
  for (const [dst, code] of [['x', 'EINVAL'], ['org.no.Body', 'ESRCH'], [-1, 'EINVAL'], [99999, 'ENXIO'], [0, 'EDESTADDRREQ']] as const) {
    const byCall = await rejected(cli.callMethod(spec(dst), { timeout: 1000 }));
    const bySync = thrown(() => cli.callMethodSync(spec(dst), { timeout: 1000 }));
    const bySend = thrown(() => cli.sendMethod(spec(dst)));
    for (const [err, op] of [[byCall, 'callMethod'], [bySync, 'callMethodSync'], [bySend, 'sendMethod']] as const) {
      assert.instance(err, BusError);
      assert.is(err.code, code, err.message);
      assert.ok(err.message.startsWith(`${op}: ${code}: `), err.message);
    }
    assert.is(byCall.message.slice('callMethod'.length), bySync.message.slice('callMethodSync'.length), 'the same detail');
    assert.is(byCall.reason, bySync.reason, 'the same reason');
  }
  const late = await rejected(cli.callMethod(spec(svc.id), { timeout: 0.05 }));
  assert.ok(late.message.startsWith('callMethod: ETIMEDOUT: '), late.message);
  const ac = new AbortController(), why = new Error('stop');
  const p = rejected(cli.callMethod(spec(svc.id), { signal: ac.signal }));
  ac.abort(why);
  const canceled = await p;
  assert.ok(canceled.message.startsWith('callMethod: ECANCELED: '), canceled.message);
  assert.is(canceled.cause, why, "the signal's reason is still its cause");
  assert.is(svc.queued, 2, 'the two calls sent, nothing else');
  for (let m = svc.recv(); m; m = svc.recv()) m.free();
  cli.close(); svc.close();
});

/** `bytes` (an encoded D-Bus message whose SIGNATURE field is 'u') with that signature turned into 'h' (a unix fd) */
function withFdSignature(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  // header field SIGNATURE (8), variant of type 'g', value: length 1, 'u', NUL
  const at = out.findIndex((_, i) => out[i] === 8 && out[i + 1] === 1 && out[i + 2] === 0x67 && out[i + 3] === 0 && out[i + 4] === 1 && out[i + 5] === 0x75 && out[i + 6] === 0);
  assert.ok(at >= 0, 'the SIGNATURE field is where it is expected');
  out[at + 5] = 0x68;
  return out;
}

t('a bare handler: its reply is empty whatever it returns (a number, an array, a promise of one); a rejection is still the error reply (stop 44, an outside audit)', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  const log: string[] = [];
  svc.export('/o', 'o.e.I', {
    Log: ([s]: unknown[]) => log.push(s as string), // returns push()'s count
    Arr: () => [1, 'x'],
    Later: async () => 7,
    No: async () => { throw new DBusError('o.e.I.Error.No', 'refused'); },
  } as never);
  const call = (member: string, signature?: string, body?: unknown[]) => cli.callMethod({ destination: svc.id, path: '/o', interface: 'o.e.I', member, signature, body });
  const ps = [call('Log', 's', ['hi']), call('Arr'), call('Later'), call('No')];
  serve(svc);
  assert.equal(await ps[0], []);
  assert.equal(log, ['hi']);
  assert.equal(await ps[1], []);
  assert.equal(await ps[2], []);
  assert.equal(await remote(ps[3]), ['o.e.I.Error.No', 'refused']);
  // a spec with out '' still says Failed for a value it cannot encode (rule 6)
  svc.export('/o', 'o.e.J', { Spec: { out: '', handler: () => [1] } });
  const p = cli.callMethod({ destination: svc.id, path: '/o', interface: 'o.e.J', member: 'Spec' });
  serve(svc);
  const r = await remote(p);
  assert.is((r as string[])[0], DBUS_ERROR.Failed);
});

t('Ping, GetMachineId and Introspect take no arguments: a call with some is InvalidArgs; without, answered (stop 44, an outside audit)', async ({ bus }) => {
  const svc = bus.connect(), cli = bus.connect();
  exportCalc(svc);
  const call = (iface: string, member: string, signature?: string, body?: unknown[]) => cli.callMethod({ destination: svc.id, path: CALC.path, interface: iface, member, signature, body });
  const bad = [call('org.freedesktop.DBus.Peer', 'Ping', 'su', ['x', 1]), call('org.freedesktop.DBus.Peer', 'GetMachineId', 's', ['x']), call('org.freedesktop.DBus.Introspectable', 'Introspect', 'u', [1])];
  const good = [call('org.freedesktop.DBus.Peer', 'Ping'), call('org.freedesktop.DBus.Peer', 'GetMachineId'), call('org.freedesktop.DBus.Introspectable', 'Introspect')];
  serve(svc);
  assert.equal(await remote(bad[0]), [DBUS_ERROR.InvalidArgs, "Invalid arguments for Ping: signature 'su', expected ''"]);
  assert.equal(await remote(bad[1]), [DBUS_ERROR.InvalidArgs, "Invalid arguments for GetMachineId: signature 's', expected ''"]);
  assert.equal(await remote(bad[2]), [DBUS_ERROR.InvalidArgs, "Invalid arguments for Introspect: signature 'u', expected ''"]);
  assert.equal(await good[0], []);
  assert.match((await good[1])[0] as string, /^[0-9a-f]{32}$/);
  assert.match((await good[2])[0] as string, /<node/);
  // at a path with nothing at or below it: UnknownObject, whatever the arguments (the object first)
  const nowhere = cli.callMethod({ destination: svc.id, path: '/nope', interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect', signature: 's', body: ['x'] });
  serve(svc);
  assert.equal(await remote(nowhere), [DBUS_ERROR.UnknownObject, "No such object path '/nope'"]);
});

t('m.matches of a D-Bus message that carries a unix fd is false, not a throw; m.dbus says EOPNOTSUPP; dispatch ignores it (stop 44, an outside audit)', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const plain = (serial: number) => dbus.encodeMessage({ type: 'method_call', serial, path: '/o', interface: 'o.e.I', member: 'M', signature: 'u', flags: dbus.FLAG_NO_REPLY_EXPECTED }, [5]);
  a.send(b.id, withFdSignature(plain(7)), { payloadType: dbus.PAYLOAD_DBUS, cookie: 7 });
  a.send(b.id, plain(8), { payloadType: dbus.PAYLOAD_DBUS, cookie: 8 });
  const m = b.recv()!;
  assert.is(code(() => m.dbus), 'EOPNOTSUPP');
  assert.is(m.matches("type='method_call'"), false);
  assert.is(m.matches(''), false);
  assert.is(b.dispatch(m), 0);
  m.free();
  const m2 = b.recv()!; // the same message without the fd: it matches
  assert.is(m2.matches("type='method_call',member='M'"), true);
  m2.free();
});

t('dbus.encode / sizeOf with values that are not an array say so (not as a count; stop 44, an outside audit)', () => {
  for (const f of [() => dbus.sizeOf('y', 1 as never), () => dbus.encode('y', 1 as never)]) {
    try { f(); assert.unreachable('accepted'); } catch (e) {
      assert.is((e as BusError).code, 'EINVAL');
      assert.match((e as Error).message, /values must be an array of the 1 value of signature "y", got number/);
    }
  }
});

t('a caller that closes with its call queued does not stop the service: dispatch drops the reply nobody can take (ENXIO), the loop goes on, the next caller is answered (stop 45, an outside audit)', async ({ bus }) => {
  const svc = bus.connect(), gone = bus.connect(), cli = bus.connect();
  exportCalc(svc);
  const lost = gone.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [1, 2] }).then(() => 'resolved', (e: BusError) => e.code);
  gone.close();
  assert.is(await lost, 'ECONNRESET', 'its own call ends with its connection');
  const p = cli.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [20, 22] });
  // the service's loop, as API.md shows it: the first call's reply finds no caller
  let answered = 0;
  for await (const m of svc.messages({ timeout: 1000 })) {
    assert.is(svc.dispatch(m), 1, 'a method call, answered or dropped');
    if (++answered === 2) break;
  }
  assert.equal(await p, [42], 'the next caller answered');
  // a synchronous error of dispatch's own names dispatch (an export with onError hears it)
  const errs: string[] = [];
  svc.export('/big', 'org.example.Big', { Get: { out: 'ay', handler: () => [new Uint8Array(A.MAX_PAYLOAD + 1)] } }, { onError: (e) => errs.push((e as Error).message.split(':')[0]) });
  const q = remote(cli.callMethod({ destination: svc.id, path: '/big', interface: 'org.example.Big', member: 'Get' }));
  assert.equal(serve(svc), [1]);
  assert.equal((await q as [string, string])[0], DBUS_ERROR.Failed);
  assert.equal(errs, ['dispatch']);
});

t('dispatch of a method call another connection received (on this bus or another) is EINVAL: no handler runs, nothing is sent, the right connection answers it (stop 65, an outside reading)', async ({ bus, mock }) => {
  const svc = bus.connect(), other = bus.connect(), cli = bus.connect();
  const ran: string[] = [];
  const M = (who: string) => ({ Add: { in: 'ii', out: 'i', handler: ([a, b]: unknown[]) => { ran.push(who); return [(a as number) + (b as number)]; } } });
  svc.export(CALC.path, CALC.interface, M('svc'));
  other.export(CALC.path, CALC.interface, M('other'));
  const p = cli.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [1, 1] }, { timeout: 5000 });
  const m = svc.recv()!;
  assert.throws(() => other.dispatch(m), (e: BusError) => e.code === 'EINVAL' && /received by another connection/.test(e.message));
  assert.equal(ran, [], 'no handler ran');
  assert.is(svc.pendingSends, 0);
  assert.is(other.pendingSends, 0);
  assert.is(svc.dispatch(m), 1, 'its own connection answers it');
  m.free();
  assert.equal(await p, [2]);
  assert.equal(ran, ['svc']);
  // a message of another bus
  const bus2 = await Bus.create({ engine: ENGINE, provider: mock });
  try {
    const s2 = bus2.connect(), c2 = bus2.connect();
    const p2 = c2.callMethod({ destination: s2.id, ...CALC, member: 'Add', signature: 'ii', body: [100, 100] }, { timeout: 5000 });
    const m2 = s2.recv()!;
    assert.throws(() => svc.dispatch(m2), (e: BusError) => e.code === 'EINVAL');
    assert.equal(ran, ['svc'], 'no handler ran for the other bus\'s call');
    s2.export(CALC.path, CALC.interface, M('s2'));
    assert.is(s2.dispatch(m2), 1);
    m2.free();
    assert.equal(await p2, [200]);
    s2.close(); c2.close();
  } finally {
    bus2.close();
  }
});

t('a reply dispatch makes itself (Introspect, UnknownObject) that never fits the caller does not end the service loop; an InvalidArgs that does not fit goes to the method\'s onError (stop 65, an outside reading)', async ({ bus }) => {
  const svc = bus.connect(), small = bus.connect({ poolSize: 4096 }), cli = bus.connect();
  const seen: string[] = [];
  const member = 'Set' + 'x'.repeat(200);
  exportCalc(svc);
  svc.export('/o', 'o.I', { [member]: { in: 's', handler: () => {} } }, { onError: (e) => seen.push((e as BusError).code) });
  const loop = svc.listen((m) => { svc.dispatch(m); });
  // the introspection XML (the standard interfaces and Calc's six methods) never fits a 4 KiB
  // pool's share for one sender; an UnknownObject naming a long path neither
  const intro = await remote(small.callMethod({ destination: svc.id, path: CALC.path, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }, { timeout: 2000 }));
  assert.ok(Array.isArray(intro) && intro[0] === DBUS_ERROR.Failed && /could not be sent/.test(intro[1]), `Introspect: told Failed (${String(intro)})`);
  const path = '/' + 'p'.repeat(900);
  const unknown = await remote(small.callMethod({ destination: svc.id, path, interface: 'o.I', member: 'M' }, { timeout: 2000 }));
  assert.ok(Array.isArray(unknown) && unknown[0] === DBUS_ERROR.Failed, `UnknownObject: told Failed (${String(unknown)})`);
  // InvalidArgs of an exported method, whose export has an onError: there; neither it nor the
  // Failed naming the long member fits, a short Failed does (the caller was left to its
  // timeout before stop 65)
  const bad = await remote(small.callMethod({ destination: svc.id, path: '/o', interface: 'o.I', member, signature: 'a(' + 'u'.repeat(250) + ')', body: [[]] }, { timeout: 2000 }));
  assert.equal(bad, [DBUS_ERROR.Failed, `the error reply ${DBUS_ERROR.InvalidArgs} could not be sent (ENOBUFS)`]);
  assert.equal(seen, ['ENOBUFS'], 'the method\'s onError heard it');
  // the loop still runs: the next caller is answered
  assert.equal(await cli.callMethod({ destination: svc.id, ...CALC, member: 'Add', signature: 'ii', body: [20, 22] }, { timeout: 2000 }), [42]);
  loop.stop();
  await loop.done;
  for (const c of [svc, small, cli]) for (let m = c.recv(); m; m = c.recv()) m.free();
  small.close();
});

t.run();
