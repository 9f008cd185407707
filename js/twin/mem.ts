// mem: the twin's engine layer, the same functions as assembly/mem.ts over typed arrays.
// The generated core (js/twin/core*/, from assembly/) imports these; tools/gen-core.mjs
// checks that every name assembly/mem.ts exports exists here.
//
// The wasm core keeps its per-thread state in instance globals; the twin keeps it in these
// module variables, which twin/index.ts binds at the start of every command (commands are
// synchronous and never re-enter, so one engine owns them for the whole command).

export interface HostImports {
  clock_time_get(id: number, precision: bigint, out: number): number;
  random_get(buf: number, len: number): number;
  creds_get(out: number): number;
}

let U8: Uint8Array = new Uint8Array(0);
let U32: Uint32Array = new Uint32Array(0);
let I32: Int32Array = new Int32Array(0);
/** absolute address of the calling thread's slot (0: not joined) */
export let THREAD = 0;
/** the token this thread joined with: its slot is its own only while the slot holds it */
export let TOKEN = 0;
/** the slot's join generation as this thread's join left it (assembly/mem.ts) */
export let JOIN_GEN = 0;
export let HOST: HostImports = null as unknown as HostImports;

export function bind(u8: Uint8Array, u32: Uint32Array, i32: Int32Array, thread: number, token: number, gen: number, host: HostImports): void {
  U8 = u8;
  U32 = u32;
  I32 = i32;
  THREAD = thread;
  TOKEN = token;
  JOIN_GEN = gen;
  HOST = host;
}

export function setThread(thread: number, token: number, gen: number): void {
  THREAD = thread;
  TOKEN = token;
  JOIN_GEN = gen;
}

export function ld32(p: number): number { return U32[p >>> 2]; }
export function st32(p: number, v: number): void { U32[p >>> 2] = v; }
export function ldi32(p: number): number { return I32[p >>> 2]; }
export function ld8(p: number): number { return U8[p]; }
export function st64(p: number, lo: number, hi: number): void {
  U32[p >>> 2] = lo;
  U32[(p >>> 2) + 1] = hi;
}
export function copy(dst: number, src: number, n: number): void { U8.copyWithin(dst, src, src + n); }
export function fill(dst: number, v: number, n: number): void { U8.fill(v, dst, dst + n); }

/** Does [p, p + n) lie inside the memory? (doubles: the sum is exact) */
export function inMemory(p: number, n: number): boolean { return p + n <= U8.length; }
/** a + b <= limit, exactly */
export function sumLe(a: number, b: number, limit: number): boolean { return a + b <= limit; }
/** a + b, or 0xffffffff when it does not fit a u32 */
export function satAdd(a: number, b: number): number {
  const s = a + b;
  return s > 0xffffffff ? 0xffffffff : s;
}
/** a × b, or 0xffffffff when it does not fit a u32 (exact below 2^53, and 2^32 × 2^32 < 2^64 saturates anyway) */
export function satMul(a: number, b: number): number {
  const s = a * b;
  return s > 0xffffffff ? 0xffffffff : s;
}

// atomics on u32 words: a Uint32Array gives unsigned results, as the wasm core sees them
export function aLoad(p: number): number { return Atomics.load(U32, p >>> 2); }
export function aStore(p: number, v: number): void { Atomics.store(U32, p >>> 2, v); }
export function aCas(p: number, expected: number, v: number): number { return Atomics.compareExchange(U32, p >>> 2, expected, v); }
export function aXchg(p: number, v: number): number { return Atomics.exchange(U32, p >>> 2, v); }
export function aAdd(p: number, v: number): number { return Atomics.add(U32, p >>> 2, v); }
export function notifyAll(p: number): void { Atomics.notify(I32, p >>> 2); }
export function notifyCount(p: number): number { return Atomics.notify(I32, p >>> 2); }
export function aSub(p: number, v: number): number { return Atomics.sub(U32, p >>> 2, v); }

/** A core bug or an injected fault: stop the command (wasm: `unreachable`). */
export function trap(): never {
  throw new Error('wasmbus twin: trap');
}
