// BUS_MAKE: bloom parameters, limits, the bus id from the random import, the layout.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { abi as A, describeReason, MAKE_CMD_ADDR, busLayout, busPages, Bus, MockProvider, BusError, loadCore, TwinEngine, WasmEngine } from '../../js/index.ts';
import { put64big } from '../../js/wire.ts';
import { ENGINE, bareEngine, makeBus } from '../helpers/harness.ts';

const t = suite(`BUS_MAKE [${ENGINE}]`);

interface Make { at?: number; size?: bigint; flags?: bigint; bloomSize?: bigint; nHash?: bigint; threads?: number; conns?: number; poolMax?: number; names?: number; matches?: number; replies?: number }

const LIMITS = { threads: 2, conns: 4, poolMax: 65536, names: 4, matches: 4, replies: 4 };
const END = busLayout(2, 4, 65536, 4, 4, 4, 64);

async function make(m: Make, pages = busPages(END)) {
  const e = await bareEngine(pages);
  const c = m.at ?? MAKE_CMD_ADDR, u32 = e.u32;
  const w = (off: number, v: bigint) => put64big(u32, c + off, v);
  w(A.CMD_SIZE, m.size ?? BigInt(A.MAKE_CMD_SIZE));
  w(A.CMD_FLAGS, m.flags ?? 0n);
  w(A.MAKE_BLOOM_SIZE, m.bloomSize ?? 64n);
  w(A.MAKE_BLOOM_N_HASH, m.nHash ?? 8n);
  const l = { ...LIMITS, ...m };
  u32[(c + A.MAKE_N_THREADS) >>> 2] = l.threads;
  u32[(c + A.MAKE_N_CONNS) >>> 2] = l.conns;
  u32[(c + A.MAKE_POOL_MAX) >>> 2] = l.poolMax;
  u32[(c + A.MAKE_N_NAMES) >>> 2] = l.names;
  u32[(c + A.MAKE_N_MATCHES) >>> 2] = l.matches;
  u32[(c + A.MAKE_N_REPLIES) >>> 2] = l.replies;
  return { r: e.busMake(c), e };
}

t('a valid bus: magic, layout end, id128 from the random import', async () => {
  const { r, e } = await make({});
  assert.is(r, 0);
  assert.is(e.u32[A.BUS_BASE >>> 2], A.BUS_MAGIC);
  assert.is(e.u32[(MAKE_CMD_ADDR + A.MAKE_LAYOUT_END) >>> 2], END);
  const id = e.u8.slice(MAKE_CMD_ADDR + A.MAKE_ID128, MAKE_CMD_ADDR + A.MAKE_ID128 + 16);
  assert.equal(id, e.u8.slice(A.BUS_BASE + A.BUS_ID128, A.BUS_BASE + A.BUS_ID128 + 16));
  assert.ok(id.some((b) => b !== 0), 'id128 is not all zero');
  const { r: r2, e: e2 } = await make({});
  assert.is(r2, 0);
  assert.equal(e2.u8.slice(MAKE_CMD_ADDR + A.MAKE_ID128, MAKE_CMD_ADDR + A.MAKE_ID128 + 16), id, 'same seed, same id');
});

t('a command outside the memory: EFAULT on both engines, nothing written (the wasm core trapped, the twin read zeros, before stop 25)', async () => {
  const e = await bareEngine(busPages(END));
  const end = e.u8.length;
  const before = e.u8.slice(MAKE_CMD_ADDR - 64, MAKE_CMD_ADDR + 256);
  // its header past the end; its size field in and its struct past the end; far past; the top of the address space
  const at = [end, end + 8, end - 4, 0xfffffff8];
  for (const c of at) assert.is(e.busMake(c), -A.EFAULT, `cmd ${c}`);
  // a header in the memory whose `size` runs past the end
  put64big(e.u32, end - 48, BigInt(A.MAKE_CMD_SIZE_LIMITS));
  assert.is(e.busMake(end - 48), -A.EFAULT, 'size past the end');
  assert.equal(e.u8.slice(MAKE_CMD_ADDR - 64, MAKE_CMD_ADDR + 256), before, 'nothing written');
  assert.is(e.u32[A.BUS_BASE >>> 2], 0, 'no bus');
});

t('bloom size: 8..4096, a multiple of 8, else EINVAL', async () => {
  for (const s of [0n, 4n, 12n, 4097n, 4104n, 1n << 32n]) assert.is((await make({ bloomSize: s })).r, -A.EINVAL, `size ${s}`);
  for (const s of [8n, 4096n]) assert.is((await make({ bloomSize: s }, busPages(busLayout(2, 4, 65536, 4, 4, 4, Number(s))))).r, 0, `size ${s}`);
});

t('bloom n_hash 0 -> EINVAL', async () => {
  assert.is((await make({ nHash: 0n })).r, -A.EINVAL);
  assert.is((await make({ nHash: 1n })).r, 0);
});

t('unknown flags -> EINVAL; command size checks', async () => {
  assert.is((await make({ flags: 4n })).r, -A.EINVAL);
  assert.is((await make({ flags: 1n << 40n })).r, -A.EINVAL);
  assert.is((await make({ flags: 3n })).r, 0, 'ACCESS_GROUP | ACCESS_WORLD accepted');
  assert.is((await make({ size: 80n })).r, -A.EINVAL);
  assert.is((await make({ size: BigInt(A.CMD_MAX + 1) })).r, -A.EMSGSIZE);
});

t('limits out of range -> EINVAL', async () => {
  assert.is((await make({ threads: 0 })).r, -A.EINVAL);
  assert.is((await make({ threads: A.MAX_THREADS + 1 })).r, -A.EINVAL);
  assert.is((await make({ conns: 0 })).r, -A.EINVAL);
  assert.is((await make({ poolMax: 4095 })).r, -A.EINVAL);
  assert.is((await make({ poolMax: 6000 })).r, -A.EINVAL);
  assert.is((await make({ poolMax: 0 })).r, -A.EINVAL);
});

t('a memory smaller than the layout -> ENOMEM, and nothing is written', async () => {
  const { r, e } = await make({}, busPages(END) - 1);
  assert.is(r, -A.ENOMEM);
  assert.is(e.u32[A.BUS_BASE >>> 2], 0, 'no magic');
});

t('Bus.create: public errors', async () => {
  try {
    await Bus.create({ engine: ENGINE, provider: new MockProvider(), bloom: { size: 12 } });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, BusError);
    assert.is((err as BusError).code, 'EINVAL');
    assert.is((err as BusError).errno, A.EINVAL);
  }
  try {
    await Bus.create({ engine: ENGINE, provider: new MockProvider(), limits: { connections: 65535, poolMax: 1 << 28 } });
    assert.unreachable();
  } catch (err) {
    assert.is((err as BusError).code, 'ENOMEM');
  }
  try {
    // (the message multiplied 65535 and showed 70000 before stop 39: an outside audit)
    await Bus.create({ engine: ENGINE, provider: new MockProvider(), limits: { connections: 70000 } });
    assert.unreachable();
  } catch (err) {
    assert.is((err as BusError).code, 'ENOMEM');
    assert.match((err as BusError).message, /limits\.connections \(70000, counted as 65535, the most a bus can have\) × limits\.poolMax \(1048576 bytes\), are 68718428160 bytes/);
  }
  for (const userRegion of [2 ** 32, 2 ** 53]) {
    // (the pools were blamed, and lowering them advised, for a userRegion alone past 4 GiB before stop 48: an outside audit)
    try {
      await Bus.create({ engine: ENGINE, provider: new MockProvider(), userRegion });
      assert.unreachable();
    } catch (err) {
      assert.is((err as BusError).code, 'ENOMEM');
      assert.match((err as BusError).message, new RegExp(`userRegion \\(${userRegion} bytes\\) is larger than the pools, .* \\(lower userRegion\\)$`));
    }
  }
  const { bus } = await makeBus();
  assert.is(bus.engine.kind, ENGINE);
  assert.is(bus.id128.length, 16);
  assert.instance(bus.memory.buffer, SharedArrayBuffer);
  bus.close();
});

t('the core imports one shared memory (a non-shared one is refused) and allocates none of its own', async () => {
  const mod = await loadCore();
  const imports = WebAssembly.Module.imports(mod);
  assert.equal(imports.filter((i) => i.kind === 'memory').map((i) => `${i.module}.${i.name}`), ['env.memory']);
  assert.equal(imports.filter((i) => i.kind === 'function').map((i) => `${i.module}.${i.name}`).sort(),
    ['wasi_snapshot_preview1.args_get', 'wasi_snapshot_preview1.args_sizes_get', 'wasi_snapshot_preview1.clock_time_get',
      'wasi_snapshot_preview1.random_get', 'wasmbus.audit_get', 'wasmbus.caps_get', 'wasmbus.cgroup_get', 'wasmbus.cmdline_size_get', 'wasmbus.comm_get',
      'wasmbus.creds_get', 'wasmbus.exe_get', 'wasmbus.groups_get', 'wasmbus.meta_epoch_get', 'wasmbus.pids_get',
      'wasmbus.seclabel_get']);
  const fn = () => 0;
  const host: Record<string, Record<string, () => number>> = { wasi_snapshot_preview1: {}, wasmbus: {} };
  for (const i of imports) if (i.kind === 'function') host[i.module][i.name] = fn;
  const plain = new WebAssembly.Memory({ initial: 32, maximum: 32 });
  try {
    await WebAssembly.instantiate(mod, { env: { memory: plain }, ...host });
    assert.unreachable('a non-shared memory must not link');
  } catch (err) {
    assert.instance(err, WebAssembly.LinkError);
  }
  const shared = new WebAssembly.Memory({ initial: 32, maximum: 32, shared: true });
  const inst = await WebAssembly.instantiate(mod, { env: { memory: shared }, ...host });
  assert.ok(!('memory' in inst.exports) || inst.exports.memory === shared, 'no memory of its own');
});

t('engines refuse a memory that cannot hold a bus, and a module that is not a core, with EINVAL', async () => {
  // (the twin took any memory, the wasm core threw a raw LinkError: an outside audit, stop 38)
  const mod = await loadCore();
  const provider = new MockProvider();
  const plain = new WebAssembly.Memory({ initial: 32, maximum: 32 });
  const small = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const expect = async (what: string, f: () => unknown, re: RegExp) => {
    try { await f(); } catch (err) {
      assert.instance(err, BusError, what);
      assert.is((err as BusError).code, 'EINVAL', what);
      assert.match((err as BusError).message, re, what);
      return;
    }
    assert.unreachable(`${what}: accepted`);
  };
  await expect('twin, plain memory', () => new TwinEngine(plain, provider), /memory must be shared/);
  await expect('twin, not a memory', () => new TwinEngine({} as never, provider), /must be a WebAssembly\.Memory/);
  await expect('twin, small memory', () => new TwinEngine(small, provider), /BUS_BASE/);
  await expect('wasm, plain memory', () => WasmEngine.create(mod, plain, provider), /memory must be shared/);
  await expect('wasm, small memory', () => WasmEngine.create(mod, small, provider), /BUS_BASE/);
  const big = new WebAssembly.Memory({ initial: 32, maximum: 32, shared: true });
  await expect('wasm, not a module', () => WasmEngine.create({} as never, big, provider), /module must be a WebAssembly\.Module/);
  // a module importing a non-shared env.memory: linking the bus memory to it fails
  const other = new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 16, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 1, 1, 2]));
  await expect('wasm, another module', () => WasmEngine.create(other, big, provider), /does not link/);
});

t('engines refuse a provider that is not one, with EINVAL (they took anything, and the first command threw a TypeError, before stop 41)', async () => {
  const mod = await loadCore();
  const big = new WebAssembly.Memory({ initial: 32, maximum: 32, shared: true });
  for (const bad of [undefined, null, {}, 42, { clock() {}, random() {} }]) {
    for (const [what, f] of [['twin', () => new TwinEngine(big, bad as never)], ['wasm', () => WasmEngine.create(mod, big, bad as never)]] as const) {
      try {
        await f();
        assert.unreachable(`${what}, provider ${String(bad)}: accepted`);
      } catch (err) {
        assert.instance(err, BusError, `${what}, provider ${String(bad)}`);
        assert.is((err as BusError).code, 'EINVAL');
        assert.match((err as BusError).message, /provider must be a Provider \(an object with clock, random and creds methods\)/);
      }
    }
  }
});

t('Engine.copyIn: integers only (EINVAL); a range that leaves the memory, past 4 GiB or below 0 included, is false and copies nothing (it wrapped modulo 2^32 before stop 41)', async () => {
  const e = await bareEngine(busPages(END));
  const src = MAKE_CMD_ADDR + 200, dst = MAKE_CMD_ADDR + 400;
  e.u8.set([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4], src);
  const low = e.u8.slice(0, 65536 + 1024);
  for (const [d, sr, n] of [[2 ** 32, src, 8], [2 ** 32 + 70000, src, 8], [dst, 2 ** 32 + src, 8], [dst, src, 2 ** 32 + 4], [-(2 ** 32) + 80000, src, 8], [-8, src, 8], [dst, src, -1], [e.u8.length - 4, src, 8]]) {
    assert.is(e.copyIn(d!, sr!, n!), false, `copyIn(${d}, ${sr}, ${n})`);
  }
  for (const [d, sr, n] of [[NaN, src, 8], [100.7, src, 8], ['70000', src, 8], [dst, src, 0.5], [dst, undefined, 8]]) {
    try {
      e.copyIn(d as never, sr as never, n as never);
      assert.unreachable(`copyIn(${String(d)}, ${String(sr)}, ${String(n)}): accepted`);
    } catch (err) {
      assert.instance(err, BusError);
      assert.is((err as BusError).code, 'EINVAL');
      assert.match((err as BusError).message, /^engine: EINVAL: copyIn: dst, src and n must be integers, got /);
    }
  }
  assert.equal(e.u8.slice(0, 65536 + 1024), low, 'nothing written low in the memory');
  assert.equal([...e.u8.slice(dst, dst + 8)], [0, 0, 0, 0, 0, 0, 0, 0], 'nothing copied to dst');
  assert.is(e.copyIn(dst, src, 8), true, 'an in-memory copy still works');
  assert.equal([...e.u8.slice(dst, dst + 8)], [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
});

t('the command must lie in thread slot 0\'s command area: EFAULT elsewhere, nothing written (a command at 8 was accepted, its outputs written on the reserved page, before stop 41)', async () => {
  const AREA_END = MAKE_CMD_ADDR + A.CMD_MAX, SIZE = A.MAKE_CMD_SIZE_LIMITS;
  const REASON = MAKE_CMD_ADDR - (A.THREAD_CMD - A.THREAD_REASON);
  // the reserved page; the module's static data; the bus header; thread slot 0's own fields; the connection table; slot 0's metadata cache, right after the area; the pools (the user region of a bus this size)
  for (const at of [8, A.RESERVED_END + 4096, A.BUS_BASE, A.BUS_BASE + A.BUS_SIZE, busLayout(2, 4, 65536, 4, 4, 4, 64) - 1024, AREA_END, AREA_END + 4096]) {
    const { r, e } = await make({ at, size: BigInt(SIZE) });
    assert.is(r, -A.EFAULT, `cmd ${at}`);
    assert.is.not(e.u32[A.BUS_BASE >>> 2], A.BUS_MAGIC, `cmd ${at}: no bus`);
    assert.is(e.u32[(at + A.MAKE_LAYOUT_END) >>> 2], 0, `cmd ${at}: no layout end written`);
    if (at > REASON + 8 || at + SIZE <= REASON) assert.is(e.u32[REASON >>> 2], 0, `cmd ${at}: no reason words (nowhere safe to write them)`);
  }
  // its first 8 bytes in the area, its size past the area's end: EFAULT, the reason in slot 0's words
  const { r, e } = await make({ at: AREA_END - 88, size: BigInt(SIZE) });
  assert.is(r, -A.EFAULT);
  assert.is(e.u32[A.BUS_BASE >>> 2], 0, 'no bus');
  assert.equal([e.u32[REASON >>> 2], e.u32[(REASON + 4) >>> 2]], [A.R_MAKE_CMD_PLACE, MAKE_CMD_ADDR]);
  assert.match(describeReason(A.R_MAKE_CMD_PLACE, MAKE_CMD_ADDR)!.text, /command must lie in thread slot 0's command area \(MAKE_CMD_ADDR, 1085952/);
  // anywhere inside the area: a bus, and the reason words of a failure in slot 0's words
  const ok = await make({ at: AREA_END - SIZE, size: BigInt(SIZE) });
  assert.is(ok.r, 0, 'the last place in the area');
  assert.is(ok.e.u32[A.BUS_BASE >>> 2], A.BUS_MAGIC);
  assert.is(ok.e.u32[(AREA_END - SIZE + A.MAKE_LAYOUT_END) >>> 2], END);
  const bad = await make({ at: MAKE_CMD_ADDR + 1000, bloomSize: 12n });
  assert.is(bad.r, -A.EINVAL);
  assert.is(bad.e.u32[REASON >>> 2], A.R_MAKE_BLOOM_SIZE, 'a failure\'s reason in slot 0\'s words, wherever the command lies in the area');
});

t('a command that is not 8-aligned: EFAULT, nothing made (wasm made the bus, the twin read shifted words, before stop 66)', async () => {
  const REASON = MAKE_CMD_ADDR - (A.THREAD_CMD - A.THREAD_REASON);
  for (const k of [1, 2, 4, 12]) {
    const { r, e } = await make({ at: MAKE_CMD_ADDR + k });
    assert.is(r, -A.EFAULT, `cmd + ${k}`);
    assert.is(e.u32[A.BUS_BASE >>> 2], 0, `cmd + ${k}: no bus`);
    assert.is(e.u32[REASON >>> 2], 0, `cmd + ${k}: no reason words (as for a command elsewhere)`);
  }
  assert.is((await make({ at: MAKE_CMD_ADDR + 8 })).r, 0, '8-aligned further in: made');
});

t('a command whose size runs past the memory: EFAULT with its reason in slot 0\'s words (none were written before stop 66)', async () => {
  // a memory that ends inside slot 0's command area
  const REASON = MAKE_CMD_ADDR - (A.THREAD_CMD - A.THREAD_REASON);
  const pages = Math.ceil((MAKE_CMD_ADDR + 4096) / 65536);
  const e = await bareEngine(pages);
  const at = e.u8.length - 64;
  assert.ok(at >= MAKE_CMD_ADDR && at + 96 < MAKE_CMD_ADDR + A.CMD_MAX, 'the command starts in the area and the memory ends inside it');
  put64big(e.u32, at, 96n);
  assert.is(e.busMake(at), -A.EFAULT);
  assert.equal([e.u32[REASON >>> 2], e.u32[(REASON + 4) >>> 2]], [A.R_CMD_OUTSIDE_MEMORY, 0]);
  assert.is(e.u32[A.BUS_BASE >>> 2], 0, 'no bus');
});

t('BUS_MAKE by a thread joined to the bus: EBUSY, the bus intact (it overwrote the bus under its threads and threw in the middle, leaving no bus, before stop 66)', async () => {
  const { bus } = await makeBus();
  try {
    const e = bus.engine, a = bus.connect();
    const c = MAKE_CMD_ADDR;
    put64big(e.u32, c + A.CMD_SIZE, BigInt(A.MAKE_CMD_SIZE));
    put64big(e.u32, c + A.CMD_FLAGS, 0n);
    put64big(e.u32, c + A.MAKE_BLOOM_SIZE, 64n);
    put64big(e.u32, c + A.MAKE_BLOOM_N_HASH, 8n);
    assert.is(e.busMake(c), -A.EBUSY);
    const own = e.cmd - A.THREAD_CMD + A.THREAD_REASON; // (its reason words: in its own slot)
    assert.is(e.u32[own >>> 2], A.R_MAKE_JOINED);
    assert.equal(bus.check(), [], 'the bus as it was');
    a.sendText(a.id, 'still here');
    const m = a.recv()!;
    assert.is(m.text(), 'still here');
    m.free();
    assert.match(describeReason(A.R_MAKE_JOINED, 0)!.text, /joined to a bus \(thread_leave first\)/);
    a.close();
  } finally {
    bus.close();
  }
});

t.run();
