// wasm-types: the WebAssembly types the public declarations use, for consumers of the package.
//
// TypeScript declares `WebAssembly` only in the DOM and webworker libs, and Deno declares its
// own; a Node project with `"lib": ["es2023"]` has none, and a global declaration shipped here
// would clash with the DOM lib's or Deno's (they differ, e.g. in Memory.buffer). So the
// published declarations say `WasmMemory` / `WasmModule` instead of `WebAssembly.Memory` /
// `WebAssembly.Module` (scripts/build-dist.mjs rewrites them): the runtime's own type when
// the consumer has one, else the structural fallback below. The sources keep using the
// `WebAssembly` namespace (types/webassembly.d.ts in this repository).
type Runtime = typeof globalThis;

/** What the package relies on of a WebAssembly.Memory when the consumer has no WebAssembly types. */
export interface WasmMemoryFallback {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(delta: number): number;
}

/** A compiled module, opaque to the package's users when they have no WebAssembly types. */
export interface WasmModuleFallback {
  readonly [Symbol.toStringTag]?: string | undefined;
}

export type WasmMemory = Runtime extends { WebAssembly: { Memory: { prototype: infer M } } } ? M : WasmMemoryFallback;
export type WasmModule = Runtime extends { WebAssembly: { Module: { prototype: infer M } } } ? M : WasmModuleFallback;
