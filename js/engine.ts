// engine: the ABI as TypeScript methods returning numbers, implemented by the wasm core
// and by the TS twin over the same memory layout. Commands are written by the caller into
// `cmd` (this thread's command area) before the call; results come back there too.
import * as A from './shared/abi.ts';
import * as twin from './twin/index.ts';
import type { Provider } from './host/provider.ts';
import { coreImports } from './host/imports.ts';

export type EngineKind = 'wasm' | 'twin';

export interface Engine {
  readonly kind: EngineKind;
  readonly memory: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** this thread's slot index (-1 before threadJoin) */
  readonly threadSlot: number;
  /** absolute address of this thread's command area (0 before threadJoin) */
  readonly cmd: number;

  busMake(cmd: number): number;
  threadJoin(token: number): number;
  threadLeave(): number;
  hello(): number;
  byebye(slot: number, gen: number): number;
  send(slot: number, gen: number): number;
  sendCommit(): number;
  sendCancel(): number;
  recv(slot: number, gen: number): number;
  free(slot: number, gen: number): number;

  // counters, read from the shared layout (the same for both engines)
  connAddr(slot: number): number;
  connGen(slot: number): number;
  poolBase(slot: number): number;
  poolUsed(slot: number): number;
  queued(slot: number): number;
  liveConns(): number;
}

/** The command area of thread slot 0, known before the bus exists (BUS_MAKE goes there). */
export const MAKE_CMD_ADDR = A.BUS_BASE + A.BUS_SIZE + A.THREAD_CMD;

/** Memory pages for a bus with these limits (the layout end, rounded up, plus `spare`). */
export function busPages(layoutEnd: number, spareBytes = 0): number {
  return Math.ceil((layoutEnd + spareBytes) / A.WASM_PAGE);
}

export { busLayout } from './twin/bus.ts';

abstract class EngineBase {
  readonly memory: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  threadSlot = -1;
  cmd = 0;

  constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
    this.u8 = new Uint8Array(memory.buffer);
    this.u32 = new Uint32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
  }

  protected joined(slot: number): number {
    if (slot >= 0) {
      this.threadSlot = slot;
      this.cmd = this.u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2] + slot * A.THREAD_SIZE + A.THREAD_CMD;
    }
    return slot;
  }

  protected left(r: number): number {
    if (r === 0) { this.threadSlot = -1; this.cmd = 0; }
    return r;
  }

  connAddr(slot: number): number {
    return this.u32[(A.BUS_BASE + A.BUS_CONNS) >>> 2] + slot * A.CONN_SIZE;
  }
  connGen(slot: number): number {
    return this.u32[(this.connAddr(slot) + A.CONN_GEN) >>> 2];
  }
  poolBase(slot: number): number {
    return this.u32[(this.connAddr(slot) + A.CONN_POOL) >>> 2];
  }
  poolUsed(slot: number): number {
    return this.u32[(this.connAddr(slot) + A.CONN_USED) >>> 2];
  }
  queued(slot: number): number {
    return this.u32[(this.connAddr(slot) + A.CONN_N_QUEUED) >>> 2];
  }
  liveConns(): number {
    return this.u32[(A.BUS_BASE + A.BUS_CONNS_LIVE) >>> 2];
  }
}

interface CoreExports {
  bus_make(cmd: number): number;
  thread_join(token: number): number;
  thread_leave(): number;
  hello(): number;
  byebye(slot: number, gen: number): number;
  send(slot: number, gen: number): number;
  send_commit(): number;
  send_cancel(): number;
  recv(slot: number, gen: number): number;
  free(slot: number, gen: number): number;
  __arena_heap_base(): number;
  _initialize(): void;
}

/** The wasm core: one instance per thread, on the bus's shared memory. */
export class WasmEngine extends EngineBase implements Engine {
  readonly kind = 'wasm' as const;
  private readonly x: CoreExports;

  private constructor(memory: WebAssembly.Memory, instance: WebAssembly.Instance) {
    super(memory);
    this.x = instance.exports as unknown as CoreExports;
    const heapBase = this.x.__arena_heap_base() >>> 0;
    if (heapBase > A.BUS_BASE) throw new Error(`wasmbus: core static data ends at ${heapBase}, above BUS_BASE ${A.BUS_BASE}`);
    this.x._initialize();
  }

  /** Instantiate the core on `memory` for this thread (asynchronously: browsers refuse large sync instantiation). */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, provider: Provider): Promise<WasmEngine> {
    const imports = { env: { memory }, ...coreImports(provider, memory) };
    const instance = await WebAssembly.instantiate(module, imports as unknown as WebAssembly.Imports);
    return new WasmEngine(memory, instance);
  }

  busMake(cmd: number): number { return this.x.bus_make(cmd); }
  threadJoin(token: number): number { return this.joined(this.x.thread_join(token)); }
  threadLeave(): number { return this.left(this.x.thread_leave()); }
  hello(): number { return this.x.hello(); }
  byebye(slot: number, gen: number): number { return this.x.byebye(slot, gen); }
  send(slot: number, gen: number): number { return this.x.send(slot, gen); }
  sendCommit(): number { return this.x.send_commit(); }
  sendCancel(): number { return this.x.send_cancel(); }
  recv(slot: number, gen: number): number { return this.x.recv(slot, gen); }
  free(slot: number, gen: number): number { return this.x.free(slot, gen); }
}

/** The TS twin: the same core in TypeScript, bound to this engine's memory per command. */
export class TwinEngine extends EngineBase implements Engine {
  readonly kind = 'twin' as const;
  private readonly host: twin.HostImports;
  private threadAddr = 0;

  constructor(memory: WebAssembly.Memory, provider: Provider) {
    super(memory);
    const imp = coreImports(provider, memory);
    this.host = { ...imp.wasi_snapshot_preview1, ...imp.wasmbus };
  }

  private bind(): void {
    twin.bind(this.u8, this.u32, this.i32, this.threadAddr, this.host);
  }

  busMake(cmd: number): number { this.bind(); return twin.busMake(cmd); }
  threadJoin(token: number): number {
    this.bind();
    const slot = this.joined(twin.threadJoin(token));
    if (slot >= 0) this.threadAddr = this.cmd - A.THREAD_CMD;
    return slot;
  }
  threadLeave(): number {
    this.bind();
    const r = this.left(twin.threadLeave());
    if (r === 0) this.threadAddr = 0;
    return r;
  }
  hello(): number { this.bind(); return twin.hello(); }
  byebye(slot: number, gen: number): number { this.bind(); return twin.byebye(slot, gen); }
  send(slot: number, gen: number): number { this.bind(); return twin.send(slot, gen); }
  sendCommit(): number { this.bind(); return twin.sendCommit(); }
  sendCancel(): number { this.bind(); return twin.sendCancel(); }
  recv(slot: number, gen: number): number { this.bind(); return twin.recv(slot, gen); }
  free(slot: number, gen: number): number { this.bind(); return twin.free(slot, gen); }
}
