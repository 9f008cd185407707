// One 'abort' listener per AbortSignal for all the waits of a thread (js/abort-hooks.ts), and
// what an abort rejects with. Outside audits, stop 17: eleven recvAsyncs, or the listeners of
// eleven connections, or eleven waitForNames sharing one app-wide signal added eleven
// listeners (Node printed MaxListenersExceededWarning); ECANCELED dropped the signal's reason
// (an AbortSignal.timeout() could not be told from a cancel); a pending bus.waitForName kept
// bus.close() failing with EBUSY until it timed out.
import * as assert from 'uvu/assert';
import { BusError, type Connection } from '../../js/index.ts';
import { busSuite, makeBus, SMALL } from '../helpers/harness.ts';

const t = busSuite('abort: one listener per signal per thread; ECANCELED carries the reason');
const N = 11; // Node warns from the eleventh listener on

/** an AbortController whose signal counts the 'abort' listeners added to it and still there */
function counted(): { ac: AbortController; live: () => number } {
  const ac = new AbortController(), s = ac.signal;
  const listeners = new Set<unknown>();
  type Add = (type: string, fn: unknown, o?: unknown) => void;
  const add = s.addEventListener.bind(s) as Add, remove = s.removeEventListener.bind(s) as Add;
  (s as unknown as { addEventListener: Add }).addEventListener = (type, fn, o) => { if (type === 'abort') listeners.add(fn); add(type, fn, o); };
  (s as unknown as { removeEventListener: Add }).removeEventListener = (type, fn, o) => { if (type === 'abort') listeners.delete(fn); remove(type, fn, o); };
  // a listener added with { once: true } is gone once it ran
  add('abort', () => listeners.clear());
  return { ac, live: () => listeners.size };
}

const code = (p: Promise<unknown>): Promise<BusError> => p.then(() => { throw new Error('resolved'); }, (e) => e as BusError);

t('recvAsync and iterator steps sharing a signal: one listener; ECANCELED with the signal\'s reason as cause', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const { ac, live } = counted();
  const waits: Promise<BusError>[] = [];
  for (let i = 0; i < N; i++) waits.push(code(a.recvAsync({ signal: ac.signal, timeout: 20000 })));
  const it = b.messages({ signal: ac.signal, timeout: 20000 });
  waits.push(code(it.next()));
  await new Promise((r) => setTimeout(r, 5));
  assert.is(live(), 1, `one listener for ${N + 1} waits`);
  const why = new Error('the app is stopping');
  ac.abort(why);
  const errs = await Promise.all(waits);
  for (const e of errs) {
    assert.instance(e, BusError);
    assert.is(e.code, 'ECANCELED');
    assert.is(e.cause, why, 'the signal\'s reason');
  }
  assert.is(live(), 0);
  a.close(); b.close();
});

t('an AbortSignal.timeout() abort is told from a cancel by the error\'s cause (a TimeoutError)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const e1 = await code(a.recvAsync({ signal: AbortSignal.timeout(5), timeout: 20000 }));
  assert.is(e1.code, 'ECANCELED');
  assert.is((e1.cause as Error).name, 'TimeoutError');
  const e2 = await code(a.call(b.id, new Uint8Array(1), { signal: AbortSignal.timeout(5), timeout: 20000 }));
  assert.is(e2.code, 'ECANCELED');
  assert.is((e2.cause as Error).name, 'TimeoutError');
  b.recv()!.free(); // the call, sent before its signal aborted
  // an already aborted signal: the same cause
  const ac = new AbortController();
  ac.abort('bye');
  assert.is((await code(a.recvAsync({ signal: ac.signal }))).cause, 'bye');
  assert.is((await code(a.sendAsync(b.id, new Uint8Array(1), { signal: ac.signal }))).cause, 'bye');
  // (a.call's late end: taken before close)
  const deadline = Date.now() + 3000;
  while (a.pendingCalls > 0 && Date.now() < deadline) { assert.is(a.recv(), null); await new Promise((r) => setTimeout(r, 1)); }
  a.close(); b.close();
});

t('listeners of many connections and waitForNames sharing a signal: one listener', async () => {
  const { bus } = await makeBus({ limits: { ...SMALL, connections: 64, matches: 64 } }); // (a bus of its own: room for 11 + 11 + 3 connections, 2 matches per waitForName)
  const { ac, live } = counted();
  const conns: Connection[] = [];
  const dones: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const c = bus.connect();
    conns.push(c);
    dones.push(c.listen(() => {}, { signal: ac.signal }).done);
  }
  const names: Promise<BusError>[] = [];
  for (let i = 0; i < N; i++) names.push(code(bus.waitForName('org.example.Never', { signal: ac.signal, timeout: 20000 })));
  for (let i = 0; i < 3; i++) names.push(code(conns[0]!.waitForName('org.example.Never', { signal: ac.signal, timeout: 20000 })));
  await new Promise((r) => setTimeout(r, 5));
  assert.is(live(), 1, `one listener for ${N} listeners and ${N + 3} waitForNames`);
  ac.abort();
  await Promise.all(dones); // stopped by the signal: done resolves
  for (const e of await Promise.all(names)) assert.is(e.code, 'ECANCELED', e.message);
  assert.is(live(), 0);
  for (const c of conns) c.close();
  bus.close();
});

t('bus.close() ends a pending bus.waitForName (ECONNRESET), instead of failing with EBUSY until it times out', async () => {
  const { bus } = await makeBus(); // (a bus of its own: this one is left)
  const c = bus.connect();
  let ended = false;
  const wait = code(bus.waitForName('org.example.Later', { timeout: 20000 })).finally(() => { ended = true; });
  await new Promise((r) => setTimeout(r, 5));
  // a user's connection still open: EBUSY, and nothing changed (the wait goes on)
  try { bus.close(); assert.unreachable('closed'); } catch (e) { assert.is((e as BusError).code, 'EBUSY'); assert.match((e as BusError).message, /1 connection\(s\) still open$/); }
  await new Promise((r) => setTimeout(r, 5));
  assert.not.ok(ended, 'the wait goes on after a failed close');
  // conn.waitForName on a connection closed under it: its op is waitForName's
  const own = code(c.waitForName('org.example.Later', { timeout: 20000 }));
  await new Promise((r) => setTimeout(r, 5));
  c.close();
  const e0 = await own;
  assert.is(e0.code, 'ECONNRESET');
  assert.match(e0.message, /^waitForName: ECONNRESET: /);
  assert.equal(bus.connections.map((x) => x.description), ['waitForName'], 'the wait\'s own connection');
  const t0 = performance.now();
  bus.close(); // no EBUSY: the wait's connection is closed with it
  const e = await wait;
  assert.ok(performance.now() - t0 < 1000, 'at once');
  assert.is(e.code, 'ECONNRESET');
  assert.match(e.message, /^waitForName: ECONNRESET: the bus was closed on this thread \(bus\.close\(\)\) while it waited$/);
  assert.equal(bus.connections, []);
});

t('bus.close() ends a bus.waitForName that polls (its match table had no room for its two matches) at once, with the same ECONNRESET', async () => {
  // (stop 46: on such a table the wait polls getNameOwner instead of failing with ENFILE)
  const { bus } = await makeBus({ limits: { ...SMALL, matches: 1 } });
  const c = bus.connect();
  c.addMatch({ notifications: 'id-add' });
  const wait = code(bus.waitForName('org.example.Later', { timeout: 20000 }));
  await new Promise((r) => setTimeout(r, 5));
  c.close({ drop: true }); // (its match took the wait's connection's ID_ADD)
  const t0 = performance.now();
  bus.close();
  const e = await wait;
  assert.ok(performance.now() - t0 < 1000, `within a poll (${performance.now() - t0} ms)`);
  assert.is(e.code, 'ECONNRESET');
  assert.match(e.message, /^waitForName: ECONNRESET: the bus was closed on this thread \(bus\.close\(\)\) while it waited$/);
  assert.equal(bus.connections, []);
});

t("bus.waitForName's connection closed by the user (a loop over bus.connections): ECONNRESET naming that close, not bus.close()", async () => {
  // (outside audit, stop 19: the message blamed a bus.close() that never happened)
  const { bus } = await makeBus();
  const wait = code(bus.waitForName('org.example.Later', { timeout: 20000 }));
  await new Promise((r) => setTimeout(r, 5));
  assert.is(bus.connections.length, 1, "the library's connection is listed");
  for (const c of bus.connections) c.close();
  const e = await wait;
  assert.is(e.code, 'ECONNRESET');
  assert.match(e.message, /^waitForName: ECONNRESET: its connection \(the library's, listed in bus\.connections\) was closed while it waited$/);
  bus.close();
});

t("bus.waitForName keeps the cause of its errors: the addEventListener throw of a signal that refuses its listener, an abort's reason (stop 44, an outside audit)", async ({ bus }) => {
  const thrown = new Error('nope');
  const duck = { aborted: false, addEventListener() { throw thrown; }, removeEventListener() {} } as unknown as AbortSignal;
  for (const wait of [(o: object) => bus.waitForName('org.example.Never', o), (o: object) => bus.connect().waitForName('org.example.Never', o)]) {
    const e = await code(wait({ signal: duck, timeout: 20000 }));
    assert.is(e.code, 'EINVAL');
    assert.match(e.message, /^waitForName: EINVAL: signal must be an AbortSignal that takes an 'abort' listener: its addEventListener threw \(nope\)$/);
    assert.is(e.cause, thrown, 'the throw is its cause');
    const ac = new AbortController(), why = new Error('stopping');
    const p = code(wait({ signal: ac.signal, timeout: 20000 }));
    await new Promise((r) => setTimeout(r, 5));
    ac.abort(why);
    const e2 = await p;
    assert.is(e2.code, 'ECANCELED');
    assert.is(e2.cause, why, 'the abort reason is its cause');
  }
  for (const c of bus.connections) c.close();
});

t.run();
