// harness: one conformance suite, two engines. WASMBUS_ENGINE (set by tests/run.mjs) picks
// the engine; every test gets a fresh bus and a leak check after it: no queued message,
// no pool byte in use, no send pending, in any connection still open; then every
// connection is closed and the bus must have none left.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Bus, MockProvider, WasmEngine, TwinEngine, loadCore, abi as A, type BusOptions, type Engine, type EngineKind } from '../../js/index.ts';
import { Raw } from './raw.ts';
import { busStats, checkBus } from '../../js/health.ts';

export const ENGINE: EngineKind = process.env.WASMBUS_ENGINE === 'twin' ? 'twin' : 'wasm';

export interface Ctx {
  bus: Bus;
  e: Engine;
  raw: Raw;
  mock: MockProvider;
}

export const SMALL: BusOptions['limits'] = { threads: 4, connections: 8, poolMax: 262144, names: 16, matches: 16, replies: 16 };

export async function makeBus(opts: BusOptions = {}, engine: EngineKind = ENGINE): Promise<{ bus: Bus; mock: MockProvider }> {
  const mock = (opts.provider as MockProvider) ?? new MockProvider({ seed: 42 });
  const bus = await Bus.create({ engine, provider: mock, limits: SMALL, userRegion: 65536, ...opts });
  return { bus, mock };
}

/**
 * Everything a test left behind, through the public health API (busStats, checkBus): a list of
 * complaints (empty when clean): a queued message, a pool byte in use, a send reservation,
 * quota still charged or a sender still in a line for room in any open connection, a send
 * pending on this thread, a call pending in the reply table; and every broken invariant of
 * the bus (pools, lists, quotas, ids, matches, names, reply table; no lock held).
 */
export function leaks(e: Engine): string[] {
  const out: string[] = [];
  const st = busStats(e);
  for (const c of st.connections) {
    const s = c.slot;
    if (c.queued) out.push(`conn ${s}: ${c.queued} queued`);
    if (c.poolUsed) out.push(`conn ${s}: ${c.poolUsed} pool bytes used`);
    if (c.reserved) out.push(`conn ${s}: reservation pending`);
    if (c.accounted) out.push(`conn ${s}: quota still accounted`);
    if (c.sendLine !== 0) out.push(`conn ${s}: ${c.sendLine} senders still in its line for room`);
    // (one thread, every wait ended: each is off its count, by its waker or by itself)
    const w = c.sleepers;
    if (w.wake !== 0 || w.space !== 0 || w.turn !== 0) out.push(`conn ${s}: waits still counted (wake ${w.wake}, space ${w.space}, turn ${w.turn})`);
  }
  if (e.cmd && e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_OP) >>> 2] !== A.OP_NONE) out.push('a send is pending');
  if (st.calls.pending) out.push(`${st.calls.pending} call(s) still pending in the reply table`);
  out.push(...checkBus(e));
  return out;
}

/**
 * Up to 200 ms for this thread's waits to end: a wait parked with a deadline that has passed
 * ends when the event loop runs its timer (a call's pump after its calls were forgotten by a
 * synchronous receive loop, say). One still counted after that is left to leaks() to report.
 */
export async function waitsEnded(e: Engine): Promise<void> {
  const counted = () => busStats(e).connections.some((c) => c.sleepers.wake !== 0 || c.sleepers.space !== 0 || c.sleepers.turn !== 0);
  for (const end = performance.now() + 200; counted() && performance.now() < end;) await new Promise((r) => setTimeout(r, 2));
}

/**
 * Close every open connection through the ABI; the bus must end with none. Closing one
 * announces ID_REMOVE to the others' matching rules: what that queues is dropped first.
 */
export function closeAll(e: Engine, raw: Raw): void {
  const n = e.u32[(A.BUS_BASE + A.BUS_N_CONNS) >>> 2];
  for (let s = 0; s < n; s++) {
    const c = e.connAddr(s);
    if (e.u32[(c + A.CONN_STATE) >>> 2] !== A.CONN_ACTIVE) continue;
    while (raw.recv(s, e.connGen(s), A.RECV_DROP).r === 0);
    raw.byebye(s, e.connGen(s));
  }
}

/** Match entries still live (their owner open with the entry's generation): none once every connection is closed. */
export function liveMatches(e: Engine): number {
  const H = A.BUS_BASE, u32 = e.u32;
  const n = u32[(H + A.BUS_N_MATCHES) >>> 2], size = u32[(H + A.BUS_MATCH_SIZE) >>> 2], base = u32[(H + A.BUS_MATCHES) >>> 2];
  let live = 0;
  for (let i = 0; i < n; i++) {
    const m = base + i * size, owner = u32[(m + A.MATCH_OWNER) >>> 2];
    if (owner === 0) continue;
    const c = e.connAddr(owner - 1);
    if (u32[(c + A.CONN_STATE) >>> 2] === A.CONN_ACTIVE && u32[(c + A.CONN_GEN) >>> 2] === u32[(m + A.MATCH_GEN) >>> 2]) live++;
  }
  return live;
}

/**
 * A suite whose tests each get a fresh bus (ctx) and end with the leak check, run inside
 * the test so that a failure is reported as the test's own (uvu swallows hook errors).
 */
export function busSuite(name: string, opts: BusOptions = {}) {
  const s = suite<Ctx>(`${name} [${ENGINE}]`, {} as Ctx);
  const test = (title: string, fn: (ctx: Ctx) => unknown) => s(title, async (ctx) => {
    const { bus, mock } = await makeBus(opts);
    Object.assign(ctx, { bus, e: bus.engine, raw: new Raw(bus.engine), mock });
    await fn(ctx);
    await waitsEnded(ctx.e);
    const l = leaks(ctx.e);
    closeAll(ctx.e, ctx.raw);
    assert.equal(l, [], 'leak check');
    assert.is(ctx.e.liveConns(), 0, 'every connection closed');
    assert.is(liveMatches(ctx.e), 0, 'no match entry left');
    assert.equal(checkBus(ctx.e), [], 'bus consistent after closing');
    const after = busStats(ctx.e);
    assert.is(after.names.owners, 0, 'no name left once every connection closed');
    assert.is(after.matches.live, 0, 'no match entry left (stats)');
    assert.is(after.calls.pending, 0, 'no call left once every connection closed');
  });
  test.run = () => s.run();
  test.skip = (title: string, _fn: (ctx: Ctx) => unknown) => s.skip(title, () => {});
  return test;
}

/** Open a connection through the ABI; returns its handle. */
export function open(raw: Raw, o: Parameters<Raw['hello']>[0] = {}) {
  const h = raw.hello({ attachSend: 0, attachRecv: 0, ...o });
  assert.ok(h.r >= 0, `hello failed: ${h.r}`);
  assert.is(raw.free(h.slot, h.gen, h.offset), 0, 'free the HELLO slice');
  return h;
}

/** An engine on a fresh memory with no bus yet (for BUS_MAKE tests). */
export async function bareEngine(pages: number, engine: EngineKind = ENGINE, seed = 42): Promise<Engine> {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const mock = new MockProvider({ seed });
  return engine === 'wasm' ? WasmEngine.create(await loadCore(), memory, mock) : new TwinEngine(memory, mock);
}

let nextToken = 100; // every join its own token, as bus.handle() gives
/** A join token no other thread of this process's tests has used. */
export const freshToken = (): number => nextToken++;

/**
 * A second engine on `memory`, as another thread would instantiate the core: the hooks build
 * (fault injection), its own mock provider (`seed`); joined to the bus with a fresh token
 * unless `join` is false.
 */
export async function anotherEngine(memory: WebAssembly.Memory, seed = 9, join = true): Promise<Engine> {
  const p = new MockProvider({ seed });
  const e = ENGINE === 'wasm' ? await WasmEngine.create(await loadCore(true), memory, p, true) : new TwinEngine(memory, p, true);
  if (join) assert.ok(e.threadJoin(freshToken()) > 0, 'the other thread joined');
  return e;
}
