// bus: create a bus (one shared memory, sized once from its limits) and connect to it.
import * as A from './shared/abi.ts';
import { BusError, check } from './errno.ts';
import { type Engine, type EngineKind, WasmEngine, TwinEngine, MAKE_CMD_ADDR, busLayout, busPages } from './engine.ts';
import { Connection } from './connection.ts';
import type { Provider } from './host/provider.ts';
import { loadCore } from './host/load.ts';
import { attachMask, type AttachSpec } from './attach.ts';
import { put64, get64 } from './wire.ts';

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
  /** a compiled core to use instead of build/core.wasm */
  module?: WebAssembly.Module;
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

export const DEFAULT_LIMITS: BusLimits = {
  threads: 16, connections: 64, poolMax: 1 << 20, names: 256, matches: 1024, replies: 1024,
};

const encoder = new TextEncoder();

/** The runtime's real provider: Node or Deno; browsers must pass one (e.g. MockProvider). */
export async function defaultProvider(): Promise<Provider> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno) return new (await import('./host/deno.ts')).DenoProvider();
  if (g.process?.versions?.node) return new (await import('./host/node.ts')).NodeProvider();
  throw new BusError(A.EOPNOTSUPP, 'Bus.create', 'no default provider in this runtime: pass options.provider');
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
  private readonly conns = new Set<Connection>();

  private constructor(engine: Engine, limits: BusLimits, bloom: { size: number; hashes: number }, id128: Uint8Array, userRegion: number) {
    this.engine = engine;
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
      Math.min(limits.replies, A.MAX_CONNS * 4), Math.min(bloom.size, A.BLOOM_SIZE_MAX), false);
    const pages = end === 0 ? 0 : busPages(end, userBytes);
    if (pages === 0 || pages > A.MAX_MEMORY_PAGES) throw new BusError(A.ENOMEM, 'Bus.create', 'the bus does not fit in 4 GiB of memory');
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const provider = opts.provider ?? await defaultProvider();
    const engine: Engine = (opts.engine ?? 'wasm') === 'wasm'
      ? await WasmEngine.create(opts.module ?? await loadCore(), memory, provider)
      : new TwinEngine(memory, provider);

    const u32 = engine.u32, c = MAKE_CMD_ADDR;
    engine.u8.fill(0, c, c + A.MAKE_CMD_SIZE);
    put64(u32, c + A.CMD_SIZE, A.MAKE_CMD_SIZE);
    put64(u32, c + A.MAKE_BLOOM_SIZE, bloom.size);
    put64(u32, c + A.MAKE_BLOOM_N_HASH, bloom.hashes);
    u32[(c + A.MAKE_N_THREADS) >>> 2] = limits.threads;
    u32[(c + A.MAKE_N_CONNS) >>> 2] = limits.connections;
    u32[(c + A.MAKE_POOL_MAX) >>> 2] = limits.poolMax;
    u32[(c + A.MAKE_N_NAMES) >>> 2] = limits.names;
    u32[(c + A.MAKE_N_MATCHES) >>> 2] = limits.matches;
    u32[(c + A.MAKE_N_REPLIES) >>> 2] = limits.replies;
    check(engine.busMake(c), 'Bus.create');
    const id128 = engine.u8.slice(c + A.MAKE_ID128, c + A.MAKE_ID128 + 16);
    const layoutEnd = get64(u32, c + A.MAKE_LAYOUT_END);
    check(engine.threadJoin(1), 'Bus.create');
    return new Bus(engine, limits, bloom, id128, layoutEnd);
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
    let size = A.HELLO_CMD_SIZE;
    if (opts.description !== undefined) {
      const d = encoder.encode(String(opts.description));
      if (d.length > 4096) throw new BusError(A.ENAMETOOLONG, 'connect');
      const p = cmd + size;
      put64(u32, p + A.ITEM_SIZE, A.ITEM_HDR + d.length + 1);
      put64(u32, p + A.ITEM_TYPE, A.ITEM_CONN_DESCRIPTION);
      u8.set(d, p + A.ITEM_HDR);
      u8[p + A.ITEM_HDR + d.length] = 0;
      size += (A.ITEM_HDR + d.length + 1 + 7) & ~7;
    }
    u8.fill(0, cmd, cmd + A.HELLO_CMD_SIZE);
    put64(u32, cmd + A.CMD_SIZE, size);
    put64(u32, cmd + A.CMD_FLAGS, flags);
    put64(u32, cmd + A.HELLO_ATTACH_SEND, send);
    put64(u32, cmd + A.HELLO_ATTACH_RECV, recv);
    put64(u32, cmd + A.HELLO_POOL_SIZE, poolSize);
    const slot = check(e.hello(), 'connect');
    const id = get64(u32, cmd + A.HELLO_ID);
    const helloOffset = get64(u32, cmd + A.HELLO_OFFSET);
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
    check(this.engine.threadLeave(), 'Bus.close');
  }
}
