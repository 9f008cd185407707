// The thread table: join, leave, EALREADY, EUSERS; a second engine instance on the same memory
// is another thread as far as the bus is concerned.
import * as assert from 'uvu/assert';
import { abi as A, WasmEngine, TwinEngine, loadCore, MockProvider, type Engine } from '../../js/index.ts';
import { busSuite, ENGINE, open } from '../helpers/harness.ts';
import { Raw, hostVec } from '../helpers/raw.ts';

const t = busSuite('threads');

async function another(memory: WebAssembly.Memory): Promise<Engine> {
  const p = new MockProvider({ seed: 9 });
  return ENGINE === 'wasm' ? WasmEngine.create(await loadCore(), memory, p) : new TwinEngine(memory, p);
}

t('join takes the next free slot; joining twice -> EALREADY; a token in use -> EBUSY; a full table -> EUSERS', async ({ bus, e }) => {
  assert.is(e.threadSlot, 0);
  assert.is(e.threadJoin(1), -A.EALREADY);
  const others: Engine[] = [];
  for (let i = 1; i < bus.limits.threads; i++) {
    const o = await another(bus.memory);
    if (i === 2) assert.is(o.threadJoin(7 + 1), -A.EBUSY, 'the token of slot 1: refused, nothing taken');
    assert.is(o.threadJoin(7 + i), i);
    others.push(o);
  }
  const late = await another(bus.memory);
  assert.is(late.threadJoin(100), -A.EUSERS);
  assert.is(others[1].threadLeave(), 0);
  assert.is(late.threadJoin(7 + 1), -A.EBUSY, 'slot 1 still holds its token');
  assert.is(late.threadJoin(100), 2, 'the freed slot');
  assert.is(late.threadLeave(), 0);
  assert.is(late.threadLeave(), -A.EBADF, 'not joined any more');
  for (const o of others) if (o.threadSlot >= 0) assert.is(o.threadLeave(), 0);
});

t('a thread with a pending send cannot leave (EINPROGRESS); commands need a joined thread (EBADF)', async ({ raw, e, bus }) => {
  const a = open(raw), b = open(raw);
  raw.writeSend({ msg: { dst: b.id }, items: [hostVec(8)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.is(e.threadLeave(), -A.EINPROGRESS);
  assert.is(e.sendCancel(), 0);
  const o = await another(bus.memory);
  assert.is(o.hello(), -A.EBADF);
  assert.is(o.recv(b.slot, b.gen), -A.EBADF);
  assert.is(o.sendCommit(), -A.EBADF);
});

t('two threads (engine instances) on one memory exchange messages in place', async ({ raw, e, bus }) => {
  const o = await another(bus.memory);
  assert.is(o.threadJoin(3), 1);
  const raw2 = new Raw(o);
  const a = open(raw), b = open(raw2);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(5)], host: [new Uint8Array([5, 4, 3, 2, 1])] }), 0);
  const m = raw2.recv(b.slot, b.gen);
  assert.is(m.r, 0);
  const s = raw2.slice(b.slot, m.offset);
  assert.equal([...e.u8.slice(s + 96, s + 101)], [5, 4, 3, 2, 1], 'read in place through the other view');
  assert.is(raw2.free(b.slot, b.gen, m.offset), 0);
  assert.is(raw2.byebye(b.slot, b.gen), 0);
  assert.is(o.threadLeave(), 0);
});

t('BYEBYE_DROP with another thread\'s send reserved into the connection: it closes; the slot stays closing until that commit, which publishes into nothing', async ({ raw, e, bus }) => {
  const o = await another(bus.memory);
  assert.is(o.threadJoin(3), 1);
  const raw2 = new Raw(o);
  const a = open(raw), c = open(raw2);
  raw.writeSend({ msg: { dst: c.id }, items: [hostVec(8)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.is(raw2.byebye(c.slot, c.gen), -A.EBUSY);
  assert.equal(raw2.reason, { reason: A.R_BYEBYE_RESERVED, arg: 1 });
  assert.is(raw2.byebye(c.slot, c.gen, A.BYEBYE_DROP), 0);
  assert.is(e.sendCommit(), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: c.id } }), -A.ENXIO);
  assert.is(raw.byebye(a.slot, a.gen), 0);
});

t('a thread cannot leave while it owns an open connection (EBUSY)', async ({ bus }) => {
  const o = await another(bus.memory);
  assert.ok(o.threadJoin(11) > 0);
  const raw2 = new Raw(o);
  const c = open(raw2);
  assert.is(o.threadLeave(), -A.EBUSY);
  assert.is(raw2.byebye(c.slot, c.gen), 0);
  assert.is(o.threadLeave(), 0);
});

t('WasmEngine.create refuses a module that is not a wasmbus core with the documented Error (stop 17\'s audit: a TypeError)', async ({ bus }) => {
  // (wasm only in what it tests, run under both suites: the engine kind of the bus does not matter)
  const empty = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  try {
    await WasmEngine.create(empty, bus.memory, new MockProvider());
    assert.unreachable('created');
  } catch (e) {
    assert.is((e as Error).constructor, Error);
    assert.match((e as Error).message, /^wasmbus: the module is not a wasmbus core \(it exports no abi_fingerprint\): rebuild with npm run build/);
  }
});

t.run();
