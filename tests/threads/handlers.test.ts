// Signals and exported methods across threads (js/signals.ts, js/objects.ts):
//  - the main thread and 3 workers subscribe with different match rules; one worker emits;
//    only the matching subscribers' handlers see it. Each worker reports what it saw when it
//    reads the main thread's 'report', sent after the emit (a queue is FIFO: the signal, if it
//    was delivered, comes first), so "nothing" is checked without a sleep, in bounded time;
//  - a service worker found by well-known name exports methods; the main thread and a client
//    worker call them: replies, UnknownMethod, a handler that throws (Failed), an async
//    handler, callMethodSync from the worker;
//  - the service dies (terminated, recovered by bus.watch) with a call pending: the call rejects
//    with EPIPE and the caller's NAME_REMOVE match tells it the name lost its owner.
// Every worker is terminated in `after`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DBusError, DBUS_ERROR } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME, within } from '../helpers/worker.ts';
import { ENGINE, threadBus, MSG_MS, READY_MS } from './common.ts';
import type { HandlersInput } from './handlers.worker.ts';

const s = suite(`threads: signals and methods [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./handlers.worker.ts', import.meta.url);
interface Ready { ready?: true; id: number; error?: string }

s('a signal from one worker reaches only the subscribers (main, workers) whose rules match', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const mainGot: string[] = [];
  main.onSignal("interface='org.example.Foo'", (sig) => mainGot.push(`${sig.header.member}(${sig.body.join(',')})`));
  const rules: [string, string][] = [
    ['emitter', "interface='org.example.Bar'"], // emits; its own broadcast is never delivered to it
    ['match', "type='signal',interface='org.example.Foo',member='Changed',arg0='x'"],
    ['other-arg', "type='signal',interface='org.example.Foo',member='Changed',arg0='y'"],
  ];
  const ws = rules.map(([name, rule]) => ({ name, w: spawn(WORKER, { role: 'sub', handle: bus.handle(), name, rule } satisfies HandlersInput) }));
  const ids: number[] = [];
  for (const { name, w } of ws) {
    const r = await w.next<Ready>(READY_MS, `${name} to subscribe`);
    assert.is(r.error, undefined);
    ids.push(r.id);
  }
  main.sendText(ids[0], 'emit');
  assert.equal(await ws[0].w.next(MSG_MS, 'the emit'), { emitted: true });
  for (const id of ids) main.sendText(id, 'report');
  const reports = await Promise.all(ws.map(({ name, w }) => w.next<{ name: string; got: string[]; dropped: number }>(MSG_MS, `${name}'s report`)));
  // (dropped: what the bus told each receiver it dropped: a broadcast is best effort, DIFFERENCES.md G7)
  assert.equal(reports, [
    { name: 'emitter', got: [], dropped: 0 },
    { name: 'match', got: ['org.example.Foo.Changed(x)'], dropped: 0 },
    { name: 'other-arg', got: [], dropped: 0 },
  ]);
  for (let m = main.recv(); m; m = main.recv()) { main.dispatch(m); m.free(); }
  assert.equal(mainGot, ['Changed(x)']);
  main.close();
  bus.close();
});

s('a service found by name: methods called from the main thread and from another worker; UnknownMethod, a throwing handler', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const svc = spawn(WORKER, { role: 'service', handle: bus.handle() } satisfies HandlersInput);
  const cli = spawn(WORKER, { role: 'client', handle: bus.handle() } satisfies HandlersInput);
  const ready = await svc.next<Ready>(READY_MS, 'the service');
  assert.is(ready.error, undefined);
  const owner = await bus.waitForName('org.example.Calc', { timeout: READY_MS });
  assert.is(owner, ready.id);
  const Calc = { destination: 'org.example.Calc', path: '/org/example/Calc', interface: 'org.example.Calc' };
  assert.equal(await within(main.callMethod({ ...Calc, member: 'Add', signature: 'ii', body: [40, 2] }, { timeout: MSG_MS }), MSG_MS * 2, 'Add'), [42]);
  const err = async (p: Promise<unknown>) => { try { await p; return 'resolved'; } catch (e) { return e instanceof DBusError ? [e.errorName, e.message] : String(e); } };
  assert.equal(await within(err(main.callMethod({ ...Calc, member: 'Missing' }, { timeout: MSG_MS })), MSG_MS * 2, 'Missing'),
    [DBUS_ERROR.UnknownMethod, "No such method 'Missing' in interface 'org.example.Calc' at object path '/org/example/Calc' (signature '')"]);
  assert.equal(await within(err(main.callMethod({ ...Calc, member: 'Boom' }, { timeout: MSG_MS })), MSG_MS * 2, 'Boom'), [DBUS_ERROR.Failed, 'boom in the service']);
  assert.equal(await within(main.callMethod({ ...Calc, member: 'Later', signature: 's', body: ['hello'] }, { timeout: MSG_MS }), MSG_MS * 2, 'Later'), [`hello from ${main.uniqueName}`]);
  const c = await cli.next<Record<string, unknown>>(READY_MS + MSG_MS, "the client's outcomes");
  assert.is(c.error, undefined);
  assert.equal(c, {
    owner: ready.id,
    add: [42],
    missing: `${DBUS_ERROR.UnknownMethod}: No such method 'Missing' in interface 'org.example.Calc' at object path '/org/example/Calc' (signature '')`,
    boom: `${DBUS_ERROR.Failed}: boom in the service`,
    later: [`hi from ${c.self}`],
    sync: [3],
    pending: 0,
    self: c.self,
  });
  main.sendText('org.example.Calc', 'stop');
  assert.equal(await svc.next(MSG_MS, 'the service to stop'), { done: true, served: 9 });
  assert.is(main.pendingCalls, 0);
  assert.is(main.recv(), null);
  main.close();
  bus.close();
});

s('a service that dies: the pending callMethod rejects with EPIPE, the client is told by NAME_REMOVE', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  main.addMatch({ notifications: 'name-remove' });
  const h = bus.handle();
  const svc = spawn(WORKER, { role: 'service', handle: h } satisfies HandlersInput, { kind: 'thread' });
  const ready = await svc.next<Ready>(READY_MS, 'the service');
  assert.is(ready.error, undefined);
  const watched = bus.watch(svc.thread!, h);
  assert.is(await bus.waitForName('org.example.Calc', { timeout: READY_MS }), ready.id);
  const call = main.callMethod({ destination: 'org.example.Calc', path: '/org/example/Calc', interface: 'org.example.Calc', member: 'Hang' }, { timeout: 60000 });
  const outcome = call.then(() => 'resolved', (e) => (e instanceof DBusError ? e.errorName : (e as { code?: string }).code ?? String(e)));
  assert.equal(await svc.next(MSG_MS, 'the handler to start'), { hanging: true });
  await svc.terminate();
  const rec = await within(watched, MSG_MS, 'watch() to recover the service');
  assert.is(rec.error, undefined, String(rec.error));
  assert.is(await within(outcome, MSG_MS, 'the call to end'), 'EPIPE', 'REPLY_DEAD: the callee closed before it replied');
  const m = await main.recvAsync({ timeout: MSG_MS });
  const n = m.notification;
  m.free();
  assert.equal(n && n.kind === 'name-remove' ? [n.name, n.oldOwner, n.newOwner] : n, ['org.example.Calc', ready.id, null]);
  assert.is(main.droppedTotal, 0);
  assert.is(main.getNameOwner('org.example.Calc'), null);
  assert.is(main.pendingCalls, 0);
  main.close();
  bus.close();
});

s.run();
