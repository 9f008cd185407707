// diffkit: what the differential and fuzz tests (tests/diff) share: the seeded PRNG, the
// seeds and step counts from the environment, an exception turned into a value both
// engines' outcomes can be compared by, a byte comparison of two buses, and a run's end
// (both buses clean, every connection closed) and the floors of its tallies.
//
// Environment (read by tests/diff/*.test.ts):
//   WASMBUS_SEEDS  seeds to run, e.g. "1-8", "3", "1,5,9-12" (default: each test's own list)
//   WASMBUS_STEPS  commands per seed (default: each test's own count)
import * as assert from 'uvu/assert';
import { abi as A, BusError, type BusOptions, type Engine, type EngineKind } from '../../js/index.ts';
import { leaks, makeBus } from './harness.ts';
import { checkBus } from './check.ts';
import { Raw } from './raw.ts';

/** mulberry32: small, seeded, good enough for choosing commands */
export function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(a: T[]): T => a[Math.floor(next() * a.length)] };
}

/** "1-8" / "3" / "1,5,9-12" -> the seeds; throws on anything else (a typo must not run zero seeds) */
export function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`WASMBUS_SEEDS: cannot read ${JSON.stringify(part)} (e.g. "1-8" or "1,5,9-12")`);
    const from = Number(m[1]), to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`WASMBUS_SEEDS: empty range ${part}`);
    for (let s = from; s <= to; s++) out.push(s);
  }
  return out;
}

/** the seeds to run: WASMBUS_SEEDS, else `dflt` */
export function seedsFromEnv(dflt: number[]): number[] {
  const spec = process.env.WASMBUS_SEEDS;
  return spec ? parseSeeds(spec) : dflt;
}

/** commands per seed: WASMBUS_STEPS, else `dflt` */
export function stepsFromEnv(dflt: number): number {
  const spec = process.env.WASMBUS_STEPS;
  if (!spec) return dflt;
  const n = Number(spec);
  if (!Number.isInteger(n) || n < 1) throw new Error(`WASMBUS_STEPS must be a positive integer, not ${JSON.stringify(spec)}`);
  return n;
}

/** An exception, as a value comparable between the engines. */
export interface Thrown {
  threw: string;
  errno?: number;
  message?: string;
}

/**
 * What `err`, thrown by a call into engine `kind`, compares as. A trap inside the core is the
 * one thing the engines report differently, by construction: wasm executes `unreachable`
 * (WebAssembly.RuntimeError 'unreachable'), the twin's trap() throws Error('wasmbus twin:
 * trap') (js/twin/mem.ts). Exactly those two, each from its own engine, become { threw:
 * 'trap' }; every other exception is compared by its class, errno and message.
 */
export function thrown(err: unknown, kind: EngineKind): Thrown {
  if (kind === 'wasm' && err instanceof WebAssembly.RuntimeError && err.message === 'unreachable') return { threw: 'trap' };
  if (kind === 'twin' && err instanceof Error && err.constructor === Error && err.message === 'wasmbus twin: trap') return { threw: 'trap' };
  if (err instanceof BusError) return { threw: 'BusError', errno: err.errno, message: err.message };
  if (err instanceof Error) return { threw: err.constructor.name, message: err.message };
  return { threw: typeof err, message: String(err) };
}

export function isThrown(x: unknown): x is Thrown {
  return typeof x === 'object' && x !== null && 'threw' in x;
}
export const isTrap = (x: unknown): boolean => isThrown(x) && x.threw === 'trap';

/**
 * The first byte address in [BUS_BASE, layout end) where the two buses differ, or -1. Nothing
 * is left out: header, thread table (the command areas with every command's outputs, the
 * undo logs, the scratch words, and the AS runtime's arena, which is wasm-only but which the
 * core never allocates from, so it stays zero on both), connections, tables, pools; but the
 * header's liveness key (BUS_LIVENESS_KEY, since BUS_VERSION 17): 8 random bytes the creator's
 * host draws after BUS_MAKE, neither the core's nor the provider's, which the core never reads.
 */
export function busDiff(a: Engine, b: Engine): number {
  const end = a.u32[(A.BUS_BASE + A.BUS_LAYOUT_END) >>> 2];
  if (b.u32[(A.BUS_BASE + A.BUS_LAYOUT_END) >>> 2] !== end) return A.BUS_BASE + A.BUS_LAYOUT_END;
  const x = a.u32, y = b.u32;
  const key = (A.BUS_BASE + A.BUS_LIVENESS_KEY) >>> 2, keyEnd = key + A.LIVENESS_KEY_SIZE / 4;
  for (let i = A.BUS_BASE >>> 2, e = end >>> 2; i < e; i++) if (x[i] !== y[i] && (i < key || i >= keyEnd)) return i << 2;
  return -1;
}

/** Where in the bus an address lies, for failure messages. */
export function where(e: Engine, p: number): string {
  const ld = (q: number) => e.u32[q >>> 2];
  const H = A.BUS_BASE;
  if (p < H + A.BUS_SIZE) return `bus header +${p - H}`;
  const threads = ld(H + A.BUS_THREADS), conns = ld(H + A.BUS_CONNS), pools = ld(H + A.BUS_POOLS);
  if (p < conns) return `thread ${Math.floor((p - threads) / A.THREAD_SIZE)} +${(p - threads) % A.THREAD_SIZE}`;
  if (p < conns + ld(H + A.BUS_N_CONNS) * A.CONN_SIZE) return `conn ${Math.floor((p - conns) / A.CONN_SIZE)} +${(p - conns) % A.CONN_SIZE}`;
  if (p >= pools) return `pool ${Math.floor((p - pools) / ld(H + A.BUS_POOL_MAX))} +${(p - pools) % ld(H + A.BUS_POOL_MAX)}`;
  return `table area ${p}`;
}

/** Run `f` on both engines' Raws: their outcomes and every byte of their buses must agree (the caller's). */
export type Both = <R>(label: string, f: (raw: Raw) => R) => R;

/**
 * The wasm core and the twin, each on a bus of its own made with `limits`, and their `both`:
 * `f` run on each one's Raw, whose outcomes and every byte of bus state must agree; then
 * `after` (a check of the test's own, on the wasm engine), if given.
 */
export async function enginePair(limits: BusOptions['limits'], after?: (e: Engine, label: string) => void): Promise<{ raws: [Raw, Raw]; both: Both }> {
  const W = await makeBus({ limits }, 'wasm');
  const T = await makeBus({ limits }, 'twin');
  const raws: [Raw, Raw] = [new Raw(W.bus.engine), new Raw(T.bus.engine)];
  const both: Both = (label, f) => {
    const rw = f(raws[0]), rt = f(raws[1]);
    assert.equal(rt, rw, `${label}: outcomes differ`);
    const d = busDiff(raws[0].e, raws[1].e);
    if (d >= 0) assert.unreachable(`${label}: bus state differs at ${d}, ${where(raws[0].e, d)}`);
    after?.(raws[0].e, label);
    return rw;
  };
  return { raws, both };
}

/**
 * The end of a differential run, the queues drained by the caller: both buses clean (no
 * leak, every invariant), then every connection closed with the same outcome on both.
 */
export function endClean(raws: Raw[], conns: readonly { slot: number; gen: number }[], both: Both): void {
  for (const raw of raws) assert.equal(leaks(raw.e), [], 'leak check');
  for (const raw of raws) assert.equal(checkBus(raw.e), [], 'consistent');
  for (const x of conns) both('close', (raw) => raw.byebye(x.slot, x.gen));
}

/** A tally's floor: fails when `counts[k]` is under `steps × rate` (a draw that stopped exercising what it is for). */
export function exercised(counts: Record<string, number>, steps: number): (k: string, rate: number) => void {
  return (k, rate) => assert.ok((counts[k] ?? 0) >= Math.floor(steps * rate), `exercised (${k}): ${JSON.stringify(counts)}`);
}
