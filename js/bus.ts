// bus: create a bus (one shared memory, sized once from its limits) and connect to it.
import { INSPECT, inspected } from './inspect.ts';
import * as A from './shared/abi.ts';
import { BusError, check, shutdownError } from './errno.ts';
import { type Engine, type EngineKind, WasmEngine, TwinEngine, MAKE_CMD_ADDR, busLayout, busPages, isShutdown, recordLeft, recordLiveness, clearLiveness, holdsLiveness, joinedWithoutLiveness, recordOsThread, clearOsThread, recordWorkerThread, clearWorkerThread, livenessWords, restoreLivenessWords, notInCommand } from './engine.ts';
import { osThreadsChosen, useOsThreads, osThreadId, denoOsThreads, useWorkerThread, workerThread } from './host/os-thread.ts';
import { onWorkerExit, workerIdOf, nodeWorkerExited, denoWorkerExited, WATCH_RETRY_MS, type WatchHost } from './watch-exit.ts';
import { Connection } from './connection.ts';
import type { ConnectionInfo, InfoOptions } from './conn-info.ts';
import { WebProvider, checkProvider, type Provider } from './host/provider.ts';
import { loadCore, loadCoreIfAllowed } from './host/load.ts';
import { attachArg, type AttachSpec } from './attach.ts';
import { options, optBoolean, u32Arg, busyPollArg, kindOf, relabel, isRevoked, instanceOf, isAbortSignal } from './args.ts';
import { MAKE, HELLO, RECV, BYEBYE, items, checkCmd, commandError } from './cmd/index.ts';
import { NAME_RULE } from './cmd/reasons.ts';
import { checkNotReserved } from './names.ts';
import { busStats, checkBus, type BusStats } from './health.ts';
import { bump } from './host/wait.ts';
import { notifyWord } from './host/sleepers.ts';
import { endTurnParks } from './host/turns.ts';
import { deferOn, deferOff, deferring } from './host/owed.ts';
import { defineDispose } from './iterate.ts';
import * as S from './signals.ts';
import { bloomParamsError } from './dbus/bloom.ts';
import { webLocks, holdLock, heldUntilEnd, lockHeld, livenessLockName, livenessKey, storeLivenessKey, loadLivenessKey, neverEndsByItself } from './host/liveness.ts';
import './host/disposable.ts'; // (types only: Symbol.dispose in our declarations, for consumers without esnext.disposable)

export interface BusLimits {
  /** thread slots (each thread that joins takes one), default 16 */
  threads: number;
  /** connection slots, default 64 */
  connections: number;
  /** the largest pool a connection may ask for (a multiple of 4096), default 1 MiB */
  poolMax: number;
  /** name registry entries (names issue), default 4096 */
  names: number;
  /** match entries (matches issue), default 4096 */
  matches: number;
  /** pending reply records (replies issue), default 1024 */
  replies: number;
  /**
   * messages one sending user may have queued in one receiver (kdbus's KDBUS_CONN_MAX_MSGS),
   * default 256, at most 65536; beyond it SEND fails with ENOBUFS (sendAsync waits)
   */
  maxQueuedPerUser: number;
}

export interface BusOptions {
  /** 'wasm' (default) or 'twin' */
  engine?: EngineKind | undefined;
  limits?: { [K in keyof BusLimits]?: BusLimits[K] | undefined } | undefined;
  /** bloom filter parameters of the bus: size in bytes (8..4096, multiple of 8), hashes >= 1 */
  bloom?: { size?: number | undefined; hashes?: number | undefined } | undefined;
  /** bytes of memory after the bus state for the caller's own use (PAYLOAD_VEC sources) */
  userRegion?: number | undefined;
  /** credentials, clock and random; default: the runtime's real provider */
  provider?: Provider | undefined;
  /** a compiled core to use instead of build/core.wasm (it must match `hooks`) */
  module?: WebAssembly.Module | undefined;
  /**
   * Tests only: run the build with the test hooks compiled in (build/core.hooks.wasm, or the
   * twin's core-hooks), so that `engine.setFault` works. Threads that join inherit it.
   */
  hooks?: boolean | undefined;
}

export interface ConnectOptions {
  /** pool size in bytes, a multiple of 4096, at most the bus's poolMax; default poolMax */
  poolSize?: number | undefined;
  /** CONN_DESCRIPTION: [A-Za-z0-9_.-]{1,63}, not starting or ending with '.' or '-' */
  description?: string | undefined;
  /** metadata this connection lets receivers see (default 'all') */
  attachSend?: AttachSpec | undefined;
  /** metadata this connection wants on received messages (default none) */
  attachRecv?: AttachSpec | undefined;
  /**
   * kdbus HELLO flags (ACCEPT_FD 1 is accepted and ignored; ACTIVATOR 2 needs `activator`,
   * MONITOR 8 is what `monitor: true` sets; POLICY_HOLDER 4: EOPNOTSUPP)
   */
  flags?: number | undefined;
  /**
   * a monitor: receives a copy of every message the bus delivers (unicasts, broadcasts, bus
   * notifications); cannot send, own names or add matches (EOPNOTSUPP); never listed
   */
  monitor?: boolean | undefined;
  /**
   * an activator for this well-known name: holds it until a real owner takes it; messages
   * sent to the name meanwhile wait in this connection's pool and move to the owner
   */
  activator?: string | undefined;
  /**
   * busy polling, µs (0 to 100; default 0: the adaptive spin): each receive wait spins this
   * long before it parks, whatever the adaptive score (Connection.busyPoll)
   */
  busyPoll?: number | undefined;
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
  hooks?: boolean | undefined;
  /**
   * the bus's liveness-lock key (random hex, made by Bus.create from crypto.getRandomValues,
   * not from the provider: two buses with the same mocked id128 must not share lock names);
   * part of the Web Locks name a joiner holds while alive (see bus.watchLock)
   */
  liveness?: string | undefined;
}

export interface JoinOptions {
  /** the joining thread's engine (default: handle.engine); threads of one bus may differ */
  engine?: EngineKind | undefined;
  /** credentials, clock and random of the joining thread; default: the runtime's provider */
  provider?: Provider | undefined;
  /**
   * hold the liveness lock (Web Locks) that bus.watchLock() watches. Default: yes in a web
   * Worker and a browser window, where it is held until the worker (or page) ends, even after
   * bus.close(); no elsewhere (Node, Deno's main thread and node:worker_threads: a held lock
   * keeps a Deno thread alive, and watch() has the 'exit' event there). `true` forces it
   * (EOPNOTSUPP without navigator.locks); it is then given back at bus.close().
   */
  liveness?: boolean | undefined;
}

/** What bus.watch() resolves to when the worker has exited. */
export interface WatchResult {
  /** the worker's exit code */
  code: number;
  /** the thread slot recovered (-1: the worker had left the bus, nothing to recover) */
  slot: number;
  /** set when recovery failed */
  error?: unknown | undefined;
}

/** A Node (or Deno node:worker_threads) Worker, as far as watch() needs one. */
export interface ExitEmitter {
  once(event: 'exit', listener: (code: number) => void): unknown;
}

/** What bus.watchLock() resolves to: the thread is gone (and recovered), or the watch was aborted. */
export interface LockWatchResult {
  /** the thread slot recovered (-1: nothing to recover: it had left the bus, or see `aborted` / `error`) */
  slot: number;
  /** the watch was aborted (opts.signal) before the thread died: nothing was recovered */
  aborted?: boolean | undefined;
  /** set when recovery failed (or the Web Locks API failed) */
  error?: unknown | undefined;
}

export interface WatchLockOptions {
  /** stop watching (the result is { slot: -1, aborted: true }) */
  signal?: AbortSignal | undefined;
  /**
   * passed to recoverThread (default false: a thread that died holding a bus lock gets the
   * RECOVER_BUSY_MS wait); true only where the runtime guarantees that a realm whose locks were
   * released runs no more JavaScript
   */
  stopped?: boolean | undefined;
}

/** The thread-slot token of the thread that creates a bus. */
const CREATOR_TOKEN = 1;
/**
 * watch(), watchLock(): a recovery that met a lock held by another dead thread (EDEADLK) is
 * tried again WATCH_RETRY_MS later, until WATCH_PATIENCE_MS have passed since its first try
 * (then the result carries the EDEADLK). Each try, run from the event loop, waits for such a
 * lock at most ASYNC_LOCK_WAIT_MS (a recovery's own waits: RECOVER_BUSY_MS for a thread not
 * known to have stopped), so the event loop runs between tries: a timer there can recover
 * the other dead thread. (Each try used to block for LOCK_WAIT_MS + RECOVER_BUSY_MS: 1.1 s,
 * 20 times. Found by an outside audit.)
 */
const WATCH_PATIENCE_MS = 20 * (A.LOCK_WAIT_MS + WATCH_RETRY_MS);

/** The default limits (frozen: a Bus.create without `limits` always gets these). */
export const DEFAULT_LIMITS: Readonly<BusLimits> = Object.freeze({
  // names, matches: bus-wide tables above one connection's limit (MAX_NAMES_PER_CONN,
  // MAX_MATCHES_PER_CONN: 256 each), 64 per connection on average (docs/API.md, "Limits")
  threads: 16, connections: 64, poolMax: 1 << 20, names: 4096, matches: 4096, replies: 1024,
  maxQueuedPerUser: A.MAX_QUEUED_PER_USER,
});

const encoder = new TextEncoder();

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof BusLimits)[];
const CREATE_KEYS = ['engine', 'limits', 'bloom', 'userRegion', 'provider', 'module', 'hooks'] as const;
const BLOOM_KEYS = ['size', 'hashes'] as const;
const JOIN_KEYS = ['engine', 'provider', 'liveness'] as const;
const CONNECT_KEYS = ['poolSize', 'description', 'attachSend', 'attachRecv', 'flags', 'monitor', 'activator', 'busyPoll'] as const;
const RECOVER_KEYS = ['stopped'] as const;
const WATCH_LOCK_KEYS = ['signal', 'stopped'] as const;
/**
 * watchLock(): how often it looks for the thread to have joined (taken its liveness lock), until
 * it has: first after WATCH_LOCK_POLL_MS, then 1.5 times longer each time, up to WATCH_LOCK_POLL_MAX_MS
 */
const WATCH_LOCK_POLL_MS = 10, WATCH_LOCK_POLL_MAX_MS = 250;

/** watchLock's end for a thread that joined without a liveness lock (BUS_LIVENESS): it cannot be watched by a lock. */
function noLivenessLock(token: number): BusError {
  return new BusError(A.EOPNOTSUPP, 'watchLock', `the thread that joined with token ${token} holds no liveness lock (it joined with liveness: false, or where a join takes none by default: a worker_threads Worker, a Deno main thread; or its runtime refused Web Locks), so no lock can tell its death: watch it with watch(worker, handle), or recover it (recoverThread) once you know it has ended`);
}

function checkEngine(op: string, name: string, kind: unknown): EngineKind {
  if (kind !== 'wasm' && kind !== 'twin') {
    throw new BusError(A.EINVAL, op, `${name} must be 'wasm' or 'twin', got ${typeof kind === 'string' ? JSON.stringify(kind) : kindOf(kind)}`);
  }
  return kind;
}


/**
 * The runtime's real provider: Node's or Deno's; elsewhere (browsers and their workers) the
 * WebProvider: real clocks and random bytes, no identity.
 */
export async function defaultProvider(opts?: DefaultProviderOptions): Promise<Provider> {
  const o = options<DefaultProviderOptions>('defaultProvider', opts, ['ttlMs'], '{ ttlMs: 1000 }');
  const ttlMs = o.ttlMs;
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !(ttlMs >= 0))) {
    throw new BusError(A.EINVAL, 'defaultProvider', `ttlMs must be a number of ms >= 0 (Infinity: only a generation change renews the answers), got ${typeof ttlMs === 'number' ? String(ttlMs) : kindOf(ttlMs)}`);
  }
  return providerFor('defaultProvider', ttlMs);
}

/** Options of defaultProvider(): how long Node's and Deno's providers reuse what they read of /proc (docs/API.md, Providers). */
export interface DefaultProviderOptions {
  /** ms a collected answer is reused (default 1000; 0: read every time; Infinity: only a generation change renews it); the browser's provider reads nothing, and ignores it */
  ttlMs?: number | undefined;
}

/**
 * This runtime's reads of /proc/self/task for recovery (host/os-thread.ts), chosen once per
 * thread: Deno's API, Node's node:fs (os-thread-node.ts; none in the browser build), or none.
 */
async function chooseOsThreads(): Promise<void> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  // this thread's node:worker_threads id (Node's and Deno's; bus.watch tells a worker that
  // never joined with its handle by it: LIVENESS_WORKER)
  if (workerThread() < 0) {
    try {
      useWorkerThread(g.Deno || g.process?.versions?.node ? (await import('./host/worker-id-node.ts')).workerThreadId() : 0);
    } catch {
      useWorkerThread(0);
    }
  }
  if (osThreadsChosen()) return;
  try {
    if (g.Deno) useOsThreads(denoOsThreads());
    else if (g.process?.versions?.node) useOsThreads((await import('./host/os-thread-node.ts')).nodeOsThreads());
    else useOsThreads(null);
  } catch {
    useOsThreads(null); // (nothing known: recovery keeps its RECOVER_BUSY_MS rule)
  }
}

/** defaultProvider, for `op` (Bus.create, Bus.join: the op of its EOPNOTSUPP) */
async function providerFor(op: string, ttlMs?: number): Promise<Provider> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } }; crypto?: { getRandomValues?: unknown }; performance?: unknown };
  const popts = ttlMs === undefined ? {} : { ttlMs };
  if (g.Deno) return new (await import('./host/deno.ts')).DenoProvider(popts);
  if (g.process?.versions?.node) return new (await import('./host/node.ts')).NodeProvider(popts);
  if (typeof g.performance === 'object' && typeof g.crypto?.getRandomValues === 'function') return new WebProvider();
  throw new BusError(A.EOPNOTSUPP, op, 'no default provider in this runtime (no performance clock or crypto.getRandomValues): pass options.provider');
}

export class Bus {
  readonly engine: Engine;
  readonly memory: WebAssembly.Memory;
  /** the bus's limits (frozen: the bus's own are in its memory) */
  readonly limits: Readonly<BusLimits>;
  readonly bloom: Readonly<{ size: number; hashes: number }>;
  /** the bus's random 128-bit id, this object's own copy (the liveness locks' names are made from it) */
  readonly #id128: Uint8Array;
  /** start of the user region (see BusOptions.userRegion) */
  readonly userRegion: number;
  /** the compiled core handed to joining threads (null: a twin bus whose core could not be loaded) */
  readonly module: WebAssembly.Module | null;
  private readonly conns = new Set<Connection>();
  /** releases this thread's liveness lock (Bus.join where Web Locks exist; see watchLock) */
  private liveness: (() => void) | null = null;
  /** the bus's liveness-lock key (BusHandle.liveness) */
  private livenessKey = '';

  private constructor(engine: Engine, module: WebAssembly.Module | null, limits: BusLimits, bloom: { size: number; hashes: number }, id128: Uint8Array, userRegion: number) {
    this.engine = engine;
    this.module = module;
    this.memory = engine.memory;
    this.limits = Object.freeze({ ...limits });
    this.bloom = Object.freeze({ ...bloom });
    this.#id128 = id128.slice();
    this.userRegion = userRegion;
  }

  /** the bus's random 128-bit id: a fresh copy on each read (16 bytes) */
  get id128(): Uint8Array {
    return this.#id128.slice();
  }

  static async create(opts?: BusOptions): Promise<Bus> {
    const o = options<BusOptions>('Bus.create', opts, CREATE_KEYS, "{ engine: 'twin' }");
    const given = options<BusLimits>('Bus.create', o.limits, LIMIT_KEYS, '{ connections: 64 }', 'limits');
    const limits = { ...DEFAULT_LIMITS };
    for (const k of LIMIT_KEYS) limits[k] = u32Arg('Bus.create', `limits.${k}`, given[k], DEFAULT_LIMITS[k]);
    const b = options<{ size: number; hashes: number }>('Bus.create', o.bloom, BLOOM_KEYS, '{ size: 64, hashes: 8 }', 'bloom');
    const bloom = { size: u32Arg('Bus.create', 'bloom.size', b.size, 64), hashes: u32Arg('Bus.create', 'bloom.hashes', b.hashes, 8) };
    // sizes and hash counts the core refuses get its own error (BUS_MAKE); of those it takes,
    // the ones sd-bus's filters cannot be built with (every signal and match of this bus would
    // fail) are refused here
    if (bloom.size >= 8 && bloom.size <= A.BLOOM_SIZE_MAX && bloom.size % 8 === 0 && bloom.hashes >= 1) {
      const why = bloomParamsError({ size: bloom.size, hashes: bloom.hashes });
      if (why !== null) throw new BusError(A.EINVAL, 'Bus.create', `${why}: the D-Bus signals and match rules of this bus could not be built (DBUS.md, "Bloom filters and masks")`);
    }
    // (null is not absent: API.md, Conventions)
    const oUser = o.userRegion; // (read once)
    const userBytes = oUser === undefined ? 0 : oUser;
    if (typeof userBytes !== 'number' || !Number.isInteger(userBytes) || userBytes < 0) {
      throw new BusError(A.EINVAL, 'Bus.create', `userRegion must be a byte count (a non-negative integer), got ${typeof userBytes === 'number' ? String(userBytes) : kindOf(userBytes)}`);
    }
    // (engine and module read once: each was read twice before stop 35, an outside audit)
    const oEngine = o.engine, oModule = o.module;
    const kind = checkEngine('Bus.create', 'engine', oEngine === undefined ? 'wasm' : oEngine);
    const given_provider = checkProvider('Bus.create', o.provider);
    const hooks = optBoolean('Bus.create', 'hooks', o.hooks) === true;
    if (oModule !== undefined && !instanceOf(oModule, WebAssembly.Module)) {
      throw new BusError(A.EINVAL, 'Bus.create', `module must be a WebAssembly.Module, got ${kindOf(oModule)}`);
    }
    // size the memory once; BUS_MAKE validates the limits themselves
    const end = busLayout(Math.min(limits.threads, A.MAX_THREADS), Math.min(limits.connections, A.MAX_CONNS),
      Math.min(limits.poolMax, A.MAX_POOL), Math.min(limits.names, A.MAX_CONNS * 4), Math.min(limits.matches, A.MAX_CONNS * 4),
      Math.min(limits.replies, A.MAX_CONNS * 4), Math.min(bloom.size, A.BLOOM_SIZE_MAX));
    const pages = end === 0 ? 0 : busPages(end, userBytes);
    if (pages === 0 || pages > A.MAX_MEMORY_PAGES) {
      // (named: it said only "does not fit" before stop 30, an outside audit)
      // (the numbers the product was taken of: a limit above what a bus can have counts as
      // that most; the message multiplied one number and showed another before stop 39: an
      // outside audit)
      const nConns = Math.min(limits.connections, A.MAX_CONNS), poolMax = Math.min(limits.poolMax, A.MAX_POOL);
      // (the unit after each number: "… the most a bus can have bytes" before stop 42, an outside audit)
      const shown = (v: number, cap: number, unit = '') => v > cap ? `${v}${unit}, counted as ${cap}${unit}, the most a bus can have` : `${v}${unit}`;
      const pools = nConns * poolMax;
      // (a userRegion larger than the pools is named first, with its own remedy: the message
      // blamed the pools for a userRegion of 4 GiB before stop 48, an outside audit)
      if (userBytes > pools) throw new BusError(A.ENOMEM, 'Bus.create', `the bus does not fit in 4 GiB of memory: userRegion (${userBytes} bytes) is larger than the pools, limits.connections (${shown(limits.connections, A.MAX_CONNS)}) × limits.poolMax (${shown(limits.poolMax, A.MAX_POOL, ' bytes')}) = ${pools} bytes, with the other tables on top (lower userRegion)`);
      throw new BusError(A.ENOMEM, 'Bus.create', `the bus does not fit in 4 GiB of memory: its pools alone, limits.connections (${shown(limits.connections, A.MAX_CONNS)}) × limits.poolMax (${shown(limits.poolMax, A.MAX_POOL, ' bytes')}), are ${pools} bytes, with the other tables${userBytes > 0 ? ` and userRegion (${userBytes} bytes)` : ''} on top (lower limits.connections or limits.poolMax)`);
    }
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const provider = given_provider ?? await providerFor('Bus.create');
    // a twin bus still carries the core in its handles when it can be had, so workers may use it
    const module = oModule ?? (kind === 'wasm' ? await loadCore(hooks) : await loadCoreIfAllowed(hooks));
    const engine: Engine = kind === 'wasm'
      ? await WasmEngine.create(module!, memory, provider, hooks)
      : new TwinEngine(memory, provider, hooks);

    const { u8, u32 } = engine, c = MAKE_CMD_ADDR;
    MAKE.encode(u8, u32, c, 0, bloom.size, bloom.hashes, limits.threads, limits.connections, limits.poolMax,
      limits.names, limits.matches, limits.replies, limits.maxQueuedPerUser);
    checkCmd(u32, c, engine.busMake(c), 'Bus.create', MAKE.NAME);
    // the quota in force (0 asks for the kdbus default: bus.limits said 0 before stop 30)
    limits.maxQueuedPerUser = u32[(A.BUS_BASE + A.BUS_MAX_QUEUED) >>> 2];
    const id128 = MAKE.id128(u8, c);
    const layoutEnd = MAKE.layoutEnd(u32, c);
    await chooseOsThreads();
    const slot0 = check(engine.threadJoin(CREATOR_TOKEN), 'Bus.create');
    recordOsThread(u32, slot0, osThreadId());
    recordWorkerThread(u32, slot0, Math.max(workerThread(), 0));
    const bus = new Bus(engine, module, limits, bloom, id128, layoutEnd);
    bus.creator = true;
    bus.livenessKey = engine.busKey = livenessKey();
    storeLivenessKey(u8, bus.livenessKey); // (before any handle exists: a joiner reads it there)
    return bus;
  }

  /**
   * Join a bus made by another thread, from its handle (see bus.handle()): instantiate the core
   * on the bus's memory (or use the twin on it) and take a thread slot. Never runs BUS_MAKE.
   */
  static async join(handle: BusHandle, opts?: JoinOptions): Promise<Bus> {
    const h = handle;
    if (typeof h !== 'object' || h === null || isRevoked(h)) throw new BusError(A.EINVAL, 'Bus.join', `handle must be a BusHandle (from bus.handle()), got ${kindOf(h)}`);
    // every field read once, here: the values checked below are the values joined with (before
    // stop 56 `memory` was read three times, `token` six and `module` four, the checks on the
    // first reads and the join on the last: a getter's third answer joined another bus whose
    // magic and version were never looked at; an outside audit)
    const hMemory = h.memory, hEngine = h.engine, hToken = h.token, hModule = h.module;
    const hLimits = h.limits, hBloom = h.bloom, hRegion = h.userRegion, hHooks = h.hooks;
    const buf: unknown = instanceOf(hMemory, WebAssembly.Memory) ? hMemory.buffer : null;
    if (typeof SharedArrayBuffer !== 'function' || !(buf instanceof SharedArrayBuffer)) {
      throw new BusError(A.EINVAL, 'Bus.join', 'not a bus handle (its memory must be a shared WebAssembly.Memory)');
    }
    const o = options<JoinOptions>('Bus.join', opts, JOIN_KEYS, "{ engine: 'twin' }");
    // (checked with the options, as API.md's table says: it was checked after the handle's
    // fields, the bus header and the core's load before stop 66, so a bad handle's error came
    // first; an outside audit)
    const forced = optBoolean('Bus.join', 'liveness', o.liveness);
    const oEngine = o.engine; // (read once)
    const kind = oEngine !== undefined ? checkEngine('Bus.join', 'engine', oEngine) : checkEngine('Bus.join', 'handle.engine', hEngine);
    if (!Number.isInteger(hToken) || hToken <= CREATOR_TOKEN || hToken > 0xffffffff) throw new BusError(A.EINVAL, 'Bus.join', `invalid token: handle.token must be an integer in 2 … 2^32 − 1, got ${typeof hToken === 'number' ? String(hToken) : kindOf(hToken)}`);
    const givenProvider = checkProvider('Bus.join', o.provider);
    if (hModule !== null && hModule !== undefined && !instanceOf(hModule, WebAssembly.Module)) {
      throw new BusError(A.EINVAL, 'Bus.join', `handle.module must be a WebAssembly.Module or null, got ${kindOf(hModule)}`);
    }
    // the handle's limits, bloom and user region, checked before the thread takes a slot: a
    // throw after the join (a revoked Proxy, a getter) left the slot taken and the token held
    // for good, with no Bus to leave it (before stop 48: an outside audit). Their values are
    // the bus header's (below): a handle edited, or partial, gave a Bus whose limits were not
    // the bus's, and a plain connect() failed with ENOMEM (a pool larger than the bus's poolMax)
    const hl = options<BusLimits>('Bus.join', hLimits, LIMIT_KEYS, '{ connections: 64 }', 'handle.limits');
    for (const k of LIMIT_KEYS) u32Arg('Bus.join', `handle.limits.${k}`, hl[k], DEFAULT_LIMITS[k]);
    const hb = options<{ size: number; hashes: number }>('Bus.join', hBloom, BLOOM_KEYS, '{ size: 64, hashes: 8 }', 'handle.bloom');
    u32Arg('Bus.join', 'handle.bloom.size', hb.size, 64);
    u32Arg('Bus.join', 'handle.bloom.hashes', hb.hashes, 8);
    const givenRegion = hRegion;
    if (typeof givenRegion !== 'number' || !Number.isSafeInteger(givenRegion) || givenRegion < 0) throw new BusError(A.EINVAL, 'Bus.join', `handle.userRegion must be a non-negative safe integer, got ${typeof givenRegion === 'number' ? String(givenRegion) : kindOf(givenRegion)}`);
    const u32 = new Uint32Array(buf);
    if (buf.byteLength < A.BUS_BASE + A.BUS_SIZE || Atomics.load(u32, (A.BUS_BASE + A.BUS_MAGIC_OFF) >>> 2) !== A.BUS_MAGIC) {
      throw new BusError(A.EBADF, 'Bus.join', 'no bus in that memory');
    }
    // a bus made by another layout or rules (another wasmbus in the worker's bundle, say): the
    // two would break each other's words (a host of BUS_VERSION 13 takes its woken waits off
    // the sleepers counts a second time, and wake-ups are lost)
    const version = Atomics.load(u32, (A.BUS_BASE + A.BUS_VERSION_OFF) >>> 2);
    if (version !== A.BUS_VERSION) throw new BusError(A.EBADF, 'Bus.join', `the bus in that memory was made by another wasmbus (bus version ${version}, this package's ${A.BUS_VERSION}): join it with the package that made it`);
    const provider = givenProvider ?? await providerFor('Bus.join');
    const hooks = hHooks === true;
    let module = hModule ?? null;
    if (kind === 'wasm' && !module) module = await loadCore(hooks);
    const engine: Engine = kind === 'wasm'
      ? await WasmEngine.create(module!, hMemory, provider, hooks)
      : new TwinEngine(hMemory, provider, hooks);
    const id128 = engine.u8.slice(A.BUS_BASE + A.BUS_ID128, A.BUS_BASE + A.BUS_ID128 + 16);
    // the bus's own limits, bloom parameters and layout end, as BUS_MAKE wrote them
    const hd = (at: number) => engine.u32[(A.BUS_BASE + at) >>> 2]!;
    const limits: BusLimits = {
      threads: hd(A.BUS_N_THREADS), connections: hd(A.BUS_N_CONNS), poolMax: hd(A.BUS_POOL_MAX), names: hd(A.BUS_N_NAMES),
      matches: hd(A.BUS_N_MATCHES), replies: hd(A.BUS_N_REPLIES), maxQueuedPerUser: hd(A.BUS_MAX_QUEUED),
    };
    const bloom = { size: hd(A.BUS_BLOOM_SIZE), hashes: hd(A.BUS_BLOOM_N_HASH) };
    const userRegion = hd(A.BUS_LAYOUT_END);
    // the liveness lock (Web Locks, where the runtime has them) is taken before the thread
    // slot and given back after it: while the slot holds this token, the lock is held, until
    // this realm ends (bus.watchLock, js/host/liveness.ts)
    // the bus's own key, from its header: the handle's copy is not read (a handle without it, or
    // with another, named a lock nobody watched, and watchLock recovered the live thread: an
    // outside audit, stop 48)
    const key = loadLivenessKey(engine.u8);
    if (forced && !webLocks()) throw new BusError(A.EOPNOTSUPP, 'Bus.join', 'liveness: true needs Web Locks (navigator.locks), which this runtime does not have');
    // held until this realm ends where nothing ends by itself (web Worker, window); given back
    // at bus.close() when forced elsewhere (a held lock keeps a Deno thread alive)
    const untilEnd = forced === undefined;
    const lockName = livenessLockName(id128, hToken, key);
    const held = (forced ?? neverEndsByItself()) ? await holdLock(lockName, untilEnd) : null;
    await chooseOsThreads();
    // (the token's liveness lock already held: a thread joined with it, as the core's EBUSY
    // below says; where joins take that lock, the lock says it first: a browser's or a Deno
    // web Worker's second join with one token threw a plain Error, no errno, before stop 25)
    const r = held === false ? -A.EBUSY : engine.threadJoin(hToken);
    const release = held || null;
    if (r < 0) release?.();
    if (r === -A.EBUSY) throw new BusError(A.EBUSY, 'Bus.join', held === false
      ? "another thread holds this token, or its liveness lock (a web Worker that joined with it keeps that lock until it ends, also after bus.close()): a handle joins one thread (bus.handle() makes one per worker)"
      : 'another thread holds this token: a handle joins one thread (bus.handle() makes one per worker)');
    if (r === -A.ESHUTDOWN) throw shutdownError('Bus.join');
    // (the core writes no reason words for a thread with no slot: "the thread table is full"
    // named no limit before stop 41, an outside audit)
    if (r === -A.EUSERS) throw new BusError(A.EUSERS, 'Bus.join', `all ${limits.threads} thread slots of the bus are in use (limits.threads): a thread frees its slot when it leaves (bus.close()), a dead one once it is recovered`);
    check(r, 'Bus.join');
    try {
      // (right after the join, with nothing in between: a watchLock that sees the slot taken
      // and this word not yet written looks whether the lock is held)
      // (a lock this realm holds until it ends, from an earlier join with this token, is this
      // thread's death signal too, whatever this join asked for: liveness: false after a join
      // that took one in the same web Worker)
      recordLiveness(engine.u32, r, hToken, release !== null || heldUntilEnd(lockName));
      recordOsThread(engine.u32, r, osThreadId());
      recordWorkerThread(engine.u32, r, Math.max(workerThread(), 0));
      const bus = new Bus(engine, module, limits, bloom, id128, userRegion);
      bus.liveness = untilEnd ? null : release;
      bus.livenessKey = engine.busKey = key;
      return bus;
    } catch (err) {
      // (nothing above reads the caller's objects any more; should it throw all the same, the
      // slot is given back, not left taken with no Bus to leave it)
      engine.threadLeave();
      release?.();
      throw err;
    }
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
      liveness: this.livenessKey,
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

  /** The pending watchLock()s of this Bus: each ends with EBADF when it is called (close()). */
  private readonly lockWatches = new Set<() => void>();

  /**
   * watch / watchLock once this Bus left the bus (bus.shutdown() or bus.close()): a worker
   * that left (its slot free: a clean leave, or another thread recovered it): { slot: -1 }, no
   * error. One that did not: after a shutdown ESHUTDOWN in `error` (nothing is recovered on a
   * bus that has ended); after close(), null, and the recovery's EBADF says this Bus cannot.
   * null too while this Bus is joined.
   */
  private afterLeft(token: number, op: string): { slot: -1; error?: BusError } | null {
    if (this.engine.joined) {
      // a thread declared dead recovers nothing: its ECONNRESET, as every method's (Node's
      // watch waited 2 s for the worker's OS thread and said EBUSY, Deno's said ECONNRESET: an
      // outside audit, stop 53); a watch begun before the death finds it here
      const dead = this.deadError();
      return dead === null ? null : { slot: -1, error: dead };
    }
    // this Bus has left (bus.shutdown(), or bus.close()): a worker that left cleanly, or was
    // recovered by another thread, needs nothing and is no error (after bus.close() a watch
    // said EBADF for it before stop 39: an outside audit); one that holds its slot cannot be
    // recovered from here
    if (this.threadSlotOf(token) < 0) return { slot: -1 };
    if (!this.isShutdown) return null; // (recoverThread's EBADF: this Bus can no longer recover it)
    return { slot: -1, error: shutdownError(op, 'the bus was shut down, and this worker did not leave it: a bus that has ended is not recovered (its memory can be dropped)') };
  }

  /** This thread's ECONNRESET once another thread declared it dead (and tells it so), else null. */
  private deadError(): BusError | null {
    if (!this.engine.joined) return null;
    try { this.engine.checkAlive(); } catch (err) { if (err instanceof BusError) return err; throw err; }
    return null;
  }

  /** The thread slot that holds `token` (in any state: a claim not yet freed), or -1. */
  private threadSlotOf(token: number): number {
    const u32 = this.engine.u32;
    const base = u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2], n = u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2];
    for (let i = 0; i < n; i++) {
      if (Atomics.load(u32, (base + i * A.THREAD_SIZE + A.THREAD_TOKEN) >>> 2) === token >>> 0) return i;
    }
    return -1;
  }

  /**
   * A thread that joined with `token` died without leaving (a terminated or crashed worker):
   * finish or undo the command it was in, release its locks, disconnect the connections it
   * owned and free its thread slot. Returns the slot recovered, or -1 when no thread holds
   * that token (it left the bus cleanly, or was recovered already). The core finds the slot
   * by the token and re-checks it at each step; one thread recovers a thread at a time
   * (`EALREADY` while another live thread does). A thread that is still running (a Deno
   * worker after terminate() runs on until its next turn) is given RECOVER_BUSY_MS (100 ms)
   * to leave the locks it holds, and stops at the next one it takes; `stopped: true` says the
   * runtime guarantees the thread has stopped (a Node Worker's 'exit' event), and skips that
   * wait. `EDEADLK`: a lock recovery needs stayed held for LOCK_WAIT_MS (by another thread
   * that died, not yet recovered): call again later, the recovery goes on where it stopped.
   */
  recoverThread(token: number, opts?: { stopped?: boolean | undefined }): number {
    return this.recoverWith(token, opts, 0, 'recoverThread');
  }

  /**
   * recoverThread from the event loop, for a thread that must not block (a page): each try
   * blocks it at most ASYNC_LOCK_WAIT_MS; a dying thread still busy in a send window (not
   * `stopped`) gets its RECOVER_BUSY_MS from the first try, and a lock held by another dead
   * thread is tried again, as watch() does (recoverFromLoop). Resolves with the slot
   * recovered (-1: no thread holds that token); rejects with what recoverThread throws, with
   * op recoverThreadAsync (EDEADLK only after WATCH_PATIENCE_MS of tries).
   */
  recoverThreadAsync(token: number, opts?: { stopped?: boolean | undefined }): Promise<number> {
    const op = 'recoverThreadAsync';
    let stopped: boolean;
    try {
      stopped = this.recoverArgs(token, opts, op); // (options read once, here)
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const since = performance.now(), left0 = this.leftAt();
      const attempt = () => {
        const r = this.recoverFromLoop(token, stopped, since, attempt, op, false, left0);
        if (r === null) return;
        if (r.error !== undefined) reject(r.error); else resolve(r.slot);
      };
      attempt();
    });
  }

  /** recoverThread's argument checks (EBADF, EINVAL); its `stopped` */
  private recoverArgs(token: number, opts: { stopped?: boolean } | undefined, op: string): boolean {
    const e = this.engine;
    if (!e.joined) throw this.leftError(op);
    if (typeof token !== 'number' || !Number.isInteger(token) || token < 0 || token > 0xffffffff) {
      throw new BusError(A.EINVAL, op, `token must be an integer in 0 … 2^32 − 1, got ${typeof token === 'number' ? String(token) : kindOf(token)}`);
    }
    const o = options<{ stopped?: boolean }>(op, opts, RECOVER_KEYS, '{ stopped: true }');
    const stopped = optBoolean(op, 'stopped', o.stopped) ?? false;
    if (token !== 0 && token === e.threadToken) throw new BusError(A.EINVAL, op, 'that is the calling thread');
    return stopped;
  }

  /** recoverThread; `since` > 0: an event-loop caller's (recoverFromLoop), whose tries do not wait for a busy dying thread */
  private recoverWith(token: number, opts: { stopped?: boolean } | undefined, since: number, op: string): number {
    const e = this.engine;
    const stopped = this.recoverArgs(token, opts, op);
    if (token === 0) return -1; // no thread holds token 0
    const r = e.recoverThread(token, stopped, since);
    if (r === -A.ESRCH) return -1; // left, or recovered meanwhile
    if (r === -A.EALREADY) throw new BusError(A.EALREADY, op, 'another live thread is recovering that thread');
    if (r === -A.EDEADLK) throw new BusError(A.EDEADLK, op, `a lock that recovery needs stayed held for ${e.lockWaitMs} ms (by a thread that died and is not recovered yet): call again`);
    return check(r, op);
  }

  /**
   * recoverThread from the event loop (watch, watchLock): a lock held by another dead thread,
   * or a dying thread still busy in a send window (not `stopped`: it is given RECOVER_BUSY_MS
   * from `since`), is waited for at most ASYNC_LOCK_WAIT_MS per try; EDEADLK then, and
   * `retry` is called WATCH_RETRY_MS later, until WATCH_PATIENCE_MS have passed since `since`.
   * (Before, a try waited the RECOVER_BUSY_MS out at once: 100 ms of a page's main thread,
   * spinning, where blocking is refused; found by an outside audit.)
   */
  private recoverFromLoop(token: number, stopped: boolean, since: number, retry: () => void, op = 'recoverThread',
    /** watch, watchLock: EALREADY (another thread's recovery of it) is tried again too, as EDEADLK */
    waitClaim = false,
    /** the left table's count when the tries began (leftAt) */
    left0 = -1): { slot: number; error?: unknown } | null {
    const e = this.engine;
    // the thread these tries are for left or was recovered by another thread since they began:
    // done, nothing of ours to recover. A thread holding the token now joined after it (a
    // handle used again) and is alive: a try made then recovered it (an outside audit, stop 28:
    // a watch's retry after EALREADY, once the other recoverer had finished and a new worker
    // had joined with the same handle)
    if (left0 >= 0 && this.leftSince(token, left0)) return { slot: -1 };
    try {
      e.lockWaitMs = e.asyncLockWaitMs;
      return { slot: this.recoverWith(token, { stopped }, since, op) };
    } catch (error) {
      // EALREADY: another thread claimed the recovery. It finishes it (a later try: -1), or it
      // dies in it and, once it is recovered in turn, a later try takes the claim over and
      // finishes (before stop 25 a watch gave up there, and the worker's slot, connections and
      // names stayed for good: an outside audit, 1 iteration in 15 with the recoverer killed)
      const claimed = waitClaim && error instanceof BusError && error.errno === A.EALREADY;
      if (!(error instanceof BusError && (error.errno === A.EDEADLK || claimed))) return { slot: -1, error };
      const waited = performance.now() - since;
      if (waited < WATCH_PATIENCE_MS) {
        setTimeout(retry, WATCH_RETRY_MS);
        return null;
      }
      if (claimed) return { slot: -1, error: new BusError(A.EALREADY, op, `another thread has been recovering that thread for ${Math.round(waited)} ms, tried every ${WATCH_RETRY_MS} ms (it is alive, or died and is not recovered yet): recover that one, then call recoverThread again`) };
      return { slot: -1, error: new BusError(A.EDEADLK, op, `a lock that recovery needs stayed held for ${Math.round(waited)} ms, tried every ${WATCH_RETRY_MS} ms (by a thread that died and is not recovered yet): recover that one, then call recoverThread again`) };
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
  }

  /**
   * Recover a Node worker_threads Worker's thread slot when it exits (a worker that left the
   * bus has nothing to recover). Resolves once the worker has exited and been recovered. It
   * rejects only when its arguments are wrong (BusError EINVAL, before it listens); once it
   * listens it never rejects: a recovery failure is in the result's `error`. A recovery that
   * meets a lock held by another dead thread (EDEADLK) is tried again from the event loop
   * (WATCH_RETRY_MS apart, for WATCH_PATIENCE_MS), each try blocking it at most briefly.
   */
  watch(worker: ExitEmitter, handle: BusHandle | number): Promise<WatchResult> {
    const w = worker as ExitEmitter | null;
    if (typeof w !== 'object' || w === null || isRevoked(w) || typeof w.once !== 'function') {
      return Promise.reject(new BusError(A.EINVAL, 'watch', `worker must have once('exit', listener) (a worker_threads Worker), got ${kindOf(worker)}`));
    }
    const h = handle as BusHandle | number | null;
    const token = typeof h === 'number' ? h : typeof h === 'object' && h !== null && !isRevoked(h) ? h.token : undefined;
    if (typeof token !== 'number' || !Number.isInteger(token) || token < 0 || token > 0xffffffff) {
      return Promise.reject(new BusError(A.EINVAL, 'watch', `handle must be a BusHandle or its token (an integer in 0 … 2^32 − 1), got ${typeof h === 'object' && h !== null && !isRevoked(h) ? `an object whose token is ${typeof token === 'number' ? String(token) : kindOf(token)}` : typeof h === 'number' ? String(h) : kindOf(h)}`));
    }
    // its worker_threads id + 1, read now (Node sets a Worker's threadId to -1 once it exits:
    // a watch called after that runs at once, below), and the left table's count now (a thread
    // with this token that leaves from now on is this worker, or one it handed its handle to)
    // one called on a thread declared dead resolves at once: it would wait for an exit that
    // may never come (a live worker), only to recover nothing (an outside audit, stop 53)
    const dead = this.deadError();
    if (dead !== null) return Promise.resolve({ code: -1, slot: -1, error: dead });
    const mine = workerIdOf(w), leftW = this.leftAt();
    const exitedAlready = nodeWorkerExited(w);
    return new Promise((resolve) => {
      const host: WatchHost = {
        engine: this.engine,
        afterLeft: (t, op) => this.afterLeft(t, op),
        threadSlotOf: (t) => this.threadSlotOf(t),
        leftAt: () => this.leftAt(),
        leftSince: (t, at0) => this.leftSince(t, at0),
        recoverFromLoop: (t, stopped, since, retry, left0) => this.recoverFromLoop(t, stopped, since, retry, 'recoverThread', true, left0),
      };
      let exited = false;
      const onExit = (code: number) => {
        if (exited) return;
        exited = true;
        onWorkerExit(host, token, mine, leftW, code, resolve);
      };
      // a Worker that had exited when watch() was called: its 'exit' will not come again (it
      // never settled: outside audits, stop 50). Node sets its threadId to -1; Deno's says it
      // through cpuUsage() (denoWorkerExited), asked once here, its answer raced against the
      // 'exit' (the first runs the exit handling). Its code is not known then (-1)
      if (exitedAlready) setTimeout(() => onExit(-1), 0);
      else this.onExitOf(w, onExit);
    });
  }

  /**
   * Run `fn` at `w`'s exit: one 'exit' listener per worker for all this Bus's watches of it (a
   * pooled worker that leaves and rejoins is watched once per join, and a listener per watch
   * piled up, with Node's MaxListenersExceededWarning past ten: an outside audit, stop 56).
   */
  private onExitOf(w: ExitEmitter, fn: (code: number) => void): void {
    let fns = this.exitWatches.get(w);
    if (fns === undefined) {
      const list: ((code: number) => void)[] = fns = [];
      this.exitWatches.set(w, list);
      const exit = (code: number) => {
        if (this.exitWatches.get(w) === list) this.exitWatches.delete(w);
        // (told by cpuUsage, Deno: its 'exit' came before this watch and will not come again,
        // so its listener goes, or each late watch left one for good: an outside audit, stop 56)
        const off = (w as { removeListener?: unknown }).removeListener;
        if (typeof off === 'function') { try { off.call(w, 'exit', exit); } catch { /* a stand-in emitter */ } }
        for (const f of list.splice(0)) f(code);
      };
      w.once('exit', exit);
      void denoWorkerExited(w).then((gone) => { if (gone) exit(-1); });
    }
    fns.push(fn);
  }
  /** per watched worker: the exit handlers of this Bus's watches waiting for it (onExitOf) */
  private readonly exitWatches = new WeakMap<object, ((code: number) => void)[]>();

  /** HELLO: a new connection on this thread. */
  connect(opts?: ConnectOptions): Connection {
    const e = this.engine;
    // (the creator leaves the bus as it shuts it down: its connect() says why, as every other thread's does)
    if (!e.joined) throw this.leftError('connect');
    const o = options<ConnectOptions>('connect', opts, CONNECT_KEYS, "{ description: 'alice' }");
    const poolSize = u32Arg('connect', 'poolSize', o.poolSize, this.limits.poolMax);
    const send = attachArg('connect', 'attachSend', o.attachSend, A.ATTACH_ALL), recv = attachArg('connect', 'attachRecv', o.attachRecv, 0);
    let flags = u32Arg('connect', 'flags', o.flags, 0);
    const description = o.description;
    if (description !== undefined && typeof description !== 'string') {
      throw new BusError(A.EINVAL, 'connect', `description must be a string, got ${kindOf(description)}`);
    }
    const monitor = o.monitor; // (read once: it was read twice before stop 35, an outside audit)
    if (monitor !== undefined && typeof monitor !== 'boolean') {
      throw new BusError(A.EINVAL, 'connect', `monitor must be a boolean, got ${kindOf(monitor)}`);
    }
    const activator = o.activator;
    if (activator !== undefined && typeof activator !== 'string') {
      throw new BusError(A.EINVAL, 'connect', `activator must be a well-known name (a string), got ${kindOf(activator)}`);
    }
    const bp = o.busyPoll; // (read once: a getter runs the caller's code)
    const busyPoll = bp === undefined ? 0 : busyPollArg('connect', bp);
    // (before stop 42 flags' MONITOR made a monitor whatever monitor: false said: an outside audit)
    if (monitor === false && (flags & A.HELLO_MONITOR) !== 0) throw new BusError(A.EINVAL, 'connect', 'monitor: false contradicts flags, which has MONITOR (8): give one of them');
    if (monitor === true) flags = (flags | A.HELLO_MONITOR) >>> 0;
    if (activator !== undefined) flags = (flags | A.HELLO_ACTIVATOR) >>> 0;
    const { u8, u32 } = e, cmd = e.cmd;
    let end = cmd + HELLO.ITEMS;
    if (description !== undefined) {
      const d = encoder.encode(description);
      if (d.length > 4096) throw new BusError(A.ENAMETOOLONG, 'connect', `description ${JSON.stringify(description.slice(0, 64))}… is ${d.length} bytes, longer than ${A.MAX_DESC_LEN}`);
      end = items.putStringItem(u8, u32, end, A.ITEM_CONN_DESCRIPTION, d);
    }
    if (activator !== undefined) {
      const n = encoder.encode(activator);
      if (n.length > 4096) throw new BusError(A.EINVAL, 'connect', `the activator's name ${JSON.stringify(activator.slice(0, 64))}… (${n.length} bytes) is not a well-known name (${NAME_RULE})`);
      checkNotReserved('connect', activator);
      end = items.putStringItem(u8, u32, end, A.ITEM_NAME, n);
    }
    HELLO.encode(u8, u32, cmd, end - cmd, flags, send, recv, poolSize);
    const r = e.hello();
    // the values the core judged, quoted in its failure message
    if (r < 0) throw commandError(u32, cmd, r, 'connect', HELLO.NAME, { desc: description, poolSize, name: activator });
    const slot = r;
    // from here on the core holds a connection: if anything throws before it is handed to
    // the caller (and tracked here), it is closed again
    const gen = e.connGen(slot);
    try {
      const id = HELLO.id(u32, cmd);
      const helloOffset = HELLO.offset(u32, cmd);
      const conn = new Connection(e, slot, id, poolSize, description, this.forget);
      conn.freeOffset(helloOffset); // the BLOOM_PARAMETER slice: the bus already knows them
      if (busyPoll !== 0) conn.busyPoll = busyPoll;
      this.conns.add(conn);
      return conn;
    } catch (err) {
      this.abandon(slot, gen);
      throw err;
    }
  }

  /** Connection.close() tells the bus, which stops tracking it. */
  private readonly forget = (c: Connection): void => { this.conns.delete(c); };

  /**
   * BYEBYE a connection connect() made but could not hand out (best effort: the error that
   * got us here is what the caller sees). Messages another thread managed to queue to the new
   * id meanwhile are dropped first, and a send into it that another thread has in flight
   * (microseconds) is waited out, for up to a second; a published HELLO slice goes with the pool.
   */
  private abandon(slot: number, gen: number): void {
    const e = this.engine, u32 = e.u32;
    const until = performance.now() + 1000;
    try {
      const cmd = e.cmd;
      for (;;) {
        BYEBYE.encode(u32, cmd);
        if (e.byebye(slot, gen) !== -A.EBUSY) return;
        RECV.encode(u32, cmd, A.RECV_DROP, 0);
        while (e.recv(slot, gen) === 0) { /* drop the next one */ }
        if (performance.now() > until) return;
      }
    } catch {
      // this thread was declared dead meanwhile: its recoverer closes the connection
    }
  }

  /** What JSON.stringify shows (not the engine and its memory: an outside audit, stop 38). */
  toJSON(): Record<string, unknown> {
    return {
      engine: this.engine.kind, joined: this.engine.joined, isShutdown: this.isShutdown,
      limits: this.limits, bloom: this.bloom, connections: this.connections.map((c) => c.id),
    };
  }

  /** What console.log / util.inspect show: Bus and toJSON()'s fields (js/inspect.ts). */
  [INSPECT](depth: number, options: unknown, inspect: unknown): string | Record<string, unknown> {
    return inspected('Bus', this.toJSON(), depth, options, inspect);
  }

  /** Connections of this Bus object that are still open (closed ones are dropped at close()). */
  get connections(): Connection[] {
    return [...this.conns].filter((c) => !c.closed);
  }

  /**
   * CONN_INFO by id (Connection.info), answered through one of this Bus object's open
   * connections on this thread (the answer is a slice in its pool): EBADF when there is none.
   */
  connectionInfo(id: number | string, opts?: InfoOptions): ConnectionInfo {
    const c = this.anyConnection('connectionInfo');
    try {
      return c.info(id, opts);
    } catch (err) {
      throw err instanceof BusError ? relabel('connectionInfo', err) : err; // (its errors name this method)
    }
  }

  /** BUS_CREATOR_INFO (Connection.creatorInfo), answered like connectionInfo. */
  creatorInfo(opts?: InfoOptions): ConnectionInfo {
    return this.anyConnection('creatorInfo').creatorInfo(opts);
  }

  private anyConnection(op: string): Connection {
    for (const c of this.conns) if (!c.closed) return c;
    // (after bus.shutdown() no connection can be made: say so, not "connect() first": an outside audit, stop 24)
    if (!this.engine.joined || this.isShutdown) throw this.leftError(op);
    throw new BusError(A.EBADF, op, 'needs an open connection of this Bus object (its pool receives the answer): connect() first');
  }

  /**
   * What a method of a Bus that cannot run commands any more throws: ESHUTDOWN once the bus
   * was shut down (the creator's Bus leaves the bus with bus.shutdown(); no thread can
   * connect), else EBADF (this Bus left with bus.close()).
   */
  private leftError(op: string): BusError {
    if (this.isShutdown) return shutdownError(op, this.creator ? 'the bus was shut down (bus.shutdown(), which left the bus on this thread)' : 'the bus was shut down (bus.shutdown())');
    return new BusError(A.EBADF, op, 'the bus is closed on this thread (bus.close())');
  }

  /** Leave the bus on this thread (open connections of this thread must be closed first). */
  close(): void {
    if (!this.engine.joined) return;
    notInCommand(); // (from a provider in the middle of a command: EBUSY, nothing changed; stop 42)
    // the user's connections first (EBUSY changes nothing); then the waits of bus.waitForName
    // end (ECONNRESET): their connections are the library's
    const open = this.connections.filter((c) => !S.isNameWait(c));
    if (open.length) throw new BusError(A.EBUSY, 'Bus.close', `${open.length} connection(s) still open`);
    for (const c of this.connections) if (S.isNameWait(c)) S.closeNameWait(c, true);
    if (this.connections.length) throw new BusError(A.EBUSY, 'Bus.close', `${this.connections.length} connection(s) still open`);
    const token = this.engine.threadToken, u32 = this.engine.u32, slot = this.engine.threadSlot;
    // (its liveness word first: from here on a watch of this thread treats it as one without
    // a lock, and finds it gone at its next look, in the left table)
    // (only while the slot is still this thread's, its token in it, and each word only if it
    // holds this thread's value: a thread declared dead leaves a slot that another thread may
    // have joined by now, whose words these would wipe (a value compare alone cannot tell two
    // Deno web Workers, or two joins of one thread, apart), and a watch would then recover that
    // live thread: outside audits, stop 53; its recoverer cleared its words)
    const words = slot >= 0 && this.engine.threadAddr !== 0 ? livenessWords(u32, slot) : null;
    if (words !== null) { clearLiveness(u32, slot, token); clearOsThread(u32, slot, osThreadId()); clearWorkerThread(u32, slot, Math.max(workerThread(), 0)); }
    // (this thread's waits for turns in receivers' lines that are still parked: off their counts
    // before the thread can exit with them, host/turns.ts)
    endTurnParks(this.engine.i32);
    let r: number;
    try {
      r = this.engine.threadLeave();
      // (a connection another thread closed keeps this thread's staging slices, its lock taken
      // at that moment, R_LEAVE_STAGING_LOCK: left again after a short wait, a synchronous
      // command's lock wait at most: PAGE_LOCK_WAIT_MS on a thread that may not block, whose
      // waits spin; it was LOCK_WAIT_MS everywhere before stop 71, a second's spin on a page: a
      // review)
      const waitMs = this.engine.syncLockWaitMs;
      for (const start = performance.now(); r === -A.EBUSY && this.leaveWaitsForLock() && performance.now() - start < waitMs;) r = this.engine.threadLeave();
    } catch (err) {
      if (words !== null) this.restoreWords(slot, token, words);
      throw err;
    }
    // still joined (EBUSY, EINPROGRESS: a raw send of this thread reserved): its liveness words
    // back, so that a watch still knows it (a later close() leaves; before stop 71 the thread
    // stayed joined with them cleared: reviews), while the slot is still this thread's
    if (r < 0 && r !== -A.ESRCH && words !== null) this.restoreWords(slot, token, words);
    // the slot is free (or was recovered): the liveness lock goes after it (watchLock); a clean
    // leave goes into the left table first, for a watch that never saw this thread joined
    if (r >= 0) recordLeft(u32, token);
    if (r >= 0 || r === -A.ESRCH) { this.liveness?.(); this.liveness = null; }
    // this Bus's watchLock()s end now, EBADF (a watch waiting for a live worker's lock stayed
    // pending until that worker ended, before stop 25: an outside audit in Chromium); after
    // bus.shutdown() they go on, and say what each worker did (API.md)
    if (!this.engine.joined && !this.isShutdown) for (const end of [...this.lockWatches]) end();
    // a thread that was already told it was recovered (its commands threw ECONNRESET) leaves quietly
    if (r === -A.ESRCH && this.engine.lost) return;
    if (r === -A.ESRCH) throw new BusError(A.ECONNRESET, 'Bus.close', 'this thread was recovered by another one (declared dead) and has left the bus');
    check(r, 'Bus.close');
  }

  /** A leave that failed: the liveness words it cleared put back, if the slot is still this thread's (LIVE, its token). */
  private restoreWords(slot: number, token: number, words: [number, number, number]): void {
    const t = this.engine.threadAddr, u32 = this.engine.u32;
    if (t === 0 || !this.engine.joined) return;
    if (Atomics.load(u32, (t + A.THREAD_STATE) >>> 2) !== A.THREAD_LIVE || u32[(t + A.THREAD_TOKEN) >>> 2] !== token >>> 0) return;
    restoreLivenessWords(u32, slot, words);
  }

  /** thread_leave said EBUSY R_LEAVE_STAGING_LOCK: wait a moment for that lock (true), or not that reason (false) */
  private leaveWaitsForLock(): boolean {
    const t = this.engine.threadAddr, u32 = this.engine.u32;
    if (t === 0 || u32[(t + A.THREAD_REASON) >>> 2] !== A.R_LEAVE_STAGING_LOCK) return false;
    const c = this.engine.connAddr(u32[(t + A.THREAD_REASON_ARG) >>> 2]!);
    const w = (c + A.CONN_LOCK) >>> 2, v = Atomics.load(this.engine.i32, w);
    if (v !== 0) this.engine.lockMoved(w, v, A.ASYNC_LOCK_WAIT_MS);
    return true;
  }

  // --- shutdown, statistics and health (evloop issue) ---------------------------------

  /** made by Bus.create on this thread (only that Bus may shut the bus down) */
  private creator = false;

  /** bus.shutdown() was called (by any thread's view of the bus header) */
  get isShutdown(): boolean {
    return isShutdown(this.engine.u32);
  }

  /**
   * End the bus, for every thread (the creator's Bus only). Sets the bus header's shutdown
   * flag, after which HELLO, SEND and RECV fail with ESHUTDOWN on every thread; wakes every
   * receiver of every connection (a pending recvAsync / recvWait / iterator fails with
   * ESHUTDOWN, and its keep-alive is released); then closes this thread's connections
   * (queued messages are dropped) and leaves the bus. Other threads close their connections
   * (close() drops what is queued) and leave (bus.close()); once all have, the memory can be
   * dropped. Calling it again is a no-op.
   */
  shutdown(): void {
    const e = this.engine;
    if (!this.creator) throw new BusError(A.EPERM, 'Bus.shutdown', 'only the Bus that created the bus (Bus.create) may shut it down; other threads leave with bus.close()');
    if (!e.joined) {
      if (this.isShutdown) return;
      throw new BusError(A.EBADF, 'Bus.shutdown', 'the bus is closed on this thread');
    }
    // from a provider in the middle of a command: EBUSY before the flag is set (it set the flag
    // and woke every waiter, then failed with a misleading EBUSY, before stop 42: an outside audit)
    notInCommand();
    // a creator declared dead shuts nothing down: ECONNRESET, as every method of a thread that
    // was (it shut the bus down for every live thread before stop 53: an outside audit)
    e.checkAlive();
    Atomics.store(e.u32, (A.BUS_BASE + A.BUS_SHUTDOWN) >>> 2, 1);
    const n = e.u32[(A.BUS_BASE + A.BUS_N_CONNS) >>> 2];
    for (let s = 0; s < n; s++) {
      const c = e.connAddr(s);
      bump(e.i32, (c + A.CONN_WAKE) >>> 2, (c + A.CONN_SLEEPERS) >>> 2); // receivers (recvAsync, recvWait, iterators, calls)
      // senders waiting for room: the space word moves too (it counts releases: one more is
      // a release to its readers, who try, and find the flag), so that a wait about to park
      // with the value its failed try saw does not sleep through this wake-up (a notify alone
      // left such a wait asleep until its periodic check, ALIVE_CHECK_MS later: an outside
      // reading, stop 64). Senders waiting for their turn in a receiver's line: woken (the
      // word keeps its value: it counts served tickets), they find the flag
      bump(e.i32, (c + A.CONN_SPACE) >>> 2, (c + A.CONN_SPACE_SLEEPERS) >>> 2);
      notifyWord(e.i32, (c + A.CONN_TURN_SERVING) >>> 2, (c + A.CONN_TURN_SLEEPERS) >>> 2);
    }
    let first: unknown = null;
    for (const c of this.connections) {
      try { c.close(); } catch (err) { first ??= err; }
    }
    // (the shutdown itself is done: the flag is set and every waiter woken; said as
    // Bus.shutdown's, not as the close() of the connection that failed, "close: EDEADLK: BYEBYE:
    // ... having changed nothing", which read as if nothing had happened: an outside audit, stop 40)
    if (first instanceof BusError) {
      throw new BusError(first.errno, 'Bus.shutdown', `the bus is shut down (every waiter woken), but a connection of this thread could not be closed (${first.message}): call shutdown() again once the thread holding its lock is recovered`, first.reason);
    }
    // (a provider's own error, from a close's clock read, or a trap: said as Bus.shutdown's too,
    // with it as the cause; it came out raw, as if nothing had happened, before stop 45: an
    // outside audit; it blamed the provider for a trap too before stop 49)
    if (first) {
      throw new BusError(A.EBUSY, 'Bus.shutdown', `the bus is shut down (every waiter woken), but a connection of this thread could not be closed: its close threw ${first instanceof Error ? `"${first.message}"` : String(first)} (the cause: a provider's own error, or a trap of the core, a core bug): call shutdown() again`, 0, { cause: first });
    }
    this.close();
  }

  /**
   * Run `fn` with this thread's message wakes on this bus deferred, and return what it
   * returns: each receiver that was parked when `fn` published a message to it is notified
   * once, when `fn` returns or throws (and before any wait of this thread that blocks or
   * spins inside it), instead of at each message. The messages themselves are delivered as
   * always, at each send; only the notify of a parked receiver waits. Nested calls: the
   * outermost pays. API.md, "bus.batch".
   */
  batch<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw new BusError(A.EINVAL, 'Bus.batch', `fn must be a function (the sends whose wake-ups to batch), got ${kindOf(fn)}`);
    const e = this.engine;
    if (!e.joined || this.isShutdown) throw this.leftError('Bus.batch');
    // (from a provider in the middle of a command: EBUSY, as every command; the batch's start
    // and end run the core's owed_pay, which must not run inside another command)
    notInCommand();
    if (deferring(e)) return fn(); // (nested: the outermost batch pays)
    deferOn(e);
    try {
      return fn();
    } finally {
      deferOff(e);
    }
  }

  /** Statistics of the whole bus (every thread's connections): see js/health.ts, BusStats. */
  stats(): BusStats {
    return busStats(this.engine);
  }

  /**
   * The consistency check of the whole bus state: a list of broken invariants, empty when
   * the bus is consistent. Run it on a quiet bus; `locksFree: false` skips the check that no
   * lock is held (for a bus other threads are using).
   */
  check(opts?: { locksFree?: boolean | undefined }): string[] {
    const o = options<{ locksFree?: boolean }>('Bus.check', opts, ['locksFree'] as const, '{ locksFree: false }');
    return checkBus(this.engine, { locksFree: optBoolean('Bus.check', 'locksFree', o.locksFree) });
  }

  /** `using bus = …` (where the runtime has Symbol.dispose): close(). */
  declare [Symbol.dispose]: () => void;
  // names issue (js/names.ts): answered through one of this thread's open connections, or a
  // short-lived one when there is none
  private withConn<T>(op: string, f: (c: Connection) => T): T {
    const open = this.connections[0];
    if (open) return f(open);
    // (after bus.close() the short-lived connection cannot be made: said in this method's name)
    if (!this.engine.joined) throw this.leftError(op);
    let c: Connection;
    try {
      // (a pool of pool_max bytes, the region its slot has anyway (DIFFERENCES A3): a LIST of
      // every name is its answer; 64 KiB held about 800 names, and the look-ups failed EXFULL
      // on a bus with more, before stop 65: an outside reading)
      c = this.connect({ poolSize: this.limits.poolMax });
    } catch (err) {
      // its failure (ENFILE: every connection slot taken) is this method's, not a connect()
      // the caller never made (said "connect:" before stop 41, where waitForName said its own
      // op: an outside audit)
      throw err instanceof BusError ? relabel(op, err) : err;
    }
    // closed with what was queued to it (a peer that greets every new id: BYEBYE's EBUSY
    // replaced the answer, and the connection stayed open, before stop 65: an outside reading);
    // a failing close does not hide the answer or its error
    let ok = false, r: T;
    try { r = f(c); ok = true; } finally {
      try { c.close({ drop: true }); } catch (err) { if (ok) throw err instanceof BusError ? relabel(op, err) : err; }
    }
    return r;
  }
  /** The id of the primary owner of `name`, or null. */
  getNameOwner(name: string): number | null { return this.withConn('getNameOwner', (c) => c.getNameOwner(name)); }
  nameHasOwner(name: string): boolean { return this.withConn('nameHasOwner', (c) => c.nameHasOwner(name)); }
  /** Well-known names with an owner, sorted. */
  listNames(): string[] { return this.withConn('listNames', (c) => c.listNames()); }
  /** Names that have an activator (LIST_ACTIVATORS), sorted. */
  listActivatableNames(): string[] { return this.withConn('listActivatableNames', (c) => c.listActivatableNames()); }
  /** Ids of the bus's connections (monitors excepted; activators included), ascending. */
  listPeers(): number[] {
    // (a short-lived connection made for the listing is not a peer: it is closed by the time this returns)
    const temp = this.connections.length === 0;
    return this.withConn('listPeers', (c) => temp ? c.listPeers().filter((id) => id !== c.id) : c.listPeers());
  }
  // signals issue (js/signals.ts)
  /**
   * Resolves with the owner's id once `name` has one: getNameOwner first, then NAME_ADD /
   * NAME_CHANGE notifications on a short-lived connection of its own. Rejects with ETIMEDOUT
   * after `timeout` ms (default 30000), ECANCELED when `signal` aborts.
   */
  waitForName(name: string, opts?: S.WaitForNameOptions): Promise<number> {
    // (pool_max: its look-ups LIST every name, as withConn's)
    return S.waitForNameOn(this.engine, () => this.connect({ poolSize: this.limits.poolMax, description: 'waitForName' }), name, opts);
  }

  // --- dead workers on every runtime (issue 10 item 5): the Web Locks death signal -----

  /**
   * Recover the thread that joined with `handle`'s token when its liveness lock is released:
   * a browser or Deno web Worker that was terminated, crashed or closed itself (see
   * js/host/liveness.ts). Bus.join takes that lock before the thread slot and holds it until
   * bus.close(); the runtime releases it when the worker's realm ends. Until the thread has
   * taken its lock (its slot holds the token, or the lock is seen held), this looks again every
   * WATCH_LOCK_POLL_MS; then it requests the lock and waits, with no timer, for the grant. A
   * grant is the death signal (never a timeout): it recovers the thread (recoverThread, retried
   * on EDEADLK as in watch()) and resolves { slot } (-1: it had left cleanly). Rejects only for
   * bad arguments (EINVAL) and where the runtime has no Web Locks (EOPNOTSUPP), before it
   * watches; afterwards failures are in `error`. opts.signal stops it ({ slot: -1, aborted }).
   */
  /** The left table's count of entries written (BUS_LEFT_AT): where a recoverFromLoop's tries began. */
  private leftAt(): number {
    return Atomics.load(this.engine.u32, (A.BUS_BASE + A.BUS_LEFT_AT) >>> 2) >>> 0;
  }

  /** Was `token` written into the left table since its count was `at0` (it left cleanly, or was recovered, meanwhile)? */
  private leftSince(token: number, at0: number): boolean {
    const u32 = this.engine.u32, n = u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] * A.LEFT_PER_THREAD;
    const written = (this.leftAt() - at0) >>> 0;
    if (written === 0) return false;
    if (written >= n) return this.leftRecently(token); // (the ring went round: all of it is since)
    const table = u32[(A.BUS_BASE + A.BUS_LEFT) >>> 2] >>> 2;
    for (let k = 0; k < written; k++) if (Atomics.load(u32, table + ((at0 + k) >>> 0) % n) === token >>> 0) return true;
    return false;
  }

  /** Is `token` in the left table (the last n_threads × LEFT_PER_THREAD tokens that left the bus cleanly or were recovered: BUS_LEFT)? */
  private leftRecently(token: number): boolean {
    const u32 = this.engine.u32, n = u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] * A.LEFT_PER_THREAD;
    const at = u32[(A.BUS_BASE + A.BUS_LEFT) >>> 2] >>> 2;
    for (let i = 0; i < n; i++) if (Atomics.load(u32, at + i) === token >>> 0) return true;
    return false;
  }

  /** The Web Locks name that the thread joining with `token` holds while it is alive. */
  livenessLockName(token: number): string {
    if (typeof token !== 'number' || !Number.isInteger(token) || token < 1 || token > 0xffffffff) {
      throw new BusError(A.EINVAL, 'livenessLockName', `token must be a thread token (an integer in 1 … 2^32 − 1, handle.token), got ${typeof token === 'number' ? String(token) : kindOf(token)}`);
    }
    return livenessLockName(this.#id128, token, this.livenessKey);
  }

  watchLock(handle: BusHandle | number, opts?: WatchLockOptions): Promise<LockWatchResult> {
    const h = handle as BusHandle | number | null;
    const token = typeof h === 'number' ? h : typeof h === 'object' && h !== null && !isRevoked(h) ? h.token : undefined;
    if (typeof token !== 'number' || !Number.isInteger(token) || token <= CREATOR_TOKEN || token > 0xffffffff) {
      return Promise.reject(new BusError(A.EINVAL, 'watchLock', `handle must be a BusHandle or its token (an integer in 2 … 2^32 − 1), got ${typeof h === 'object' && h !== null && !isRevoked(h) ? `an object whose token is ${typeof token === 'number' ? String(token) : kindOf(token)}` : typeof h === 'number' ? String(h) : kindOf(h)}${token === 1 ? ' (token 1 is the creating thread\'s, which takes no liveness lock: watch(worker, 1) where the worker has an exit event, else recoverThreadAsync(1) once it has ended)' : ''}`));
    }
    let stopped: boolean, signal: AbortSignal | undefined;
    try {
      const o = options<WatchLockOptions>('watchLock', opts, WATCH_LOCK_KEYS, '{ signal }');
      stopped = optBoolean('watchLock', 'stopped', o.stopped) ?? false;
      signal = o.signal;
      // (the check every wait makes: a revoked Proxy threw a TypeError here, and an object with
      // addEventListener alone passed and broke bus.close() later, before stop 48: an outside audit)
      if (signal !== undefined && !isAbortSignal(signal)) {
        throw new BusError(A.EINVAL, 'watchLock', `signal must be an AbortSignal, got ${kindOf(signal)}`);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    // (on a thread declared dead: at once, and no lock requested: as watch, above)
    const dead = this.deadError();
    if (dead !== null) return Promise.resolve({ slot: -1, error: dead });
    const locks = webLocks();
    if (!locks) return Promise.reject(new BusError(A.EOPNOTSUPP, 'watchLock', 'this runtime has no Web Locks (navigator.locks): use watch(worker, handle) with a worker_threads Worker'));
    const name = this.livenessLockName(token);
    return new Promise<LockWatchResult>((resolve) => {
      let done = false, timer: ReturnType<typeof setTimeout> | undefined;
      // the lock request's own signal: the caller's abort, or this Bus's close(), withdraws it
      const request = new AbortController();
      const finish = (r: LockWatchResult) => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.lockWatches.delete(onClose);
        request.abort();
        resolve(r);
      };
      const onAbort = () => finish({ slot: -1, aborted: true });
      const onClose = () => finish({ slot: -1, error: new BusError(A.EBADF, 'watchLock', 'the bus is closed on this thread (bus.close())') });
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.lockWatches.add(onClose);
      let since = 0, left0 = -1;
      const recover = () => {
        if (done) return;
        const ended = this.afterLeft(token, 'watchLock');
        if (ended !== null) return finish(ended);
        if (since === 0) { since = performance.now(); left0 = this.leftAt(); }
        const r = this.recoverFromLoop(token, stopped, since, recover, 'recoverThread', true, left0);
        if (r !== null) finish(r.error === undefined ? { slot: r.slot } : { slot: -1, error: r.error });
      };
      // The grant: the holder's realm ended, or it gave the lock back. A thread that holds the
      // token now without a lock of its own (its liveness word 0) is alive, whoever held the
      // lock: an earlier join of the same token (a web Worker keeps its lock until it ends,
      // after a clean leave too; a forced lock is given back after the leave) made the watch
      // arm, and its grant recovered the thread that joined after it, alive (an outside
      // audit, stop 28). Refused instead, as at a look
      const granted = () => {
        if (done) return;
        const slot = this.threadSlotOf(token);
        if (slot >= 0 && !holdsLiveness(this.engine.u32, slot, token)) return finish({ slot: -1, error: noLivenessLock(token) });
        // no thread holds the token, and none left or was recovered with it: the lock's holder
        // never joined (a join that failed gives its lock back a moment after it reports: a
        // watch that met the lock then resolved { slot: -1 }, and the worker that joined with
        // the token next was never watched, an outside audit, stop 28). Look again
        if (slot < 0 && !this.leftRecently(token) && !this.isShutdown) {
          timer = setTimeout(look, WATCH_LOCK_POLL_MS);
          return;
        }
        recover();
      };
      const arm = () => {
        locks.request(name, { mode: 'exclusive', signal: request.signal }, granted)
          .catch((error: unknown) => finish(signal?.aborted ? { slot: -1, aborted: true } : { slot: -1, error }));
      };
      // The slot first, then the lock: a slot that holds the token means the lock was taken
      // (Bus.join takes it first and bus.close() gives it back last), so from then on the
      // lock is free only once the thread is gone
      let wait = WATCH_LOCK_POLL_MS;
      const look = async () => {
        timer = undefined;
        if (done) return;
        // (after bus.shutdown() this Bus has left: it still watches, and recover() says what
        // the worker did; no thread joins an ended bus any more)
        const ended = !this.engine.joined && this.isShutdown;
        if (!this.engine.joined && !ended) return finish({ slot: -1, error: new BusError(A.EBADF, 'watchLock', 'the bus is closed on this thread') });
        const slot = this.threadSlotOf(token);
        // joined holding its lock (its liveness word says so): from now on the lock is free only once it is gone
        if (slot >= 0 && holdsLiveness(this.engine.u32, slot, token)) return arm();
        // joined without one (its word says so): refused at once, whoever holds a lock of that
        // name (an earlier join of the token, alive: the watch waited for it, an outside audit)
        if (slot >= 0 && joinedWithoutLiveness(this.engine.u32, slot, token)) return finish({ slot: -1, error: noLivenessLock(token) });
        // not joined, and in the left table: it joined and left cleanly (or was recovered) since
        // the watch began or before, whatever holds its lock now (a web Worker or a page keeps a
        // lock it joined with until it ends: the watch waited for that end, an outside audit,
        // stop 28). A watch covers one join: a later join of the token needs a watch of its own
        if (slot < 0 && this.leftRecently(token)) return finish({ slot: -1 });
        let held: boolean;
        try { held = await lockHeld(name); } catch (error) { return finish({ slot: -1, error }); }
        if (done) return;
        if (held) return arm();
        // joined, its word not its token and its lock not held: it joined without a liveness
        // lock (the word is written right after the join, and the lock is taken before it).
        // The grant of a lock nobody holds is immediate: waiting for it declared such a live
        // thread dead and recovered it (an outside audit, stop 26). Refused instead; it lives on
        if (slot >= 0 && this.threadSlotOf(token) === slot && !holdsLiveness(this.engine.u32, slot, token)) {
          return finish({ slot: -1, error: noLivenessLock(token) });
        }
        // gone: nothing to recover on an ended bus. A worker that left says so in the left table;
        // one that never joined, or left no trace, is the shutdown's ESHUTDOWN (it read as a
        // clean leave, before stop 25: an outside audit)
        if (ended) return finish(this.leftRecently(token) ? { slot: -1 } : { slot: -1, error: shutdownError('watchLock', 'the bus was shut down before this worker joined it (or after it left without a trace): nothing to recover on an ended bus') });
        // joined, left cleanly and ended since the last look: its token is in the left table
        // (the slot first: a token that joined again is watched as joined)
        if (this.leftRecently(token) && this.threadSlotOf(token) < 0) return finish({ slot: -1 });
        timer = setTimeout(look, wait);
        wait = Math.min(WATCH_LOCK_POLL_MAX_MS, wait * 1.5);
      };
      void look();
    });
  }
}

defineDispose(Bus.prototype, function (this: Bus) { this.close(); });
