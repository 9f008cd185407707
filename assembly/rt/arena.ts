// wasmbus arena runtime: a per-instance bump allocator over a host-given region.
//
// Modelled on ~lib/rt/stub, but safe with several instances on one shared memory:
// all allocator state lives in module-level `let`s, which compile to wasm globals and
// are therefore private to each instance (i.e. to each thread). Nothing is kept in
// linear memory except the block headers inside the arena itself.
//
// `thread_join` calls `__arena_init(base, size)` with the arena inside the thread slot it
// takes. The core's top-level code allocates nothing, so `_initialize()` may run before that;
// allocating before it, or past the end of the arena, traps with `unreachable`. The arena
// never grows memory.
//
//   [base ........................................ base+size)
//    ^start (aligned so that payloads are 16-byte aligned)
//    | block: mmInfo (usize) | payload ... | block | payload ... | -> offset    end
//
// `__reset()` rewinds to the reset point (initially the arena start); `__arena_mark()`
// moves the reset point to the current offset, so that objects allocated so far (for
// example @lazy globals touched during `_initialize`) survive later resets.
//
// asconfig sets "stackSize": -1 on purpose. asc treats any custom runtime like the incremental
// GC runtime and would add a 32 KiB shadow stack (GC roots spilled to linear memory on every
// managed local) after the static data. With one shared memory, every instance would write into
// that same region: pointless (there is no GC to read it) and a false-sharing hot spot between
// threads. asc only enables the shadow stack for stackSize > 0, and 0 means "default", hence -1.

import { AL_MASK, OBJECT, OBJECT_OVERHEAD, BLOCK_MAXSIZE, BLOCK_OVERHEAD, BLOCK, OBJECT_MAXSIZE } from "~lib/rt/common";

/** Reset point: where `__reset()` rewinds to. 0 = not initialised. */
let startOffset: usize = 0;
/** Bump pointer: the header position of the next block. */
let offset: usize = 0;
/** One past the last usable byte of the arena. 0 = not initialised. */
let arenaEnd: usize = 0;

// @ts-ignore: decorator
@inline function computeSize(size: usize): usize {
  return ((size + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
}

/** Bumps `offset` so that a block of `payloadSize` bytes fits at `ptr`, or traps. */
// @ts-ignore: decorator
@inline function bumpTo(ptr: usize, payloadSize: usize): void {
  if (ptr > arenaEnd || payloadSize > arenaEnd - ptr) unreachable(); // arena exhausted
  offset = ptr + payloadSize;
}

/** Gives this instance its arena `[base, base + size)` (thread_join does, for its slot). */
// @ts-ignore: decorator
@global @unsafe
export function __arena_init(base: usize, size: usize): void {
  if (base == 0) unreachable();
  // a region reaching the very top of a 4 GiB memory would wrap: clamp its end
  let end = size > <usize>-1 - base ? <usize>-1 : base + size;
  let start = ((base + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
  if (start < base || start >= end) unreachable(); // too small to hold anything
  startOffset = start;
  offset = start;
  arenaEnd = end;
}

/** Makes the current offset the point `__reset()` rewinds to. */
// @ts-ignore: decorator
@global @unsafe
export function __arena_mark(): void {
  if (arenaEnd == 0) unreachable();
  startOffset = offset;
}

/** Bytes still free in this instance's arena (0 if uninitialised). */
// @ts-ignore: decorator
@global @unsafe
export function __arena_available(): usize {
  return arenaEnd - offset;
}

// @ts-ignore: decorator
@global @unsafe
export function __alloc(size: usize): usize {
  if (arenaEnd == 0) unreachable(); // __arena_init not called
  if (size > BLOCK_MAXSIZE) unreachable(); // no Error: throwing would allocate
  let block = changetype<BLOCK>(offset);
  let ptr = offset + BLOCK_OVERHEAD;
  let payloadSize = computeSize(size);
  bumpTo(ptr, payloadSize);
  block.mmInfo = payloadSize;
  return ptr;
}

// @ts-ignore: decorator
@global @unsafe
export function __realloc(ptr: usize, size: usize): usize {
  if (ptr == 0 || (ptr & AL_MASK) != 0) unreachable(); // must exist and be aligned
  let block = changetype<BLOCK>(ptr - BLOCK_OVERHEAD);
  let actualSize = block.mmInfo;
  let isLast = ptr + actualSize == offset;
  if (size > BLOCK_MAXSIZE) unreachable();
  let payloadSize = computeSize(size);
  if (size > actualSize) {
    if (isLast) { // last block: grow in place
      bumpTo(ptr, payloadSize);
      block.mmInfo = payloadSize;
    } else { // copy to a new block at least double the size
      let newPtr = __alloc(max<usize>(payloadSize, actualSize << 1));
      memory.copy(newPtr, ptr, actualSize);
      ptr = newPtr;
    }
  } else if (isLast) { // last block: shrink
    offset = ptr + payloadSize;
    block.mmInfo = payloadSize;
  }
  return ptr;
}

// @ts-ignore: decorator
@global @unsafe
export function __free(ptr: usize): void {
  if (ptr == 0 || (ptr & AL_MASK) != 0) unreachable(); // must exist and be aligned
  let block = changetype<BLOCK>(ptr - BLOCK_OVERHEAD);
  if (ptr + block.mmInfo == offset) { // last block: discard
    offset = changetype<usize>(block);
  }
}

// @ts-ignore: decorator
@global @unsafe
export function __reset(): void {
  if (arenaEnd == 0) unreachable();
  offset = startOffset;
}

// @ts-ignore: decorator
@global @unsafe
export function __new(size: usize, id: u32): usize {
  if (size > OBJECT_MAXSIZE) unreachable();
  let ptr = __alloc(OBJECT_OVERHEAD + size);
  let object = changetype<OBJECT>(ptr - BLOCK_OVERHEAD);
  object.gcInfo = 0;
  object.gcInfo2 = 0;
  object.rtId = id;
  object.rtSize = <u32>size;
  return ptr + OBJECT_OVERHEAD;
}

// @ts-ignore: decorator
@global @unsafe
export function __renew(oldPtr: usize, size: usize): usize {
  if (size > OBJECT_MAXSIZE) unreachable();
  let newPtr = __realloc(oldPtr - OBJECT_OVERHEAD, OBJECT_OVERHEAD + size);
  changetype<OBJECT>(newPtr - BLOCK_OVERHEAD).rtSize = <u32>size;
  return newPtr + OBJECT_OVERHEAD;
}

// @ts-ignore: decorator
@global @unsafe
export function __link(parentPtr: usize, childPtr: usize, expectMultiple: bool): void {
  // nop: no GC
}

// @ts-ignore: decorator
@global @unsafe
export function __pin(ptr: usize): usize {
  return ptr;
}

// @ts-ignore: decorator
@global @unsafe
export function __unpin(ptr: usize): void {
  // nop
}

// @ts-ignore: decorator
@global @unsafe
function __visit(ptr: usize, cookie: u32): void { // eslint-disable-line @typescript-eslint/no-unused-vars
  // nop
}

// @ts-ignore: decorator
@global @unsafe
export function __collect(): void {
  // nop
}

/**
 * Non-allocating `abort` (wired up with `use: abort=assembly/rt/arena/abortTrap`):
 * traps without touching memory, so there is no `env.abort` import and nothing is
 * written at address 0 or into the arena.
 */
function abortTrap(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  unreachable();
}

/** End of the module's static data (`__heap_base`), for the host's layout check. */
// @ts-ignore: decorator
@global @unsafe
export function __arena_heap_base(): usize {
  return __heap_base;
}
