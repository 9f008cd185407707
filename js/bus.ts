// bus: create a bus (one shared memory, sized once from its limits) and connect to it.
import * as A from './shared/abi.ts';
import { BusError, check } from './errno.ts';
import { type Engine, type EngineKind, WasmEngine, TwinEngine, MAKE_CMD_ADDR, busLayout, busPages } from './engine.ts';
import { Connection } from './connection.ts';
import type { Provider } from './host/provider.ts';
import { loadCore } from './host/load.ts';
import { attachMask, type AttachSpec } from './attach.ts';
import { MAKE, HELLO, items, checkCmd, commandError } from './cmd/index.ts';

export interface BusLimits {
  /** thread slots (each thread that joins takes one), default 16 */
  threads: number;
  /** connection slots, default 64 */
  connections: number;
  /** the largest pool a connection may ask for (a multiple of 4096), default 1 MiB */
  poolMax: number;
  /** name registry entries (names issue), default 256 */
  names: number;
  /** match entries (matches issue), default 1024 */
  matches: number;
  /** pending reply records (replies issue), default 1024 */
  replies: number;
}

export interface BusOptions {
  /** 'wasm' (default) or 'twin' */
  engine?: EngineKind;
  limits?: Partial<BusLimits>;
  /** bloom filter parameters of the bus: size in bytes (8..4096, multiple of 8), hashes >= 1 */
  bloom?: { size?: number; hashes?: number };
  /** bytes of memory after the bus state for the caller's own use (PAYLOAD_VEC sources) */
  userRegion?: number;
  /** credentials, clock and random; default: the runtime's real provider */
  provider?: Provider;
  /** a compiled core to use instead of build/core.wasm (it must match `hooks`) */
  module?: WebAssembly.Module;
  /**
   * Tests only: run the build with the test hooks compiled in (build/core.hooks.wasm, or the
   * twin's core-hooks), so that `engine.setFault` works. Threads that join inherit it.
   */
  hooks?: boolean;
}

export interface ConnectOptions {
  /** pool size in bytes, a multiple of 4096, at most the bus's poolMax; default poolMax */
  poolSize?: number;
  /** CONN_DESCRIPTION: [A-Za-z0-9_.-]{1,63}, not starting or ending with '.' or '-' */
  description?: string;
  /** metadata this connection lets receivers see (default 'all') */
  attachSend?: AttachSpec;
  /** metadata this connection wants on received messages (default none) */
  attachRecv?: AttachSpec;
  /** kdbus HELLO flags (ACCEPT_FD 1 is accepted and ignored; other kinds: later issues) */
  flags?: number;
}

/**
 * What another thread needs to join this bus: post it to a worker (it is structured-cloneable)
 * and call Bus.join(handle) there. Each handle carries a fresh token for the thread table;
 * use one handle per worker (bus.recoverThread(handle.token) finds that worker's slot).
 */
export interface BusHandle {
  /** the compiled core (also for a twin bus when it could be loaded, so a worker may choose wasm) */
  module: WebAssembly.Module | null;
  memory: WebAssembly.Memory;
  /** the engine of the thread that made the handle (the joining thread's default) */
  engine: EngineKind;
  limits: BusLimits;
  bloom: { size: number; hashes: number };
  userRegion: number;
  /** a fresh u32 (never 0 or 1), recorded in the thread slot the joiner takes */
  token: number;
  /** the bus runs the hooks build (BusOptions.hooks); joiners use it too */
  hooks?: boolean;
}

export interface JoinOptions {
  /** the joining thread's engine (default: handle.engine); threads of one bus may differ */
  engine?: EngineKind;
  /** credentials, clock and random of the joining thread; default: the runtime's provider */
  provider?: Provider;
}

/** What bus.watch() resolves to when the worker has exited. */
export interface WatchResult {
  /** the worker's exit code */
  code: number;
  /** the thread slot recovered (-1: the worker had left the bus, nothing to recover) */
  slot: number;
  /** set when recovery failed */
  error?: unknown;
}

/** A Node (or Deno node:worker_threads) Worker, as far as watch() needs one. */
export interface ExitEmitter {
  once(event: 'exit', listener: (code: number) => void): unknown;
}

/** The thread-slot token of the thread that creates a bus. */
const CREATOR_TOKEN = 1;

export const DEFAULT_LIMITS: BusLimits = {
  threads: 16, connections: 64, poolMax: 1 << 20, names: 256, matches: 1024, replies: 1024,
};

const encoder = new TextEncoder();

/** The runtime's real provider: Node or Deno; browsers must pass one (e.g. MockProvider). */
export async function defaultProvider(op = 'Bus.create'): Promise<Provider> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno) return new (await import('./host/deno.ts')).DenoProvider();
  if (g.process?.versions?.node) return new (await import('./host/node.ts')).NodeProvider();
  throw new BusError(A.EOPNOTSUPP, op, 'no default provider in this runtime: pass options.provider');
}

export class Bus {
  readonly engine: Engine;
  readonly memory: WebAssembly.Memory;
  readonly limits: BusLimits;
  readonly bloom: { size: number; hashes: number };
  /** the bus's random 128-bit id */
  readonly id128: Uint8Array;
  /** start of the user region (see BusOptions.userRegion) */
  readonly userRegion: number;
  /** the compiled core handed to joining threads (null: a twin bus whose core could not be loaded) */
  readonly module: WebAssembly.Module | null;
  private readonly conns = new Set<Connection>();

  private constructor(engine: Engine, module: WebAssembly.Module | null, limits: BusLimits, bloom: { size: number; hashes: number }, id128: Uint8Array, userRegion: number) {
    this.engine = engine;
    this.module = module;
    this.memory = engine.memory;
    this.limits = limits;
    this.bloom = bloom;
    this.id128 = id128;
    this.userRegion = userRegion;
  }

  static async create(opts: BusOptions = {}): Promise<Bus> {
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    const bloom = { size: opts.bloom?.size ?? 64, hashes: opts.bloom?.hashes ?? 8 };
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new BusError(A.EINVAL, 'Bus.create', `limits.${k} must be a u32`);
    }
    if (!Number.isInteger(bloom.size) || bloom.size < 0 || bloom.size > 0xffffffff || !Number.isInteger(bloom.hashes) || bloom.hashes < 0 || bloom.hashes > 0xffffffff) {
      throw new BusError(A.EINVAL, 'Bus.create', 'bloom size and hashes must be u32');
    }
    const userBytes = opts.userRegion ?? 0;
    if (!Number.isInteger(userBytes) || userBytes < 0) throw new BusError(A.EINVAL, 'Bus.create', 'userRegion must be a byte count');
    // size the memory once; BUS_MAKE validates the limits themselves
    const end = busLayout(Math.min(limits.threads, A.MAX_THREADS), Math.min(limits.connections, A.MAX_CONNS),
      Math.min(limits.poolMax, A.MAX_POOL), Math.min(limits.names, A.MAX_CONNS * 4), Math.min(limits.matches, A.MAX_CONNS * 4),
      Math.min(limits.replies, A.MAX_CONNS * 4), Math.min(bloom.size, A.BLOOM_SIZE_MAX));
    const pages = end === 0 ? 0 : busPages(end, userBytes);
    if (pages === 0 || pages > A.MAX_MEMORY_PAGES) throw new BusError(A.ENOMEM, 'Bus.create', 'the bus does not fit in 4 GiB of memory');
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const provider = opts.provider ?? await defaultProvider();
    const kind = opts.engine ?? 'wasm';
    if (kind !== 'wasm' && kind !== 'twin') throw new BusError(A.EINVAL, 'Bus.create', `engine must be 'wasm' or 'twin', not ${String(kind)}`);
    // a twin bus still carries the core in its handles when it can be had, so workers may use it
    const hooks = opts.hooks === true;
    const module = opts.module ?? (kind === 'wasm' ? await loadCore(hooks) : await loadCore(hooks).catch(() => null));
    const engine: Engine = kind === 'wasm'
      ? await WasmEngine.create(module!, memory, provider, hooks)
      : new TwinEngine(memory, provider, hooks);

    const { u8, u32 } = engine, c = MAKE_CMD_ADDR;
    MAKE.encode(u8, u32, c, 0, bloom.size, bloom.hashes, limits.threads, limits.connections, limits.poolMax,
      limits.names, limits.matches, limits.replies);
    checkCmd(u32, c, engine.busMake(c), 'Bus.create', MAKE.NAME);
    const id128 = MAKE.id128(u8, c);
    const layoutEnd = MAKE.layoutEnd(u32, c);
    check(engine.threadJoin(CREATOR_TOKEN), 'Bus.create');
    return new Bus(engine, module, limits, bloom, id128, layoutEnd);
  }

  /**
   * Join a bus made by another thread, from its handle (see bus.handle()): instantiate the core
   * on the bus's memory (or use the twin on it) and take a thread slot. Never runs BUS_MAKE.
   */
  static async join(handle: BusHandle, opts: JoinOptions = {}): Promise<Bus> {
    const h = handle;
    const buf: unknown = h?.memory instanceof WebAssembly.Memory ? h.memory.buffer : null;
    if (!(buf instanceof SharedArrayBuffer)) {
      throw new BusError(A.EINVAL, 'Bus.join', 'not a bus handle (its memory must be a shared WebAssembly.Memory)');
    }
    const kind = opts.engine ?? h.engine;
    if (kind !== 'wasm' && kind !== 'twin') throw new BusError(A.EINVAL, 'Bus.join', `unknown engine ${String(kind)}`);
    if (!Number.isInteger(h.token) || h.token <= CREATOR_TOKEN || h.token > 0xffffffff) throw new BusError(A.EINVAL, 'Bus.join', 'invalid token');
    const u32 = new Uint32Array(buf);
    if (buf.byteLength < A.BUS_BASE + A.BUS_SIZE || Atomics.load(u32, (A.BUS_BASE + A.BUS_MAGIC_OFF) >>> 2) !== A.BUS_MAGIC) {
      throw new BusError(A.EBADF, 'Bus.join', 'no bus in that memory');
    }
    const provider = opts.provider ?? await defaultProvider('Bus.join');
    const hooks = h.hooks === true;
    let module = h.module;
    if (kind === 'wasm' && !module) module = await loadCore(hooks);
    const engine: Engine = kind === 'wasm'
      ? await WasmEngine.create(module!, h.memory, provider, hooks)
      : new TwinEngine(h.memory, provider, hooks);
    check(engine.threadJoin(h.token), 'Bus.join');
    const id128 = engine.u8.slice(A.BUS_BASE + A.BUS_ID128, A.BUS_BASE + A.BUS_ID128 + 16);
    return new Bus(engine, module, { ...h.limits }, { ...h.bloom }, id128, h.userRegion);
  }

  /**
   * A handle for one other thread to join this bus with (Bus.join). Post it to the worker;
   * each call makes a fresh token, so use one handle per worker.
   */
  handle(): BusHandle {
    return {
      module: this.module,
      memory: this.memory,
      engine: this.engine.kind,
      limits: { ...this.limits },
      bloom: { ...this.bloom },
      userRegion: this.userRegion,
      token: this.freshToken(),
      hooks: this.engine.hooks,
    };
  }

  /**
   * A token no other thread of this bus has had: the bus header's token counter, taken with an
   * atomic add by whichever thread makes the handle (unique until 2^32 handles; past the wrap,
   * tokens still held by a slot are skipped). Never 0 or 1 (the creator's).
   */
  private freshToken(): number {
    const i = (A.BUS_BASE + A.BUS_NEXT_TOKEN) >>> 2;
    for (;;) {
      const t = (Atomics.add(this.engine.u32, i, 1) + CREATOR_TOKEN + 1) >>> 0;
      if (t > CREATOR_TOKEN && this.threadSlotOf(t) < 0) return t;
    }
  }

  /** The live thread slot whose token is `token`, or -1. */
  private threadSlotOf(token: number): number {
    const u32 = this.engine.u32;
    const base = u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2], n = u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2];
    for (let i = 0; i < n; i++) {
      const t = base + i * A.THREAD_SIZE;
      const st = Atomics.load(u32, (t + A.THREAD_STATE) >>> 2);
      // DEAD: a recovery that was interrupted (its recoverer died too) is finished here
      if ((st === A.THREAD_LIVE || st === A.THREAD_DEAD) && u32[(t + A.THREAD_TOKEN) >>> 2] === token >>> 0) return i;
    }
    return -1;
  }

  /**
   * A thread that joined with `token` died without leaving (a terminated or crashed worker):
   * finish or undo the command it was in, release its locks, disconnect the connections it
   * owned and free its thread slot. Returns the slot recovered, or -1 when no live thread has
   * that token (it left the bus cleanly). A thread that is still running (a Deno worker after
   * terminate() runs on until its next turn) is given RECOVER_BUSY_MS (100 ms) to leave the
   * locks it holds, and stops at the next one it takes; `stopped: true` says the runtime
   * guarantees the thread has stopped (a Node Worker's 'exit' event), and skips that wait.
   */
  recoverThread(token: number, opts: { stopped?: boolean } = {}): number {
    const e = this.engine;
    if (e.cmd === 0) throw new BusError(A.EBADF, 'recoverThread', 'the bus is closed on this thread');
    if (!Number.isInteger(token) || token < 0 || token > 0xffffffff) throw new BusError(A.EINVAL, 'recoverThread', 'token must be a u32');
    const slot = this.threadSlotOf(token);
    if (slot < 0) return -1;
    if (slot === e.threadSlot) throw new BusError(A.EINVAL, 'recoverThread', 'that is the calling thread');
    const r = e.recover(slot, opts.stopped ?? false);
    if (r === -A.ESRCH) return -1; // recovered or left meanwhile
    check(r, 'recoverThread');
    return slot;
  }

  /**
   * Recover a Node worker_threads Worker's thread slot when it exits (a worker that left the
   * bus has nothing to recover). Resolves once the worker has exited and been recovered; never
   * rejects (a failure is in the result's `error`).
   */
  watch(worker: ExitEmitter, handle: BusHandle | number): Promise<WatchResult> {
    const token = typeof handle === 'number' ? handle : handle.token;
    return new Promise((resolve) => {
      worker.once('exit', (code: number) => {
        try {
          // Node's 'exit' comes after the thread stopped; Deno's emulation fires it before
          const stopped = !(globalThis as { Deno?: unknown }).Deno;
          resolve({ code, slot: this.recoverThread(token, { stopped }) });
        } catch (error) {
          resolve({ code, slot: -1, error });
        }
      });
    });
  }

  /** HELLO: a new connection on this thread. */
  connect(opts: ConnectOptions = {}): Connection {
    const e = this.engine;
    if (e.cmd === 0) throw new BusError(A.EBADF, 'connect', 'the bus is closed on this thread');
    const poolSize = opts.poolSize ?? this.limits.poolMax;
    if (!Number.isInteger(poolSize) || poolSize < 0 || poolSize > 0xffffffff) throw new BusError(A.EINVAL, 'connect', 'poolSize must be a u32');
    const send = attachMask(opts.attachSend, A.ATTACH_ALL), recv = attachMask(opts.attachRecv, 0);
    if (send < 0 || recv < 0) throw new BusError(A.EINVAL, 'connect', 'unknown attach flags');
    const flags = opts.flags ?? 0;
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw new BusError(A.EINVAL, 'connect', 'invalid flags');
    const { u8, u32 } = e, cmd = e.cmd;
    let end = cmd + HELLO.ITEMS;
    if (opts.description !== undefined) {
      const d = encoder.encode(String(opts.description));
      if (d.length > 4096) throw new BusError(A.ENAMETOOLONG, 'connect');
      end = items.putStringItem(u8, u32, end, A.ITEM_CONN_DESCRIPTION, d);
    }
    HELLO.encode(u8, u32, cmd, end - cmd, flags, send, recv, poolSize);
    const r = e.hello();
    // the values the core judged, quoted in its failure message
    if (r < 0) throw commandError(u32, cmd, r, 'connect', HELLO.NAME, { desc: opts.description === undefined ? undefined : String(opts.description), poolSize });
    const slot = r;
    const id = HELLO.id(u32, cmd);
    const helloOffset = HELLO.offset(u32, cmd);
    const conn = new Connection(e, slot, id, poolSize, opts.description);
    conn.freeOffset(helloOffset); // the BLOOM_PARAMETER slice: the bus already knows them
    this.conns.add(conn);
    return conn;
  }

  /** Connections of this Bus object that are still open. */
  get connections(): Connection[] {
    return [...this.conns].filter((c) => !c.closed);
  }

  /** Leave the bus on this thread (open connections of this thread must be closed first). */
  close(): void {
    if (this.engine.cmd === 0) return;
    const open = this.connections;
    if (open.length) throw new BusError(A.EBUSY, 'Bus.close', `${open.length} connection(s) still open`);
    const r = this.engine.threadLeave();
    if (r === -A.ESRCH) throw new BusError(A.ECONNRESET, 'Bus.close', 'this thread was recovered by another one (declared dead) and has left the bus');
    check(r, 'Bus.close');
  }
}
