// mem: the twin's view of the shared memory, and the loads/stores the core is written in.
//
// The wasm core keeps its per-thread state in instance globals; the twin keeps it in these
// module variables, which twin/index.ts binds at the start of every command (commands are
// synchronous and never re-enter, so one engine owns them for the whole command).
// Mirrors assembly/mem.ts function for function.

export interface HostImports {
  clock_time_get(id: number, precision: bigint, out: number): number;
  random_get(buf: number, len: number): number;
  creds_get(out: number): number;
}

export let U8: Uint8Array = new Uint8Array(0);
export let U32: Uint32Array = new Uint32Array(0);
export let I32: Int32Array = new Int32Array(0);
/** absolute address of the calling thread's slot (0: not joined) */
export let THREAD = 0;
/** the token this thread joined with: its slot is its own only while the slot holds it */
export let TOKEN = 0;
export let HOST: HostImports = null as unknown as HostImports;

export function bind(u8: Uint8Array, u32: Uint32Array, i32: Int32Array, thread: number, token: number, host: HostImports): void {
  U8 = u8;
  U32 = u32;
  I32 = i32;
  THREAD = thread;
  TOKEN = token;
  HOST = host;
}

export function setThread(thread: number, token: number): void {
  THREAD = thread;
  TOKEN = token;
}

export function ld32(p: number): number {
  return U32[p >>> 2];
}
export function st32(p: number, v: number): void {
  U32[p >>> 2] = v;
}
export function ldi32(p: number): number {
  return I32[p >>> 2];
}
export function ld8(p: number): number {
  return U8[p];
}
export function st64(p: number, lo: number, hi: number): void {
  U32[p >>> 2] = lo;
  U32[(p >>> 2) + 1] = hi;
}
export function copy(dst: number, src: number, n: number): void {
  U8.copyWithin(dst, src, src + n);
}
export function fill(dst: number, v: number, n: number): void {
  U8.fill(v, dst, dst + n);
}
export function memSize(): number {
  return U8.length;
}
/** +1 on a futex word; notify only when someone sleeps on it (`sleepers` word not 0). */
export function wake(p: number, sleepers: number): void {
  Atomics.add(I32, p >>> 2, 1);
  if (Atomics.load(I32, sleepers >>> 2) != 0) Atomics.notify(I32, p >>> 2);
}
export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A core bug or an injected fault: stop the command (wasm: `unreachable`). */
export function trap(): never {
  throw new Error('wasmbus twin: trap');
}
