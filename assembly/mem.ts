// mem: the loads/stores the core is written in, and the calling thread's slot.
//
// The core keeps its per-thread state in module globals: each is a wasm global, private to
// its instance, i.e. to its thread. Nothing mutable lives in static data (every
// instantiation rewrites the data segments). Mirrors js/twin/mem.ts function for function
// (the twin's bind/HOST are the instance's imports here, see host.ts).

/** absolute address of the calling thread's slot (0: not joined) */
export let THREAD: u32 = 0;
/** the token this thread joined with: its slot is its own only while the slot holds it */
export let TOKEN: u32 = 0;

export function setThread(thread: u32, token: u32): void {
  THREAD = thread;
  TOKEN = token;
}

// @ts-ignore: decorator
@inline export function ld32(p: u32): u32 {
  return load<u32>(p);
}
// @ts-ignore: decorator
@inline export function st32(p: u32, v: u32): void {
  store<u32>(p, v);
}
// @ts-ignore: decorator
@inline export function ldi32(p: u32): i32 {
  return load<i32>(p);
}
// @ts-ignore: decorator
@inline export function ld8(p: u32): u32 {
  return load<u8>(p);
}
// @ts-ignore: decorator
@inline export function st64(p: u32, lo: u32, hi: u32): void {
  store<u32>(p, lo);
  store<u32>(p + 4, hi);
}
// @ts-ignore: decorator
@inline export function copy(dst: u32, src: u32, n: u32): void {
  memory.copy(dst, src, n);
}
// @ts-ignore: decorator
@inline export function fill(dst: u32, v: u32, n: u32): void {
  memory.fill(dst, <u8>v, n);
}
/** bytes in the memory; u64, since 65536 pages (4 GiB) does not fit a u32 */
// @ts-ignore: decorator
@inline export function memSize(): u64 {
  return <u64>memory.size() << 16;
}
/** +1 on a futex word; notify (count -1 = all) only when someone sleeps on it. */
// @ts-ignore: decorator
@inline export function wake(p: u32, sleepers: u32): void {
  atomic.add<u32>(p, 1);
  if (atomic.load<u32>(sleepers) != 0) atomic.notify(p, -1);
}
// @ts-ignore: decorator
@inline export function align8(n: u32): u32 {
  return (n + 7) & ~7;
}

/** A core bug or an injected fault: stop the command (the twin throws). */
// @ts-ignore: decorator
@inline export function trap(): void {
  unreachable();
}
