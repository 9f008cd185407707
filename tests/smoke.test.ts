// TEMPORARY smoke test of the build skeleton: build/core.wasm instantiates on a shared
// memory with the arena runtime, and the placeholder `add` export runs. Delete with the
// placeholder assembly/index.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';

const bytes = new Uint8Array(readFileSync(new URL('../build/core.wasm', import.meta.url)));

interface SmokeExports {
  __arena_init(base: number, size: number): void;
  __arena_heap_base(): number;
  __alloc(size: number): number;
  _initialize(): void;
  add(a: number, b: number): number;
}

test('core.wasm instantiates on a shared memory and runs add', async () => {
  const module = await WebAssembly.compile(bytes);
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  assert.ok(memory.buffer instanceof SharedArrayBuffer);

  // Provide every import the module declares: the memory, and a throwing stub for any function.
  const imports: WebAssembly.Imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const ns = (imports[imp.module] ??= {});
    if (imp.kind === 'memory') ns[imp.name] = memory;
    else if (imp.kind === 'function') ns[imp.name] = () => { throw new Error(`unexpected import call ${imp.module}.${imp.name}`); };
    else assert.unreachable(`unexpected ${imp.kind} import ${imp.module}.${imp.name}`);
  }

  const instance = await WebAssembly.instantiate(module, imports);
  const e = instance.exports as unknown as SmokeExports;
  assert.ok(e.__arena_heap_base() <= 16 * 65536, 'static data fits below the arena');
  e.__arena_init(16 * 65536, 65536);
  e._initialize();

  const p = e.__alloc(8);
  assert.ok(p >= 16 * 65536 && p < 17 * 65536 && p % 16 === 0, `arena allocation at ${p}`);
  assert.is(e.add(5, 1), 1); // atomic.add returns the old value (0) at address 1024
  assert.is(e.add(2, 0), 5);
  assert.is(new Int32Array(memory.buffer)[1024 >> 2], 7);
});

test('a second instance on the same memory has its own arena', async () => {
  const module = await WebAssembly.compile(bytes);
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  const a = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as SmokeExports;
  const b = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as SmokeExports;
  assert.throws(() => a.__alloc(8), /unreachable/); // no arena yet
  a.__arena_init(15 * 65536, 32768);
  b.__arena_init(15 * 65536 + 32768, 32768);
  a._initialize();
  b._initialize();
  const pa = a.__alloc(8), pb = b.__alloc(8);
  assert.ok(pa < 15 * 65536 + 32768 && pb >= 15 * 65536 + 32768, `${pa} / ${pb}`);
  assert.throws(() => a.__alloc(40000), /unreachable/); // exhausted
});

test.run();
