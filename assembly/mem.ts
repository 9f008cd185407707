// mem: the wasm engine layer. The core (every other file of assembly/, written once in the
// portable subset: docs/ARCHITECTURE.md, "One source, two compilers") reaches the memory,
// the atomics and the calling thread only through these functions; js/twin/mem.ts gives
// plain JavaScript the same names. Only engine-layer files may use AssemblyScript builtins
// or decorators, or compute in 64 bits.
//
// The core keeps its per-thread state here: each `let` is a wasm global, private to its
// instance, i.e. to its thread. Nothing mutable lives in static data (every instantiation
// rewrites the data segments).
import * as A from "../js/shared/abi";
import { __arena_init } from "./rt/arena";

/** Test hooks (fault injection) compiled in: only the hooks build (asc --use WASMBUS_HOOKS=1). */
// @ts-ignore: AssemblyScript compile-time builtin
export const HOOKS: bool = isDefined(WASMBUS_HOOKS);

/** absolute address of the calling thread's slot (0: not joined) */
export let THREAD: u32 = 0;
/** the token this thread joined with: its slot is its own only while the slot holds it */
export let TOKEN: u32 = 0;
/** the slot's join generation (THREAD_JOIN_GEN) as this thread's join left it: a thread that joined the slot since, with the same token, moved it */
export let JOIN_GEN: u32 = 0;

/** Bind the calling thread to its slot (0, 0, 0: none). The AS runtime's arena lives in the slot. */
export function setThread(thread: u32, token: u32, gen: u32): void {
  THREAD = thread;
  TOKEN = token;
  JOIN_GEN = gen;
  if (thread != 0) __arena_init(thread + A.THREAD_ARENA, A.THREAD_ARENA_SIZE);
}

// @ts-ignore: decorator
@inline export function ld32(p: u32): u32 { return load<u32>(p); }
// @ts-ignore: decorator
@inline export function st32(p: u32, v: u32): void { store<u32>(p, v); }
// @ts-ignore: decorator
@inline export function ldi32(p: u32): i32 { return load<i32>(p); }
// @ts-ignore: decorator
@inline export function ld8(p: u32): u32 { return load<u8>(p); }
// @ts-ignore: decorator
@inline export function st64(p: u32, lo: u32, hi: u32): void {
  store<u32>(p, lo);
  store<u32>(p + 4, hi);
}
// @ts-ignore: decorator
@inline export function copy(dst: u32, src: u32, n: u32): void { memory.copy(dst, src, n); }
// @ts-ignore: decorator
@inline export function fill(dst: u32, v: u32, n: u32): void { memory.fill(dst, <u8>v, n); }

/** Does [p, p + n) lie inside the memory? (exact: the sum may pass 2^32) */
// @ts-ignore: decorator
@inline export function inMemory(p: u32, n: u32): bool {
  return <u64>p + n <= (<u64>memory.size() << 16);
}
/** a + b <= limit, exactly (the sum may pass 2^32) */
// @ts-ignore: decorator
@inline export function sumLe(a: u32, b: u32, limit: u32): bool {
  return <u64>a + b <= <u64>limit;
}
/** a + b, or 0xffffffff when it does not fit a u32 */
// @ts-ignore: decorator
@inline export function satAdd(a: u32, b: u32): u32 {
  const s = <u64>a + b;
  return s > 0xffffffff ? 0xffffffff : <u32>s;
}
/** a × b, or 0xffffffff when it does not fit a u32 */
// @ts-ignore: decorator
@inline export function satMul(a: u32, b: u32): u32 {
  const s = <u64>a * b;
  return s > 0xffffffff ? 0xffffffff : <u32>s;
}

// atomics on u32 words (sequentially consistent)
// @ts-ignore: decorator
@inline export function aLoad(p: u32): u32 { return atomic.load<u32>(p); }
// @ts-ignore: decorator
@inline export function aStore(p: u32, v: u32): void { atomic.store<u32>(p, v); }
/** compare-exchange: the old value */
// @ts-ignore: decorator
@inline export function aCas(p: u32, expected: u32, v: u32): u32 { return atomic.cmpxchg<u32>(p, expected, v); }
/** exchange: the old value */
// @ts-ignore: decorator
@inline export function aXchg(p: u32, v: u32): u32 { return atomic.xchg<u32>(p, v); }
/** add (wrapping): the old value */
// @ts-ignore: decorator
@inline export function aAdd(p: u32, v: u32): u32 { return atomic.add<u32>(p, v); }
/** wake every thread waiting on the futex word at p */
// @ts-ignore: decorator
@inline export function notifyAll(p: u32): void { atomic.notify(p, -1); }
/** wake every thread waiting on the futex word at p; how many were woken */
// @ts-ignore: decorator
@inline export function notifyCount(p: u32): u32 { return u32(atomic.notify(p, -1)); }
/** subtract (wrapping): the old value */
// @ts-ignore: decorator
@inline export function aSub(p: u32, v: u32): u32 { return atomic.sub<u32>(p, v); }

/** A core bug or an injected fault: stop the command (the twin throws). */
// @ts-ignore: decorator
@inline export function trap(): void { unreachable(); }
