// The host side of SEND and HELLO under hostile input and injected failures:
// - a payload object that lies about its size cannot make the host write outside the slice
//   the core reserved (the true extent is what is reserved and copied);
// - a throw anywhere between SEND and send_commit cancels the reservation, and the thread's
//   busy word is cleared only once its op is back to none;
// - a throw in connect() after HELLO closes the connection it opened.
// After each, the bus is consistent (checkBus), nothing is pending on the thread, and the
// thread can still send, receive, close its connections and leave the bus.
import * as assert from 'uvu/assert';
import { abi as A, BusError, type Bus, type Connection, type Engine } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';
import { checkBus } from '../helpers/check.ts';
import { hostVec } from '../helpers/raw.ts';

const t = busSuite('send window', { hooks: true }); // some tests inject traps: the hooks build

const threadWord = (e: Engine, off: number) => e.u32[(e.cmd - A.THREAD_CMD + off) >>> 2];

/** Nothing half done: consistent, no send pending, busy word clear. */
function settled(e: Engine, what: string): void {
  assert.equal(checkBus(e), [], `${what}: consistent`);
  assert.is(threadWord(e, A.THREAD_OP), A.OP_NONE, `${what}: no send pending`);
  assert.is(threadWord(e, A.THREAD_BUSY), 0, `${what}: busy word clear`);
}

/** The thread is not wedged: it sends, receives, closes both connections and leaves the bus. */
function stillWorks(bus: Bus, a: Connection, b: Connection): void {
  a.sendText(b.id, 'after');
  const m = b.recv()!;
  assert.is(m.text(), 'after');
  m.free();
  a.close();
  b.close();
  assert.equal(bus.connections, []);
  bus.close(); // THREAD_LEAVE: refused (EINPROGRESS / EBUSY) if anything were left over
}

/** Replace one engine method on this instance (the prototype's is restored by `delete`). */
function patch<K extends 'send' | 'sendInline' | 'sendCommit' | 'sendCancel' | 'hello' | 'free'>(e: Engine, k: K, fn: (orig: Engine[K]) => Engine[K]): () => void {
  const orig = (e[k] as (...a: unknown[]) => unknown).bind(e) as Engine[K];
  (e as unknown as Record<string, unknown>)[k] = fn(orig);
  return () => { delete (e as unknown as Record<string, unknown>)[k]; };
}

function throwsLike(fn: () => unknown, check: (err: unknown) => boolean, msg: string): void {
  try {
    fn();
  } catch (err) {
    assert.ok(check(err), `${msg}: got ${String(err)}`);
    return;
  }
  assert.unreachable(`${msg}: did not throw`);
}

const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 7 + seed) & 0xff);

t('payloads that lie about their size: the true bytes are reserved and copied, neighbours intact', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const before = bytes(24, 1), after = bytes(24, 2);
  class Short extends Uint8Array { override get length() { return 8; } override get byteLength() { return 8; } }
  class Long extends Uint8Array { override get length() { return 100000; } override get byteLength() { return 100000; } }
  const real = bytes(4000, 3);
  const short = new Short(4000); short.set(real);
  const long = new Long(16); long.set(real.subarray(0, 16));
  // own getters on the instance, and a buffer / byteOffset that point elsewhere
  const backing = bytes(64, 4);
  const own = new Uint8Array(backing.buffer, 8, 16);
  Object.defineProperty(own, 'length', { get: () => 60000 });
  Object.defineProperty(own, 'byteLength', { get: () => 60000 });
  Object.defineProperty(own, 'byteOffset', { get: () => 0 });
  Object.defineProperty(own, 'buffer', { get: () => new ArrayBuffer(60000) });
  const DV: new (b: ArrayBuffer, o: number, l: number) => DataView = DataView;
  class LyingView extends DV { override get byteLength() { return 2; } override get byteOffset() { return 0; } }
  const dv = new LyingView(backing.buffer, 4, 12);
  class LyingBuffer extends ArrayBuffer { override get byteLength() { return 1; } }
  const lb = new LyingBuffer(10);
  new Uint8Array(lb).set(backing.subarray(0, 10));

  a.send(b.id, before);
  a.send(b.id, short);
  a.send(b.id, long);
  a.send(b.id, own);
  a.send(b.id, dv);
  a.send(b.id, lb);
  a.send(b.id, after);
  assert.equal(checkBus(e), [], 'consistent after the lying payloads');
  const expect = [before, real, real.subarray(0, 16), backing.subarray(8, 24), backing.subarray(4, 16), backing.subarray(0, 10), after];
  for (const [i, want] of expect.entries()) {
    const m = b.recv()!;
    assert.equal([...m.payload], [...want], `message ${i}: exactly the payload's true bytes`);
    m.free();
  }
  settled(e, 'lying payloads');
  stillWorks(bus, a, b);
});

t('up to SEND_INLINE_MAX bytes go in one SEND through the command area; above it, through the window', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  let windowed = 0, inline = 0;
  const r1 = patch(e, 'send', (send) => (slot, gen) => { windowed++; return send(slot, gen); });
  const r2 = patch(e, 'sendInline', (send) => (slot, gen) => { inline++; return send(slot, gen); });
  const sizes = [0, 1, 7, A.SEND_INLINE_MAX - 1, A.SEND_INLINE_MAX, A.SEND_INLINE_MAX + 1, A.SEND_INLINE_MAX + 8, 20000];
  try {
    for (const [i, n] of sizes.entries()) a.send(b.id, bytes(n, i));
  } finally { r1(); r2(); }
  assert.equal([inline, windowed], [5, 3], 'one SEND for the five small ones, the window for the three larger');
  for (const [i, n] of sizes.entries()) {
    const m = b.recv()!;
    assert.equal([...m.payload], [...bytes(n, i)], `${n} bytes: exactly the payload`);
    m.free();
  }
  settled(e, 'inline and windowed');
  stillWorks(bus, a, b);
});

t('objects that only pretend to be views are EINVAL, and nothing is sent', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const fakes: unknown[] = [
    new Proxy(new Uint8Array(16), {}),
    Object.create(Uint8Array.prototype),
    { buffer: new ArrayBuffer(8), byteOffset: 0, byteLength: 8, length: 8 },
  ];
  for (const f of fakes) {
    throwsLike(() => a.send(b.id, f as Uint8Array), (err) => (err as { code?: string }).code === 'EINVAL', 'a fake view');
  }
  assert.is(b.queued, 0);
  settled(e, 'fake views');
  stillWorks(bus, a, b);
});

t('a throw in the copy cancels the reservation', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const buf = new ArrayBuffer(A.SEND_INLINE_MAX + 300); // above it: the two-phase window
  // the payload's buffer is detached once the core has reserved its slice: the copy throws
  const restore = patch(e, 'send', (send) => (slot, gen) => {
    const r = send(slot, gen);
    structuredClone(buf, { transfer: [buf] });
    return r;
  });
  try {
    throwsLike(() => a.send(b.id, new Uint8Array(buf)), (err) => err instanceof BusError && err.code === 'EINVAL' && /detached, or shrunk below the view/.test(err.message), 'the copy fails: EINVAL, the buffer detached (a TypeError before stop 41)');
  } finally { restore(); }
  assert.is(b.queued, 0, 'nothing delivered');
  assert.is(b.poolUsed, 0, 'the reserved slice was given back');
  settled(e, 'copy');
  stillWorks(bus, a, b);
});

t('a throw before send_commit runs cancels the reservation', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const restore = patch(e, 'sendCommit', () => () => { throw new Error('injected before commit'); });
  try {
    throwsLike(() => a.send(b.id, bytes(A.SEND_INLINE_MAX + 100, 5)), (err) => (err as Error).message === 'injected before commit', 'the commit throws');
  } finally { restore(); }
  assert.is(b.queued, 0);
  assert.is(b.poolUsed, 0);
  settled(e, 'commit (JS)');
  stillWorks(bus, a, b);
});

t('a trap inside send_commit: the window stays open until the host cancels', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  let inCancel: [number, number] | null = null;
  // once SEND has reserved, arm the fault hook: send_commit traps at its first logged store
  const r1 = patch(e, 'send', (send) => (slot, gen) => {
    const r = send(slot, gen);
    if (r === A.SEND_PENDING) e.setFault(1);
    return r;
  });
  const r2 = patch(e, 'sendCancel', (cancel) => () => {
    inCancel = [threadWord(e, A.THREAD_OP), threadWord(e, A.THREAD_BUSY)];
    return cancel();
  });
  try {
    throwsLike(() => a.send(b.id, bytes(A.SEND_INLINE_MAX + 100, 6)), (err) => !(err instanceof Error && 'errno' in err), 'the trap is rethrown');
  } finally { r1(); r2(); }
  assert.equal(inCancel, [A.OP_SEND, 1], 'after the unwound commit the send was still reserved and the busy word still set');
  assert.is(b.queued, 0);
  assert.is(b.poolUsed, 0);
  settled(e, 'commit (trap)');
  stillWorks(bus, a, b);
});

t('engine: a SEND refused with EINPROGRESS while a reservation stands leaves the busy word set (an outside audit of the raw ABI, stop 48)', ({ raw, e, bus }) => {
  // (send() cleared it on any result but SEND_PENDING: the reservation stood with the word 0,
  // and a recovery without `stopped` no longer waited for the copy window)
  const a = bus.connect(), b = bus.connect();
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(64)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(64)] });
  assert.is(e.send(a.slot, a.gen), -A.EINPROGRESS, 'a second SEND inside the window');
  assert.equal([threadWord(e, A.THREAD_OP), threadWord(e, A.THREAD_BUSY)], [A.OP_SEND, 1], 'the first still reserved: still busy');
  assert.is(e.sendCancel(), 0);
  settled(e, 'after the cancel');
  stillWorks(bus, a, b);
});

t('engine: the busy word is cleared only when the op is back to none', ({ raw, e, bus }) => {
  const a = bus.connect(), b = bus.connect();
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(64)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.equal([threadWord(e, A.THREAD_OP), threadWord(e, A.THREAD_BUSY)], [A.OP_SEND, 1], 'reserved: busy');
  e.setFault(1);
  throwsLike(() => e.sendCommit(), () => true, 'send_commit traps');
  assert.equal([threadWord(e, A.THREAD_OP), threadWord(e, A.THREAD_BUSY)], [A.OP_SEND, 1], 'undone to OP_SEND: still busy');
  assert.is(b.poolUsed > 0, true, 'the slice is still reserved');
  e.setFault(1);
  throwsLike(() => e.sendCancel(), () => true, 'send_cancel traps');
  assert.equal([threadWord(e, A.THREAD_OP), threadWord(e, A.THREAD_BUSY)], [A.OP_SEND, 1], 'still busy');
  assert.is(e.sendCancel(), 0);
  settled(e, 'engine');
  assert.is(e.sendCancel(), -A.EINVAL, 'nothing pending any more');
  settled(e, 'engine, second cancel');
  stillWorks(bus, a, b);
});

t('engine: sendInline of a message with a host vector is EINVAL, its reservation given back, nothing sent', ({ raw, e, bus }) => {
  // (it returned SEND_PENDING with no busy window: an outside audit, stop 38)
  const a = bus.connect(), b = bus.connect();
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(64)] });
  let err: unknown = null;
  try { e.sendInline(a.slot, a.gen); } catch (x) { err = x; }
  assert.instance(err, BusError);
  assert.is((err as BusError).code, 'EINVAL');
  assert.match((err as BusError).message, /host vector/);
  assert.is(b.queued, 0, 'nothing queued');
  assert.is(b.poolUsed, 0, 'the reservation given back');
  settled(e, 'sendInline with a host vector');
  stillWorks(bus, a, b);
});

t('a throw in connect() after HELLO closes the new connection', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const live = e.liveConns();
  // the FREE of the HELLO slice throws in JS
  let restore = patch(e, 'free', () => () => { throw new Error('injected after HELLO'); });
  try {
    throwsLike(() => bus.connect({ description: 'doomed' }), (err) => (err as Error).message === 'injected after HELLO', 'connect rethrows');
  } finally { restore(); }
  assert.is(e.liveConns(), live, 'the half-made connection was closed');
  assert.equal(bus.connections, [a, b]);
  settled(e, 'connect (JS)');
  // the FREE traps inside the core
  restore = patch(e, 'hello', (hello) => () => { const r = hello(); e.setFault(1); return r; });
  try {
    throwsLike(() => bus.connect(), () => true, 'connect rethrows the trap');
  } finally { restore(); }
  assert.is(e.liveConns(), live);
  settled(e, 'connect (trap)');
  // a message reached the new id before the throw: it is dropped, the connection still closed
  const next = b.id + 3; // ids so far: a, b, and the two half-made ones
  restore = patch(e, 'free', () => () => { a.sendText(next, 'too early'); throw new Error('injected after a message'); });
  try {
    throwsLike(() => bus.connect(), (err) => (err as Error).message === 'injected after a message', 'connect rethrows');
  } finally { restore(); }
  assert.is(e.liveConns(), live);
  assert.equal(bus.connections, [a, b]);
  settled(e, 'connect (queued message)');
  stillWorks(bus, a, b);
});

t.run();
