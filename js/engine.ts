// engine: the ABI as TypeScript methods returning numbers, implemented by the wasm core
// and by the TS twin over the same memory layout. Commands are written by the caller into
// `cmd` (this thread's command area) before the call; results come back there too.
import { INSPECT, inspected } from './inspect.ts';
import * as A from './shared/abi.ts';
import * as twin from './twin/index.ts';
import { ABI_FINGERPRINT } from './shared/fingerprint.ts';
import { checkProvider, type Provider } from './host/provider.ts';
import { shown, kindOf, instanceOf, optBoolean } from './args.ts';
import { BusError } from './errno.ts';
import { coreImports } from './host/imports.ts';
import { guard } from './host/guard.ts';
import { osThreadExists } from './host/os-thread.ts';
import { payAll } from './host/owed.ts';
import { canBlock } from './host/wait.ts';
import { parkSave, parkRestore, parkSaveStaged, stagedRestore, type ParkedBroadcast } from './bcast-park.ts';

export type EngineKind = 'wasm' | 'twin';

export interface Engine {
  readonly kind: EngineKind;
  readonly memory: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /**
   * The bus's random key (BusHandle.liveness; '' when a handle had none): tells apart two
   * buses whose id128 is the same (every bus a MockProvider of one seed makes). Set by
   * Bus.create / Bus.join.
   */
  busKey: string;
  /** this thread's slot index (-1 before threadJoin) */
  readonly threadSlot: number;
  /** absolute address of this thread's command area (0 before threadJoin) */
  readonly cmd: number;
  /** joined and not left: there is a command area (cmd throws ECONNRESET once this thread was declared dead; this does not) */
  readonly joined: boolean;
  /** this thread's slot address while it is still this thread's, else 0 (js/host/owed.ts) */
  readonly threadAddr: number;
  /** bus.batch (js/host/owed.ts): the core's owed_pay, the wakes this thread deferred paid and its defer word set to `defer` (0 or 1); nothing once the slot is no longer this thread's (its recovery paid them) */
  payOwed(defer: number): void;

  busMake(cmd: number): number;
  threadJoin(token: number): number;
  threadLeave(): number;
  hello(): number;
  byebye(slot: number, gen: number): number;
  send(slot: number, gen: number): number;
  /**
   * SEND of a message with no host vec (its payload already in shared memory, e.g. in the
   * command area): the core copies it under the receiver's lock, so there is no reservation
   * window and no busy word, as for RECV and FREE. 0 or -errno, never SEND_PENDING: a message
   * with a host vec throws BusError EINVAL, nothing sent (its reservation given back).
   */
  sendInline(slot: number, gen: number): number;
  sendCommit(): number;
  sendCancel(): number;
  /**
   * A staged broadcast set aside in its sender's connection (since stop 70; API.md, "A staged
   * broadcast set aside"): send_aside of the thread's staged broadcast stopped at a receiver's
   * lock (its op none again), send_resume of the one set aside in connection (`slot`, `gen`)
   * (its op OP_BCAST again: send_commit goes on), send_abandon of it (the rest of the receivers
   * do not get it, its slice freed). 0 or -errno; none waits for a lock.
   */
  sendAside(): number;
  sendResume(slot: number, gen: number): number;
  sendAbandon(slot: number, gen: number): number;
  /**
   * Copy `n` bytes at `src` to `dst`, both in this memory (ranges that overlap as memmove):
   * how a send copies a payload that is already in the bus memory (a received message sent
   * on) into its reservation, with the core's memory.copy (assembly/host-copy.ts; V8's
   * TypedArray copies in or out of shared memory are word by word, 4× slower for 64 KiB).
   * Not a command: no lock, no state. False (nothing copied) when a range leaves the memory.
   */
  copyIn(dst: number, src: number, n: number): boolean;
  recv(slot: number, gen: number): number;
  free(slot: number, gen: number): number;
  /** MATCH_ADD / MATCH_REMOVE (the command in this thread's command area): 0 or -errno. */
  matchAdd(slot: number, gen: number): number;
  matchRemove(slot: number, gen: number): number;
  /** UPDATE: change the connection's attach masks (items in the command area) */
  update(slot: number, gen: number): number;
  /** CONN_INFO by id: the answer is a slice in the caller's pool */
  connInfo(slot: number, gen: number): number;
  /** BUS_CREATOR_INFO: the bus creator's snapshot, a slice in the caller's pool */
  busCreatorInfo(slot: number, gen: number): number;
  /**
   * Recover the thread that joined with `token` after it died: undo its half-made command,
   * release its locks, cancel its reserved send, close its connections, free its slot. The
   * core finds the slot by the token and checks it at every step. One thread recovers a
   * thread at a time (-EALREADY while another LIVE thread does). A thread that is still
   * running (Deno runs a terminated worker until its next turn) is given up to
   * RECOVER_BUSY_MS to leave the locks it holds and finish the send it is copying; with
   * `stopped` (the runtime guarantees the thread has stopped, as Node's worker 'exit' event
   * does) recovery does not wait. The slot recovered, or -ESRCH (no slot has that token),
   * -EINVAL (token 0, or the caller's own), -EALREADY, -EDEADLK (a lock it needs stayed held
   * for LOCK_WAIT_MS: call again, the recovery goes on where it stopped).
   */
  /** `since` (performance.now() ms of an event-loop caller's first try): see EngineBase */
  recoverThread(token: number, stopped?: boolean, since?: number): number;
  /** recoverThread(the token in slot `slot`): 0 or -errno (tests; -EINVAL for a bad slot) */
  recover(slot: number, stopped?: boolean): number;
  /** the token this thread joined with (0 before threadJoin) */
  readonly threadToken: number;
  /** the test hooks (fault injection) are compiled into this engine's core */
  readonly hooks: boolean;
  /**
   * Test hook, hooks builds only (`Bus.create({ hooks: true })`; otherwise it throws
   * EOPNOTSUPP): trap at the n-th logged store of this thread's next command (0: off). With
   * `die`, the trap is not unwound: the thread counts as dead (every later call throws) and
   * another thread must recover(slot) it, as after worker.terminate().
   */
  setFault(n: number, die?: boolean): void;

  // counters, read from the shared layout (the same for both engines)
  connAddr(slot: number): number;
  connGen(slot: number): number;
  poolBase(slot: number): number;
  poolUsed(slot: number): number;
  queued(slot: number): number;
  liveConns(): number;
  /** this thread was recovered by another (and was told so: a call threw ECONNRESET), or died in a fault test */
  readonly lost: boolean;
  /** Throws ECONNRESET (op 'engine') once another thread declared this one dead (the event-loop waits call it as they wake). */
  checkAlive(): void;

  // names issue
  /** NAME_ACQUIRE for connection (slot, gen): 0 (return_flags in the command) or -errno */
  nameAcquire(slot: number, gen: number): number;
  /** NAME_RELEASE: 0 or -errno */
  nameRelease(slot: number, gen: number): number;
  /** LIST: 0 (offset, list_size in the command; a slice to FREE) or -errno */
  list(slot: number, gen: number): number;

  // calls issue
  /**
   * CLOCK_MONOTONIC of this thread's provider, in ns (a number: exact below 2^53 ns, 104 days; the real providers' clock counts from 2020, so within about 32 ns),
   * the clock the core compares call deadlines with (each read of a MockProvider advances it).
   */
  monotonicNs(): number;
  /** how long a command waits for a contended lock before EDEADLK, ms (syncLockWaitMs; event-loop waits lower it around their tries) */
  lockWaitMs: number;
  /** what a synchronous command waits for a contended lock: LOCK_WAIT_MS (1 s), or PAGE_LOCK_WAIT_MS (50 ms) on a thread that may not block (a page's main thread spins instead) */
  readonly syncLockWaitMs: number;
  /** contended locks this thread's commands passed over after waiting (a broadcast's receiver, a unicast's monitor) */
  readonly skips: number;
  /** what an event-loop wait's try sets lockWaitMs to: ASYNC_LOCK_WAIT_MS, or SPIN_LOCK_WAIT_MS on a thread that may not block (a page's main thread spins instead) */
  readonly asyncLockWaitMs: number;
  /** the lock word (an index in i32; -1: none) and the value in it that the last command gave up on with EDEADLK after its lock wait (lock-look.ts), or that a parked broadcast stopped at */
  readonly stuckIndex: number;
  readonly stuckValue: number;
  /**
   * emitAsync's broadcast (js/bcast-async.ts), set around its SEND: an in-memory broadcast that
   * stops at a lock still taken after lockWaitMs is set aside (`parked`, js/bcast-park.ts) and
   * SEND returns WOULDBLOCK, instead of passing that receiver over (its loss counted) as
   * emit()'s does once LOCK_WAIT_MS has passed. A staged one (host vecs: its send_commit
   * stops) likewise, its staging slice set aside in its sender's connection (send_aside: the
   * thread's op is none again), since stop 70 (stop 69 gave the slice back and staged it again).
   */
  parkBroadcast: boolean;
  /** the broadcast the last SEND set aside (parkBroadcast), until its caller takes it (null) */
  parked: ParkedBroadcast | null;
  /**
   * SEND again for parked broadcast `p`: it goes on where it stopped, passing over the receiver
   * it stopped at when `skip` (that receiver's loss counted). 0, WOULDBLOCK (parked again,
   * in `parked`, when parkBroadcast is set), or -errno: EINPROGRESS, nothing restored and the
   * slot's words untouched, while a raw send of this thread is reserved (its caller may try
   * again once it is committed or cancelled); EAGAIN, nothing changed, when such a send whose
   * commit gave up (EDEADLK) could not be cancelled first (a lock still taken); the core's
   * other failures. A staged one (`p.staged`) is made the thread's op again (send_resume) and
   * goes on (send_commit); after a failure it is set aside again, whole, the reason words kept
   * for commandError: its caller tries again or ends it (abandonBroadcast).
   */
  resumeBroadcast(p: ParkedBroadcast, skip: boolean): number;
  /**
   * End parked broadcast `p` where it stopped (the receivers from there on do not get it): a
   * staged one's slice, set aside in its sender's connection, is freed (send_abandon; left to
   * that connection's next command that holds its lock when the lock is taken). 0, or -errno
   * (ECONNRESET: the sender closed, which freed it). An in-memory one holds nothing: 0.
   */
  abandonBroadcast(p: ParkedBroadcast): number;
  /** Has lock word `index`, seen holding `value`, moved, or does it within `ms`? (lock-look.ts) */
  lockMoved(index: number, value: number, ms: number): boolean;
}

/** loads of a lock word between clock reads, where a contended lock is spun on */
const SPIN_CLOCK_EVERY = 256;

// command numbers of EngineBase.run: one per core export that runs a command (the retry
// loop, the trap unwinding); `exec` maps each to its export, and an unknown one throws
const OP_SEND = 0, OP_COMMIT = 1, OP_RECV = 2, OP_FREE = 3, OP_HELLO = 4, OP_BYEBYE = 5, OP_CANCEL = 6, OP_RECOVER = 7;
const OP_MATCH_ADD = 8, OP_MATCH_REMOVE = 9;
const OP_NAME_ACQUIRE = 10, OP_NAME_RELEASE = 11, OP_LIST = 12; // names issue
const OP_UPDATE = 13, OP_CONN_INFO = 14, OP_CREATOR_INFO = 15; // metadata issue
const OP_ASIDE = 16, OP_RESUME = 17, OP_ABANDON = 18; // a staged broadcast set aside (assembly/aside.ts)

/** bus.shutdown() was called: the bus header's flag, as any thread sees it */
/**
 * Write `token` into the bus's left table (BUS_LEFT: host words, never journaled): a thread
 * that left cleanly (Bus.close), or one that was recovered (any
 * recoverThread that succeeded). bus.watchLock looks there for a thread it never saw joined:
 * its slot is free and its lock released, and nothing else says it came and went.
 */
export function recordLeft(u32: Uint32Array, token: number): void {
  const n = u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] * A.LEFT_PER_THREAD;
  const at = (Atomics.add(u32, (A.BUS_BASE + A.BUS_LEFT_AT) >>> 2, 1) >>> 0) % n;
  Atomics.store(u32, (u32[(A.BUS_BASE + A.BUS_LEFT) >>> 2] + at * 4) >>> 2, token);
}

/** The index in `u32` of thread slot `slot`'s word of the liveness table (BUS_LIVENESS: host words). */
function livenessIndex(u32: Uint32Array, slot: number): number {
  return (u32[(A.BUS_BASE + A.BUS_LIVENESS) >>> 2] + slot * A.LIVENESS_SIZE) >>> 2;
}

/** The thread that just joined slot `slot` writes its OS thread id (0: not known) into its liveness entry (LIVENESS_OS_THREAD: host/os-thread.ts). */
export function recordOsThread(u32: Uint32Array, slot: number, tid: number): void {
  Atomics.store(u32, livenessIndex(u32, slot) + (A.LIVENESS_OS_THREAD >>> 2), tid >>> 0);
}

/** Thread slot `slot`'s thread with OS thread `tid` left or was recovered: its word goes back to 0 (unless a thread that joined the slot since wrote its own). */
export function clearOsThread(u32: Uint32Array, slot: number, tid: number): void {
  if (tid !== 0) Atomics.compareExchange(u32, livenessIndex(u32, slot) + (A.LIVENESS_OS_THREAD >>> 2), tid >>> 0, 0);
}

/** The thread that just joined slot `slot` writes its worker_threads id + 1 (0: not known) into its liveness entry (LIVENESS_WORKER: bus.watch). */
export function recordWorkerThread(u32: Uint32Array, slot: number, id: number): void {
  Atomics.store(u32, livenessIndex(u32, slot) + (A.LIVENESS_WORKER >>> 2), id >>> 0);
}

/** Thread slot `slot`'s thread with worker thread `id` left or was recovered: its word goes back to 0 (unless a thread that joined the slot since wrote its own). */
export function clearWorkerThread(u32: Uint32Array, slot: number, id: number): void {
  if (id !== 0) Atomics.compareExchange(u32, livenessIndex(u32, slot) + (A.LIVENESS_WORKER >>> 2), id >>> 0, 0);
}

/** The worker_threads id + 1 that thread slot `slot`'s thread wrote (0: not known, or not written yet). */
export function workerThreadOf(u32: Uint32Array, slot: number): number {
  return Atomics.load(u32, livenessIndex(u32, slot) + (A.LIVENESS_WORKER >>> 2));
}

/** The OS thread id that thread slot `slot`'s thread wrote (0: not known, or not written yet). */
export function osThreadOf(u32: Uint32Array, slot: number): number {
  return Atomics.load(u32, livenessIndex(u32, slot) + (A.LIVENESS_OS_THREAD >>> 2));
}

/** The thread that just joined slot `slot` with `token` says whether it holds its liveness lock (BUS_LIVENESS): its token, or its token ^ NO_LIVENESS_LOCK. */
export function recordLiveness(u32: Uint32Array, slot: number, token: number, held: boolean): void {
  Atomics.store(u32, livenessIndex(u32, slot), held ? token >>> 0 : (token ^ A.NO_LIVENESS_LOCK) >>> 0);
}

/** Thread slot `slot`'s thread with `token` left or was recovered: its word goes back to 0 (unless another thread has joined the slot since). */
export function clearLiveness(u32: Uint32Array, slot: number, token: number): void {
  const i = livenessIndex(u32, slot);
  Atomics.compareExchange(u32, i, token >>> 0, 0);
  Atomics.compareExchange(u32, i, (token ^ A.NO_LIVENESS_LOCK) >>> 0, 0);
}

/** Did the thread that joined slot `slot` with `token` say that it holds no liveness lock (false too before it wrote its word)? */
export function joinedWithoutLiveness(u32: Uint32Array, slot: number, token: number): boolean {
  return Atomics.load(u32, livenessIndex(u32, slot)) === (token ^ A.NO_LIVENESS_LOCK) >>> 0;
}

/** Does the thread that joined slot `slot` with `token` hold a liveness lock, by its word (false too in the moment after its join, before it wrote it)? */
export function holdsLiveness(u32: Uint32Array, slot: number, token: number): boolean {
  return Atomics.load(u32, livenessIndex(u32, slot)) === token >>> 0;
}

/** Thread slot `slot`'s liveness entry's words (liveness, OS thread, worker), as a leave about to clear them finds them. */
export function livenessWords(u32: Uint32Array, slot: number): [number, number, number] {
  const i = livenessIndex(u32, slot);
  return [Atomics.load(u32, i), Atomics.load(u32, i + (A.LIVENESS_OS_THREAD >>> 2)), Atomics.load(u32, i + (A.LIVENESS_WORKER >>> 2))];
}

/** A leave that failed (the thread is still joined): its words back where the leave cleared them (and nobody wrote since). */
export function restoreLivenessWords(u32: Uint32Array, slot: number, w: [number, number, number]): void {
  const i = livenessIndex(u32, slot);
  Atomics.compareExchange(u32, i, 0, w[0]);
  Atomics.compareExchange(u32, i + (A.LIVENESS_OS_THREAD >>> 2), 0, w[1]);
  Atomics.compareExchange(u32, i + (A.LIVENESS_WORKER >>> 2), 0, w[2]);
}

export function isShutdown(u32: Uint32Array): boolean {
  return Atomics.load(u32, (A.BUS_BASE + A.BUS_SHUTDOWN) >>> 2) !== 0;
}

/** The command area of thread slot 0, known before the bus exists (BUS_MAKE's command must lie in it: abi's MAKE_CMD_AREA). */
export const MAKE_CMD_ADDR = A.MAKE_CMD_AREA;

/** Memory pages for a bus with these limits (the layout end, rounded up, plus `spare`). */
export function busPages(layoutEnd: number, spareBytes = 0): number {
  // (checked since stop 48: busPages('x') was NaN, an outside audit)
  if (typeof layoutEnd !== 'number' || !Number.isInteger(layoutEnd) || layoutEnd < 0) throw new BusError(A.EINVAL, 'busPages', `layoutEnd must be a non-negative integer, got ${typeof layoutEnd === 'number' ? String(layoutEnd) : kindOf(layoutEnd)}`);
  if (typeof spareBytes !== 'number' || !Number.isInteger(spareBytes) || spareBytes < 0) throw new BusError(A.EINVAL, 'busPages', `spareBytes must be a non-negative integer, got ${typeof spareBytes === 'number' ? String(spareBytes) : kindOf(spareBytes)}`);
  return Math.ceil((layoutEnd + spareBytes) / A.WASM_PAGE);
}

function layoutArg(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new BusError(A.EINVAL, 'busLayout', `${name} must be an integer in 0 … 2^32 − 1, got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
}

/** End of the bus state for these limits (0: it does not fit in 4 GiB): the core's own computation. */
export function busLayout(nThreads: number, nConns: number, poolMax: number, nNames: number, nMatches: number, nReplies: number, bloomSize: number): number {
  // (checked since stop 48, each a u32 as the core takes it: busLayout(-1, …) read -1 as 2^32 − 1)
  layoutArg('nThreads', nThreads); layoutArg('nConns', nConns); layoutArg('poolMax', poolMax); layoutArg('nNames', nNames);
  layoutArg('nMatches', nMatches); layoutArg('nReplies', nReplies); layoutArg('bloomSize', bloomSize);
  return twin.twinRelease.bus_layout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize) >>> 0;
}

const BUSY_TEXT = 'a bus command cannot start while another one runs on this thread (a provider or callback called the bus from inside a command)';

/** EBUSY (op engine) while a command of this thread runs: for Bus methods that change things before their first command (close, shutdown). */
export function notInCommand(): void {
  if (guard.running) throw new BusError(A.EBUSY, 'engine', BUSY_TEXT);
}

/**
 * An engine's memory: a shared WebAssembly.Memory that can hold a bus (it reaches past
 * BUS_BASE), else EINVAL naming the rule (the twin took any memory and failed at its first
 * command, the wasm core threw a raw LinkError: an outside audit, stop 38).
 */
function checkMemory(op: string, memory: unknown): void {
  if (!instanceOf(memory, WebAssembly.Memory)) throw new BusError(A.EINVAL, op, `memory must be a WebAssembly.Memory, got ${kindOf(memory)}`);
  if (Object.prototype.toString.call(memory.buffer) !== '[object SharedArrayBuffer]') {
    throw new BusError(A.EINVAL, op, 'memory must be shared (new WebAssembly.Memory({ initial, maximum, shared: true })): every thread runs the core on it');
  }
  if (memory.buffer.byteLength <= A.BUS_BASE) {
    throw new BusError(A.EINVAL, op, `memory is ${memory.buffer.byteLength} bytes: a bus starts at BUS_BASE (${A.BUS_BASE}) and needs busPages(limits) pages`);
  }
}

abstract class EngineBase {
  abstract readonly kind: EngineKind;
  abstract readonly hooks: boolean;
  readonly memory: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  threadSlot = -1;
  busKey = '';
  /** this thread's command area (0 before join); `cmd` hands it out */
  protected cmdAddr = 0;
  /** What JSON.stringify shows (not the memory, byte by byte: an outside audit, stop 38). */
  toJSON(): Record<string, unknown> {
    return { kind: this.kind, threadSlot: this.threadSlot, memoryBytes: this.u8.length };
  }
  /** What console.log / util.inspect show: the class name and toJSON()'s fields (js/inspect.ts). */
  [INSPECT](depth: number, options: unknown, inspect: unknown): string | Record<string, unknown> {
    return inspected(this.kind === 'wasm' ? 'WasmEngine' : 'TwinEngine', this.toJSON(), depth, options, inspect); // (not constructor.name: a bundler renames classes)
  }

  /**
   * This thread's command area, where the host writes a command before running it. Read
   * while one of this thread's commands runs (from a provider the core called, say), it
   * throws EBUSY: a command written there then would overwrite the running one's.
   */
  get cmd(): number {
    if (guard.running) throw new BusError(A.EBUSY, 'engine', BUSY_TEXT);
    // the one gate to the area: a thread declared dead writes nothing more there, since its
    // thread slot, and the area with it, may be another thread's by now (stop-22 audits: a
    // zombie's HELLO or SEND, encoded before the engine refused it, broke the next worker
    // that joined into its slot). (`joined` says whether there is an area, without this check.)
    if (this.cmdAddr !== 0) this.checkAlive();
    return this.cmdAddr;
  }
  /** joined the bus, and not left it (bus.close()): there is a command area, this thread's or, once declared dead, no longer */
  get joined(): boolean { return this.cmdAddr !== 0; }
  /**
   * This thread's slot address while the slot is still this thread's (joined, LIVE with its
   * token and its join generation: alive()), else 0: what a batch's deferred wakes are kept in
   * (js/host/owed.ts) and whose liveness words Bus.close clears, never written once the slot
   * may be another thread's. (The token alone before stop 65: a recovered thread's batch, its
   * handle reused by a new thread in the same slot, set the new thread's defer word, whose
   * sends to parked receivers then waited for that batch's end: an outside reading.)
   */
  get threadAddr(): number {
    if (this.cmdAddr === 0) return 0;
    return this.alive() ? this.cmdAddr - A.THREAD_CMD : 0;
  }

  payOwed(defer: number): void {
    if (this.threadAddr === 0) return;
    this.bind();
    this.x.owed_pay(defer);
  }

  constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
    this.u8 = new Uint8Array(memory.buffer);
    this.u32 = new Uint32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.canBlock = canBlock(this.i32, 0);
    this.lockWaitMs = this.syncLockWaitMs;
  }

  /** this thread may block in Atomics.wait (a browser main thread may not: it spins) */
  private canBlock: boolean;
  /** what an event-loop wait's try sets lockWaitMs to (docs/API.md, EDEADLK) */
  get asyncLockWaitMs(): number { return this.canBlock ? A.ASYNC_LOCK_WAIT_MS : A.SPIN_LOCK_WAIT_MS; }
  /** what a synchronous command waits for a contended lock before EDEADLK: LOCK_WAIT_MS, or PAGE_LOCK_WAIT_MS on a thread that may not block (docs/API.md, EDEADLK) */
  get syncLockWaitMs(): number { return this.canBlock ? A.LOCK_WAIT_MS : A.PAGE_LOCK_WAIT_MS; }
  /** times a command found a lock contended and this thread waited (a counter for tests) */
  lockWaits = 0;
  /**
   * Contended locks this thread's commands gave up waiting for and passed over (a broadcast's
   * receiver, a monitor of a unicast: skipReceiver): an event-loop send that went through this
   * way met a stuck lock all the same (Connection.sendWent)
   */
  skips = 0;
  /** how long a command waits for a contended lock before EDEADLK, ms (syncLockWaitMs; event-loop waits set asyncLockWaitMs around their tries; docs/API.md, "Engines") */
  lockWaitMs: number;

  /** undo and unlock after a trap inside the core (engine-specific entry point) */
  protected abstract unwindCore(): number;
  /** the core's exports: the wasm instance's, or the twin's with the same names */
  protected abstract readonly x: twin.CoreExports;
  /** make the core ready to run a command on this thread (the twin binds its memory) */
  protected bind(): void {}

  /** one attempt at command `op` (no closures: this is the per-message path) */
  protected exec(op: number, a: number, b: number): number {
    this.bind();
    const x = this.x;
    switch (op) {
      case OP_SEND: return x.send(a, b);
      case OP_COMMIT: return x.send_commit();
      case OP_RECV: return x.recv(a, b);
      case OP_FREE: return x.free(a, b);
      case OP_HELLO: return x.hello();
      case OP_BYEBYE: return x.byebye(a, b);
      case OP_CANCEL: return x.send_cancel();
      case OP_RECOVER: return x.recover(a, this.force());
      case OP_MATCH_ADD: return x.match_add(a, b);
      case OP_MATCH_REMOVE: return x.match_remove(a, b);
      case OP_NAME_ACQUIRE: return x.name_acquire(a, b);
      case OP_NAME_RELEASE: return x.name_release(a, b);
      case OP_LIST: return x.list(a, b);
      case OP_UPDATE: return x.update(a, b);
      case OP_CONN_INFO: return x.conn_info(a, b);
      case OP_CREATOR_INFO: return x.bus_creator_info(a, b);
      case OP_ASIDE: return x.send_aside();
      case OP_RESUME: return x.send_resume(a, b);
      case OP_ABANDON: return x.send_abandon(a, b);
      default: throw unknownOp(op);
    }
  }

  hello(): number { return this.run(OP_HELLO, 0, 0); }
  update(slot: number, gen: number): number { return this.run(OP_UPDATE, slot, gen); }
  connInfo(slot: number, gen: number): number { return this.run(OP_CONN_INFO, slot, gen); }
  busCreatorInfo(slot: number, gen: number): number { return this.run(OP_CREATOR_INFO, slot, gen); }
  byebye(slot: number, gen: number): number { return this.run(OP_BYEBYE, slot, gen); }
  /**
   * SEND, send_commit and send_cancel mark the thread slot busy from the SEND to the end of
   * its reservation: the host copies payload bytes into a reserved slice in between, with no
   * lock held, and a thread declared dead meanwhile (a Deno worker runs on after terminate())
   * must not copy into a slice that recovery has freed. recover() waits while the slot is
   * busy; the thread checks, once busy, that it is still alive (a Dekker handshake: both
   * sides store, then load, with sequentially consistent atomics).
   *
   * The word is cleared only when the window has really ended: when the thread's op is back
   * to OP_NONE. A SEND that reserved keeps it set, and so does a send_commit / send_cancel
   * that trapped and was unwound (the undo restores OP_SEND: the reservation still stands and
   * the caller must cancel it). A thread declared dead clears it, so recovery need not wait.
   */
  send(slot: number, gen: number): number {
    if (this.endPending) {
      const c = this.sendEnd(OP_CANCEL); // the send whose commit gave up (EDEADLK) failed
      if (c < 0) return c;
    }
    if (!this.busy(1)) throw this.recovered();
    let r: number;
    try { r = this.run(OP_SEND, slot, gen); } catch (err) { this.endWindow(); throw err; }
    // a SEND that went (0) leaves the op at OP_NONE: the window is over. One that failed may not
    // have: EINPROGRESS, a SEND made while this thread's reservation still stands, leaves that
    // reservation and its op; the word is cleared only once the op is back to none (it was
    // cleared there before stop 48, and a recovery no longer waited for the copy window: an
    // outside audit of the raw ABI)
    if (r === 0) this.endClear();
    else if (r !== A.SEND_PENDING) this.endWindow();
    return r;
  }
  sendInline(slot: number, gen: number): number {
    if (this.endPending) {
      const c = this.sendEnd(OP_CANCEL); // the send whose commit gave up (EDEADLK) failed
      if (c < 0) return c;
    }
    const r = this.run(OP_SEND, slot, gen);
    if (r !== A.SEND_PENDING) return r;
    // the message had a host vector after all (sendInline's rule broken): it reserved a slice
    // outside the busy window that recovery waits on; it is given back and the call refused
    // (it returned SEND_PENDING with no window: an outside audit, stop 38)
    this.sendEnd(OP_CANCEL);
    throw new BusError(A.EINVAL, 'engine', 'sendInline: the message has a host vector (SEND_PENDING: its bytes would be copied after SEND), which only send() can take: nothing was sent');
  }
  sendCommit(): number { return this.sendEnd(OP_COMMIT); }
  copyIn(dst: number, src: number, n: number): boolean {
    // the core's mem_copy takes i32s, which would take each number modulo 2^32 (NaN, a
    // fraction or a string coerced): an address past 4 GiB wrapped to the reserved page, and
    // returned true, before stop 41 (an outside audit). Integers only; one below 0 or from
    // 2^32 on (a memory holds at most 4 GiB) leaves the memory: false, nothing copied, as the
    // core says of the ranges it checks itself.
    if (!(Number.isSafeInteger(dst) && Number.isSafeInteger(src) && Number.isSafeInteger(n))) {
      throw new BusError(A.EINVAL, 'engine', `copyIn: dst, src and n must be integers, got ${shown(dst)}, ${shown(src)}, ${shown(n)}`);
    }
    if ((dst >>> 0) !== dst || (src >>> 0) !== src || (n >>> 0) !== n) return false;
    this.bind();
    return this.x.mem_copy(dst, src, n) !== 0;
  }
  sendCancel(): number {
    // the lock word a failed commit gave up on stays the one its caller watches (lock-look.ts):
    // the cancel, a command of its own, cleared it, and the caller's still-check then never ran
    // (a review of stop 71); a cancel that gives up at a lock of its own says its own
    const i = this.stuckIndex, v = this.stuckValue;
    const r = this.sendEnd(OP_CANCEL);
    if (this.stuckIndex === -1) { this.stuckIndex = i; this.stuckValue = v; }
    return r;
  }
  sendAside(): number {
    let r: number;
    try { r = this.run(OP_ASIDE, 0, 0); } catch (err) { this.endWindow(); throw err; }
    if (r === 0) this.endClear(); // (the op is none: the window is over)
    else if (r === -A.ESRCH && !this.alive()) { this.endClear(); throw this.recovered(); } // (the core wrote no words: the slot is not this thread's)
    return r;
  }
  // (send_resume and send_abandon write their connection's words without its lock: inside the
  // busy window, as a send's copy, so that a recovery of this thread waits for them; a resume
  // that went keeps it, its op a reservation again)
  sendResume(slot: number, gen: number): number {
    if (!this.busy(1)) throw this.recovered();
    let r: number;
    try { r = this.run(OP_RESUME, slot, gen); } finally { this.endWindow(); }
    if (r === -A.ESRCH && !this.alive()) throw this.recovered(); // (the core wrote no words: the slot is not this thread's)
    return r;
  }
  sendAbandon(slot: number, gen: number): number {
    if (!this.busy(1)) throw this.recovered();
    let r: number;
    try { r = this.run(OP_ABANDON, slot, gen); } finally { this.endWindow(); }
    if (r === -A.ESRCH && !this.alive()) throw this.recovered();
    return r;
  }

  /** a commit or cancel gave up on the receiver's lock (EDEADLK): the slice is still reserved */
  private endPending = false;
  private sendEnd(op: number): number {
    this.endPending = false;
    let r: number;
    try { r = this.run(op, 0, 0); } catch (err) { this.endWindow(); throw err; }
    // a staged broadcast stopped at a subscriber's lock (parkStagedStop copied what its delivery
    // collected): set aside in its sender's connection, the thread free for other commands; the
    // copy goes on from a timer (send_resume)
    if (r === A.WOULDBLOCK && op === OP_COMMIT && this.parked !== null) {
      let a: number;
      try { a = this.aside(); } catch (err) { this.parked = null; throw err; }
      if (a === 0) return A.WOULDBLOCK;
      this.parked = null;
      return a;
    }
    // declared dead in the send window (its recovery cancelled the reservation): said as such,
    // not as the core's "nothing pending"
    if (r < 0 && r !== -A.EDEADLK && !this.alive()) { this.endClear(); throw this.recovered(); }
    // still reserved: the busy word stays set, and the next send cancels it first; any other
    // result ended the reservation (published, cancelled, or there was none)
    this.endPending = r === -A.EDEADLK;
    if (!this.endPending) this.endClear();
    return r;
  }

  /**
   * send_aside of the thread's staged broadcast (OP_BCAST, not delivered to all): 0, the op
   * none again; else -errno (EBUSY: one is set aside in that connection already; EPERM: the
   * connection is another thread's), the broadcast ended there (cancelled, which never waits:
   * the receivers from its stop on do not get it), the reason words the aside's.
   */
  private aside(): number {
    const r = this.sendAside();
    if (r === 0) return 0;
    const t = this.cmdAddr - A.THREAD_CMD;
    const reason = this.u32[(t + A.THREAD_REASON) >>> 2]!, arg = this.u32[(t + A.THREAD_REASON_ARG) >>> 2]!;
    let c = 0;
    try { c = this.run(OP_CANCEL, 0, 0); } catch { /* recovered meanwhile: its recovery cancels */ }
    // (a cancel that gave up leaves the reservation: the next send cancels it first)
    this.endPending = c === -A.EDEADLK;
    this.endWindow();
    this.u32[(t + A.THREAD_REASON) >>> 2] = reason;
    this.u32[(t + A.THREAD_REASON_ARG) >>> 2] = arg;
    return r;
  }

  /** The window is known to be over (the op is back to none): clear the busy word, if the slot is still ours. */
  private endClear(): void {
    if (this.cmdAddr === 0 || this.faultDeath) return;
    if (Atomics.load(this.u32, (this.cmdAddr - A.THREAD_CMD + A.THREAD_TOKEN) >>> 2) !== this.token) return;
    this.busy(0);
  }

  /**
   * After a send-window call (returned or thrown): clear the busy word unless this thread
   * still has a send reserved. A slot that is no longer this thread's (recovered, and maybe
   * joined by another thread since) is left alone, and so is the word of a thread that died
   * inside the core (fault injection), as a real death leaves it.
   */
  private endWindow(): void {
    // (a thread told it was recovered clears its word too, so that a recovery waiting on it
    // goes on at once: only a death by fault injection leaves it, as a real death does)
    if (this.cmdAddr === 0 || this.faultDeath) return;
    const t = this.cmdAddr - A.THREAD_CMD;
    if (Atomics.load(this.u32, (t + A.THREAD_TOKEN) >>> 2) !== this.token) return;
    if (this.alive() && Atomics.load(this.u32, (t + A.THREAD_OP) >>> 2) !== A.OP_NONE) return;
    this.busy(0);
  }

  /** Set this thread's busy word; false (busy cleared, a waiting recovery woken) if it was declared dead. */
  private busy(v: number): boolean {
    if (this.cmdAddr === 0) return true;
    const t = (this.cmdAddr - A.THREAD_CMD) >>> 2;
    Atomics.store(this.i32, t + (A.THREAD_BUSY >>> 2), v);
    if (this.alive()) return true;
    Atomics.store(this.i32, t + (A.THREAD_BUSY >>> 2), 0);
    Atomics.notify(this.i32, t + (A.THREAD_BUSY >>> 2));
    return false;
  }

  /**
   * alive(), as the gate of every command reads it (checkAlive: cmd, run): plain loads. With
   * Atomics.load, a send + recv + free took 1.13-1.19x as long on one thread, in 4 of 5 runs
   * (seven checks a message; docs/BENCHMARKS.md, stop 23); the gate needs no ordering of its
   * own (a thread declared dead between this look and its write is the window API.md names),
   * while the busy word's handshake (busy) keeps its sequentially consistent loads.
   */
  private mine(): boolean {
    const t = this.cmdAddr - A.THREAD_CMD;
    return this.u32[(t + A.THREAD_STATE) >>> 2] === A.THREAD_LIVE && this.u32[(t + A.THREAD_TOKEN) >>> 2] === this.token &&
      this.u32[(t + A.THREAD_JOIN_GEN) >>> 2] === this.joinGen;
  }

  /** Is this thread's slot still its own: LIVE, with the token it joined with, and no thread joined it since (its join generation)? */
  protected alive(): boolean {
    if (this.cmdAddr === 0) return true;
    const t = this.cmdAddr - A.THREAD_CMD;
    return Atomics.load(this.u32, (t + A.THREAD_STATE) >>> 2) === A.THREAD_LIVE && this.u32[(t + A.THREAD_TOKEN) >>> 2] === this.token &&
      Atomics.load(this.u32, (t + A.THREAD_JOIN_GEN) >>> 2) === this.joinGen;
  }


  /** @internal the core's imports ask, after each provider call, before they write into the thread slot (host/imports.ts) */
  slotMine(): boolean { return this.alive(); }

  /**
   * Throw what every engine call of this thread would: the recovery's ECONNRESET once another
   * thread declared it dead (the event-loop waits call this as they wake: a wait for room
   * sleeps on another connection's words, which nothing moves when this thread is recovered).
   */
  checkAlive(): void {
    if (this.dead) throw this.dead;
    if (this.cmdAddr !== 0 && !this.mine()) throw this.recovered();
  }

  /** This thread was recovered by another: every later call fails the same way. */
  protected recovered(): BusError {
    const err = new BusError(A.ECONNRESET, 'engine', 'this thread was recovered by another one (declared dead): it can no longer use the bus');
    this.dead = err;
    return err;
  }
  recv(slot: number, gen: number): number { return this.run(OP_RECV, slot, gen); }
  free(slot: number, gen: number): number { return this.run(OP_FREE, slot, gen); }
  matchAdd(slot: number, gen: number): number { return this.run(OP_MATCH_ADD, slot, gen); }
  matchRemove(slot: number, gen: number): number { return this.run(OP_MATCH_REMOVE, slot, gen); }
  recoverThread(token: number, stopped = false, since = 0): number {
    // `since`: an event-loop caller's first try (watch, watchLock): the dying thread's
    // RECOVER_BUSY_MS count from then, and this try does not wait them out (the caller tries
    // again from its event loop: a page must not block 100 ms)
    this.recoverStart = since > 0 ? since : performance.now();
    this.recoverForce = stopped;
    this.recoverNoWait = since > 0;
    // the dying thread's OS thread, when it wrote one (host/os-thread.ts): force asks about it
    const slot = this.threadSlotOf(token);
    this.recoverSlot = slot;
    this.recoverTid = slot >= 0 ? osThreadOf(this.u32, slot) : 0;
    const worker = slot >= 0 ? workerThreadOf(this.u32, slot) : 0;
    try {
      const r = this.run(OP_RECOVER, token, 0);
      // recovered: a watchLock that never saw it joined finds it gone (its slot free, its
      // lock released by its realm's end), as it finds a clean leave (an outside audit, stop
      // 26: such watches polled for good when another thread recovered the worker first)
      if (r >= 0) { recordLeft(this.u32, token); clearLiveness(this.u32, r, token); clearOsThread(this.u32, r, this.recoverTid); clearWorkerThread(this.u32, r, worker); }
      return r;
    } finally {
      this.recoverNoWait = false;
      this.recoverSlot = -1;
      this.recoverTid = 0;
    }
  }
  /** the thread slot that holds `token` now (-1: none) */
  private threadSlotOf(token: number): number {
    if (token === 0) return -1;
    const u32 = this.u32, n = u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2], base = u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2];
    for (let i = 0; i < n; i++) if (Atomics.load(u32, (base + i * A.THREAD_SIZE + A.THREAD_TOKEN) >>> 2) === token >>> 0) return i;
    return -1;
  }
  recover(slot: number, stopped = false): number {
    const n = this.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2];
    if (!Number.isInteger(slot) || slot < 0 || slot >= n || slot === this.threadSlot) return -A.EINVAL;
    const t = this.u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2] + slot * A.THREAD_SIZE;
    const token = Atomics.load(this.u32, (t + A.THREAD_TOKEN) >>> 2);
    if (token === 0) return -A.ESRCH;
    const r = this.recoverThread(token, stopped);
    return r < 0 ? r : 0;
  }
  get threadToken(): number { return this.token; }
  /** when the current recover() started, for its force deadline */
  protected recoverStart = 0;
  protected recoverForce = false;
  /** this recover() waits for a busy dying thread at most lockWaitMs, not RECOVER_BUSY_MS (an event-loop caller) */
  protected recoverNoWait = false;
  /** the thread slot being recovered, and its OS thread id (0: not known), while recoverThread runs */
  protected recoverSlot = -1;
  protected recoverTid = 0;
  /**
   * Force a recovery (go ahead although the dying thread holds a lock or is in its send
   * window): at once when it is known to have stopped (`stopped`, or its OS thread is gone);
   * while its OS thread is seen still running, once it had RECOVER_RUNNING_MS to leave its
   * command (it will, once the OS runs it again: a recovery that went ahead under such a
   * thread after 100 ms broke the bus, an outside audit, stop 31); else once it had
   * RECOVER_BUSY_MS.
   */
  protected force(): number {
    if (this.recoverForce) return 1;
    const waited = performance.now() - this.recoverStart;
    const runs = osThreadExists(this.recoverTid);
    if (runs === false) return 1;
    return waited > (runs === true ? A.RECOVER_RUNNING_MS : A.RECOVER_BUSY_MS) ? 1 : 0;
  }
  /** This recovery waits for the dying thread itself (a lock it holds, its busy word: assembly/recover.ts, step 3), whose OS thread is seen still running. */
  private waitsOnRunningThread(): boolean {
    if (this.recoverSlot < 0 || this.recoverForce) return false;
    const u32 = this.u32, t = this.cmdAddr - A.THREAD_CMD;
    const addr = u32[(t + A.THREAD_WAIT_ADDR) >>> 2];
    const victim = u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2] + this.recoverSlot * A.THREAD_SIZE;
    const itself = addr === victim + A.THREAD_BUSY || (Atomics.load(u32, addr >>> 2) & A.LOCK_ID_MASK) === this.recoverSlot + 1;
    return itself && osThreadExists(this.recoverTid) === true;
  }

  /**
   * Run a command: a contended lock makes it return WOULDBLOCK having changed nothing, so
   * wait on the lock word and run it again; a trap inside the core is unwound (its half-made
   * change undone, its locks released) and rethrown. The waiting is bounded: -EDEADLK, still
   * having changed nothing, once the lock's holder is not LIVE (it died, and is being or was
   * recovered) or after LOCK_WAIT_MS (a holder that died and whose death has not been
   * declared yet: the caller's event loop must run for that, e.g. to deliver Node's 'exit').
   * A recovery waits for the dying thread (RECOVER_BUSY_MS, then `force`) before that bound.
   */
  /**
   * The guard of a command that is not run()'s (BUS_MAKE, thread_join, thread_leave): EBUSY
   * while another command of this thread runs, else the flag set (the caller clears it). A
   * provider's bus.close() or bus.shutdown() made thread_leave in the middle of a HELLO (the
   * core trapped, the thread had left), and a send from a provider's random() during BUS_MAKE
   * went through (on the twin, its state rebound to the other bus, Bus.create then failed),
   * before stop 42: an outside audit.
   */
  protected enter(): void {
    if (guard.running) throw new BusError(A.EBUSY, 'engine', BUSY_TEXT);
    guard.running = true;
  }

  protected run(op: number, a: number, b: number): number {
    // one command at a time per thread: the core calls the provider (clocks, credentials)
    // in the middle of a command, and a provider that called the bus from there would run a
    // second command on this thread's command area and slot while the first one is half done
    // (guard.ts: one flag for every engine of the thread)
    if (guard.running) throw new BusError(A.EBUSY, 'engine', BUSY_TEXT);
    guard.running = true;
    try {
      const r = this.runOnce(op, a, b);
      if (r !== A.WOULDBLOCK) this.dropSkipRequest();
      return r;
    } finally {
      guard.running = false;
    }
  }

  /**
   * A command ended (not WOULDBLOCK): a pass-over request (BCAST_SKIP) the host wrote for it
   * and that it did not consume is dropped, unless a reservation of the thread is still
   * pending (its op not none: only that reservation's send_commit or send_cancel can read it,
   * and the cancel of a send whose commit gave up at a monitor uses it not to wait there
   * again); a BCAST_WAITING, which says something only of a stop (WOULDBLOCK), is dropped
   * always. Every request is for the next run of the command it was written for; one left (a
   * unicast re-run for its monitor that stopped at its receiver's lock, EDEADLK, before
   * monitorsLock read it) passed over the first receiver of the thread's next broadcast, or
   * the monitors of its next unicast, whose locks were held at that moment; a WAITING left
   * made the next command's give-up at an unrelated lock a pass-over request and a second
   * wait (reviews of stop 71).
   */
  private dropSkipRequest(): void {
    // (one load per command; the slot's owner checked only in the rare case, threadAddr)
    if (this.cmdAddr === 0) return;
    const t = this.cmdAddr - A.THREAD_CMD, w = (t + A.THREAD_BCAST_SKIP) >>> 2, v = this.u32[w];
    if (v === 0 || this.threadAddr === 0) return;
    if (v === A.BCAST_SKIP && Atomics.load(this.u32, (t + A.THREAD_OP) >>> 2) !== A.OP_NONE) return;
    this.u32[w] = 0;
  }

  private runOnce(op: number, a: number, b: number): number {
    // an unknown op throws in exec (its switch default) before anything runs
    let deadline = 0;
    this.stuckIndex = -1;
    /** when the lock's holder was first seen not LIVE (0: not seen) */
    let deadSince = 0;
    /**
     * the receivers' lock words (an index in u32) this command gave up on (BCAST_SKIP), each
     * with the holder it had then: met again held by the same holder (a close's next
     * notification to that receiver), it is passed over at once. Before stop 49 each
     * notification of a close waited LOCK_WAIT_MS again at a receiver whose holder kept its
     * lock (a thread terminated and not yet recovered): 256 names held the bus lock for 257 s;
     * every one of them, not the last only (two stuck receivers: a second each time; outside
     * audits). Made at the first give-up (none on the message path).
     */
    let gaveUp: Map<number, number> | null = null;
    // a thread declared dead runs nothing: the core would take it for the thread that joined
    // its slot since (a zombie's RECOVER claimed the recovery of a live thread: stop-22 audit)
    for (;;) {
      let r: number;
      // (before each try: a command that waited for a lock runs again from its start, and
      // would write its scratch into a slot that may be another thread's by now)
      this.checkAlive();
      try {
        r = this.exec(op, a, b);
      } catch (err) {
        // another thread recovered this one (declared it dead) while it ran on
        if (!this.afterTrap() && !this.alive()) throw this.recovered();
        throw err;
      }
      if (r !== A.WOULDBLOCK) return r;
      if (gaveUp !== null && this.notifyWaiting()) {
        const index = this.u32[(this.cmdAddr - A.THREAD_CMD + A.THREAD_WAIT_ADDR) >>> 2] >>> 2;
        const holder = Atomics.load(this.u32, index) & A.LOCK_ID_MASK;
        if (holder !== 0 && gaveUp.get(index) === holder && this.skipReceiver()) continue;
      }
      const now = performance.now();
      // (a recovery: the dying thread's RECOVER_BUSY_MS first, unless it is known to have stopped)
      if (deadline === 0) deadline = now + (op === OP_RECOVER && !this.recoverForce && !this.recoverNoWait ? A.RECOVER_BUSY_MS : 0) + this.lockWaitMs;
      // a recovery waits on the dying thread's own words: that holder is not LIVE by design
      // (but not when it waits for a receiver of a close's notifications: BCAST_WAITING)
      // a holder that is not LIVE: DEAD_HOLDER_GRACE_MS (abi.ts says why), then give up
      let until = deadline;
      if ((op !== OP_RECOVER || this.notifyWaiting()) && !this.holderLive()) {
        if (deadSince === 0) deadSince = now;
        until = Math.min(deadline, deadSince + A.DEAD_HOLDER_GRACE_MS);
      }
      // (a blocking recovery of a thread still inside a command, whose OS thread still runs:
      // it waits for it past RECOVER_BUSY_MS, up to RECOVER_RUNNING_MS, as force() does)
      if (now >= until && op === OP_RECOVER && !this.recoverNoWait && now - this.recoverStart < A.RECOVER_RUNNING_MS && this.waitsOnRunningThread()) {
        deadline = this.recoverStart + A.RECOVER_RUNNING_MS + this.lockWaitMs;
        until = deadline;
      }
      if (now >= until) {
        // an event-loop broadcast is set aside, for its caller to go on with from a timer
        if (this.parkBroadcast && (op === OP_SEND ? this.park(a, b) : op === OP_COMMIT && this.parkStagedStop())) return A.WOULDBLOCK;
        // a broadcast that stopped at a contended receiver is not failed: that receiver is
        // passed over (its loss counted) and the others get it (assembly/broadcast.ts)
        const waitIndex = this.u32[(this.cmdAddr - A.THREAD_CMD + A.THREAD_WAIT_ADDR) >>> 2] >>> 2;
        const waitValue = Atomics.load(this.u32, waitIndex) & A.LOCK_ID_MASK; // (its holder: the waiters bit comes and goes)
        if (this.skipReceiver()) {
          (gaveUp ??= new Map()).set(waitIndex, waitValue);
        } else {
          const t = this.cmdAddr - A.THREAD_CMD;
          this.stuckIndex = this.u32[(t + A.THREAD_WAIT_ADDR) >>> 2] >>> 2;
          this.stuckValue = this.i32[(t + A.THREAD_WAIT_VAL) >>> 2];
          // the reason words say why, as the core's failures do: without them an earlier
          // failure's reason stayed there, and a broadcast's R_BCAST_BUS_LOCK (EDEADLK too)
          // told this failure's story (an outside audit, stop 35)
          this.u32[(t + A.THREAD_REASON) >>> 2] = A.R_LOCK_WAIT;
          this.u32[(t + A.THREAD_REASON_ARG) >>> 2] = this.stuckValue & A.LOCK_ID_MASK;
          return -A.EDEADLK;
        }
        deadline = 0;
        deadSince = 0;
        continue;
      }
      this.waitLock(until - now);
    }
  }

  parkBroadcast = false;
  parked: ParkedBroadcast | null = null;

  /** Copy out the staged broadcast whose send_commit stopped (parkBroadcast), for aside(); false when the stop is not such a broadcast's. */
  private parkStagedStop(): boolean {
    const t = this.cmdAddr - A.THREAD_CMD;
    const p = parkSaveStaged(this.u8, this.u32, t);
    if (p === null) return false;
    this.stuckIndex = p.waitIndex;
    this.stuckValue = this.i32[(t + A.THREAD_WAIT_VAL) >>> 2];
    this.parked = p;
    return true;
  }

  /** Set the in-memory broadcast SEND (`slot`, `gen`) stopped aside (parkBroadcast); false when the stop is not such a broadcast's. */
  private park(slot: number, gen: number): boolean {
    const t = this.cmdAddr - A.THREAD_CMD;
    const p = parkSave(this.u8, this.u32, t, slot, gen);
    if (p === null) return false;
    this.stuckIndex = p.waitIndex;
    this.stuckValue = this.i32[(t + A.THREAD_WAIT_VAL) >>> 2];
    this.parked = p;
    return true;
  }

  resumeBroadcast(p: ParkedBroadcast, skip: boolean): number {
    if (guard.running) throw new BusError(A.EBUSY, 'engine', BUSY_TEXT);
    this.checkAlive();
    if (this.endPending) {
      // the send whose commit gave up (EDEADLK) failed: cancelled first, with the try's own wait
      // (not a staged commit's synchronous one: it stalled the loop LOCK_WAIT_MS, a fourth review
      // of stop 69); EAGAIN when that met a lock, nothing changed (its caller tries again from a
      // timer)
      const c = this.sendEnd(OP_CANCEL);
      if (c < 0) return c === -A.EDEADLK ? -A.EAGAIN : c;
    }
    const t = this.cmdAddr - A.THREAD_CMD;
    // (a raw SEND of this thread reserved and not yet committed: nothing restored, the raw
    // caller's words left as they are; the core would refuse a SEND now as well)
    if (Atomics.load(this.u32, (t + A.THREAD_OP) >>> 2) !== A.OP_NONE) return -A.EINPROGRESS;
    if (p.staged) return this.resumeStaged(t, p, skip);
    parkRestore(this.u8, this.u32, t, p, skip);
    const r = this.send(p.slot, p.gen);
    // (a pass-over the core refused at the bus lock passed nothing over: its caller tries again)
    if (skip && !(r === -A.EDEADLK && this.u32[(t + A.THREAD_REASON) >>> 2] === A.R_BCAST_BUS_LOCK)) this.skips++;
    return r;
  }

  /**
   * resumeBroadcast of staged broadcast `p` (js/bcast-park.ts): send_resume makes it the
   * thread's op again, its scratch and metadata block are copied back, and send_commit goes on
   * where it stopped. A commit that fails sets it aside again, whole (its caller tries again
   * or abandons it), the reason words kept for the caller's commandError.
   */
  private resumeStaged(t: number, p: ParkedBroadcast, skip: boolean): number {
    const r = this.sendResume(p.slot, p.gen);
    if (r < 0) return r;
    stagedRestore(this.u8, this.u32, t, p, skip);
    let k: number;
    try {
      k = this.sendCommit();
    } catch (err) {
      try { this.sendCancel(); } catch { /* recovered meanwhile */ }
      throw err;
    }
    const reason = this.u32[(t + A.THREAD_REASON) >>> 2]!, arg = this.u32[(t + A.THREAD_REASON_ARG) >>> 2]!;
    // (a pass-over the core refused at the bus lock passed nothing over: its caller tries again)
    if (skip && !(k === -A.EDEADLK && reason === A.R_BCAST_BUS_LOCK)) this.skips++;
    if (k < 0 && Atomics.load(this.u32, (t + A.THREAD_OP) >>> 2) === A.OP_BCAST) {
      // set aside again, whole: its caller tries again (the bus lock that a pass-over met) or
      // abandons it (an aside that failed ended it: cancelled)
      this.endPending = false;
      this.aside();
      this.u32[(t + A.THREAD_REASON) >>> 2] = reason;
      this.u32[(t + A.THREAD_REASON_ARG) >>> 2] = arg;
    }
    return k;
  }

  abandonBroadcast(p: ParkedBroadcast): number {
    if (!p.staged) return 0;
    if (guard.running) throw new BusError(A.EBUSY, 'engine', BUSY_TEXT);
    this.checkAlive();
    return this.sendAbandon(p.slot, p.gen);
  }

  /** Did the command stop a broadcast or notifications at a receiver's lock (BCAST_WAITING)? */
  private notifyWaiting(): boolean {
    return this.u32[(this.cmdAddr - A.THREAD_CMD + A.THREAD_BCAST_SKIP) >>> 2] === A.BCAST_WAITING;
  }

  /** The command stopped a broadcast at a receiver's lock: ask the core to pass that receiver over when it runs again. */
  private skipReceiver(): boolean {
    const w = (this.cmdAddr - A.THREAD_CMD + A.THREAD_BCAST_SKIP) >>> 2;
    if (this.u32[w] !== A.BCAST_WAITING) return false;
    this.u32[w] = A.BCAST_SKIP;
    this.skips++;
    return true;
  }

  /** Is the holder of the lock word this thread was told to wait on LIVE (or the word free)? */
  private holderLive(): boolean {
    const t = this.cmdAddr - A.THREAD_CMD;
    const v = Atomics.load(this.u32, this.u32[(t + A.THREAD_WAIT_ADDR) >>> 2] >>> 2);
    const id = v & A.LOCK_ID_MASK;
    if (id === 0) return true;
    const n = this.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2];
    if (id > n) return false;
    const h = this.u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2] + (id - 1) * A.THREAD_SIZE;
    return Atomics.load(this.u32, (h + A.THREAD_STATE) >>> 2) === A.THREAD_LIVE;
  }

  /**
   * The lock word (an index in i32) and the value seen in it (holder | LOCK_WAITERS) that the
   * last command gave up on with EDEADLK after its lock wait; -1 when the last command did not
   * end that way (another EDEADLK, the core's own, names no word).
   */
  stuckIndex = -1;
  stuckValue = 0;

  /**
   * Has lock word `index`, seen holding `value` (stuckIndex / stuckValue), moved since (released,
   * or taken by another holder), or does it within `ms`? An event-loop wait looks at a
   * contended lock now and then (a look does not block: engine.lockWaitMs 0); looks that find
   * it taken a second apart say nothing of the time between them, when a live holder may have
   * released and taken it many times (lock-look.ts). Blocks at most `ms` where the
   * thread may block, SPIN_LOCK_WAIT_MS where it spins (a page's main thread).
   */
  lockMoved(index: number, value: number, ms: number): boolean {
    return this.waitWhile(index, value, ms, Math.min(ms, A.SPIN_LOCK_WAIT_MS));
  }

  private waitLock(left: number): void {
    this.lockWaits++;
    const t = this.cmdAddr - A.THREAD_CMD;
    // timed: a holder that died is released by recovery, which any thread may run
    this.waitWhile(this.u32[(t + A.THREAD_WAIT_ADDR) >>> 2] >>> 2, this.i32[(t + A.THREAD_WAIT_VAL) >>> 2],
      Math.min(20, Math.max(1, left)), Math.min(20, left));
  }

  /**
   * Wait while i32[index] holds `value`: at most `ms` where the thread may block (woken by a
   * notify: a lock's unlock notifies when LOCK_WAITERS is in its word), spinning at most
   * `spinMs` where it may not (a browser page's main thread). True when the word has moved.
   */
  private waitWhile(index: number, value: number, ms: number, spinMs: number): boolean {
    if (Atomics.load(this.i32, index) !== value) return true;
    payAll(); // (a batch's deferred wakes first: js/host/owed.ts)
    if (this.canBlock) {
      try {
        Atomics.wait(this.i32, index, value, ms);
        return Atomics.load(this.i32, index) !== value;
      } catch {
        this.canBlock = false; // a browser main thread: never block there
        if (this.lockWaitMs === A.LOCK_WAIT_MS) this.lockWaitMs = A.PAGE_LOCK_WAIT_MS; // (and the synchronous bound with it)
      }
    }
    // a thread that may not block spins, reading the clock every SPIN_CLOCK_EVERY loads (a
    // fixed count of 100 000 loads took 6-28 ms in a Chromium page where 5 were meant: an
    // outside audit, stop 21)
    const end = performance.now() + spinMs;
    for (let n = 1; Atomics.load(this.i32, index) === value; n++) {
      if (n % SPIN_CLOCK_EVERY === 0 && performance.now() >= end) return false;
    }
    return true;
  }

  /** set once this thread may no longer use the bus: what every call then throws */
  private dead: Error | null = null;
  /** it died by fault injection (setFault with `die`): it leaves its words as a real death would */
  private faultDeath = false;
  get lost(): boolean { return this.dead !== null; }
  /** the token this thread joined with */
  protected token = 0;
  /** its slot's join generation as its join left it (THREAD_JOIN_GEN) */
  protected joinGen = 0;
  private dieOnTrap = false;
  /**
   * thread_leave, a trap inside it unwound as a command's is (since stop 70 it may settle a
   * connection's kept staging slices under that connection's lock: a trap there left the lock
   * held and the log full)
   */
  protected leaveCore(): number {
    try {
      return this.x.thread_leave();
    } catch (err) {
      this.afterTrap();
      throw err;
    }
  }

  /**
   * A trap inside the core: with fault injection's death (dieOnTrap) the thread is dead, its
   * slot left as a real death leaves it (true); else the command is unwound (its logged stores
   * undone, its locks released: false).
   */
  private afterTrap(): boolean {
    if (this.dieOnTrap) {
      this.dead = new Error('wasmbus: this thread died inside the core (fault injection)');
      this.faultDeath = true;
      return true;
    }
    this.unwindCore();
    return false;
  }

  setFault(n: number, die = false): void {
    if (!this.hooks) throw new BusError(A.EOPNOTSUPP, 'setFault', 'fault injection exists only in hooks builds (Bus.create({ hooks: true }))');
    if (this.cmdAddr) this.u32[(this.cmdAddr - A.THREAD_CMD + A.THREAD_FAULT) >>> 2] = n;
    this.dieOnTrap = die;
  }

  protected tookSlot(slot: number): number {
    if (slot >= 0) {
      this.threadSlot = slot;
      this.cmdAddr = this.u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2] + slot * A.THREAD_SIZE + A.THREAD_CMD;
      // the slot's join generation, as the core's join moved it (before the slot went LIVE)
      this.joinGen = this.x.thread_gen() >>> 0;
    }
    return slot;
  }

  /**
   * An engine declared dead (recovered, or a fault hook's death) joins no slot again: its
   * threadJoin throws what its commands throw (a recovered engine could take a slot, which
   * it could never use, before stop 25: an outside audit). threadLeave stays open to it
   * (-ESRCH, then -EBADF), so that its Bus can leave.
   */
  protected notLost(): void {
    if (this.dead) throw this.dead;
  }

  protected left(r: number): number {
    // ESRCH: the slot was recovered meanwhile (it is no longer ours either way)
    if (r === 0 || r === -A.ESRCH) { this.threadSlot = -1; this.cmdAddr = 0; }
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

  // names issue
  nameAcquire(slot: number, gen: number): number { return this.run(OP_NAME_ACQUIRE, slot, gen); }
  nameRelease(slot: number, gen: number): number { return this.run(OP_NAME_RELEASE, slot, gen); }
  list(slot: number, gen: number): number { return this.run(OP_LIST, slot, gen); }

  // calls issue
  /** @internal the provider whose clock the core reads (set by the subclass) */
  protected clockSource: Provider | null = null;
  private readonly halves = new Uint32Array(2);
  monotonicNs(): number {
    const h = this.halves, src = this.clockSource;
    if (!src) return 0;
    // the provider is the caller's code, run in the middle of a bus call (a call between its
    // encoding and its send): a bus method it calls gets EBUSY, as from inside a command
    const outer = guard.running;
    guard.running = true;
    let ok: boolean;
    h[0] = h[1] = 0xffffffff; // (no reading: a clock that says true must overwrite it, as in the core's clock import)
    try {
      ok = src.clock(1, h);
    } finally {
      guard.running = outer;
    }
    if (!ok) return 0; // the core reads 0 too
    if (h[0] === 0xffffffff && h[1] === 0xffffffff) return 0; // (nothing written: no clock, as the core's import reads it)
    return h[1] * 0x100000000 + h[0];
  }
}

function unknownOp(op: number): BusError {
  return new BusError(A.EINVAL, 'engine', `unknown command ${String(op)}`);
}

interface WasmExports extends twin.CoreExports {
  __arena_heap_base(): number;
  _initialize(): void;
}

/** The wasm core: one instance per thread, on the bus's shared memory. */
export class WasmEngine extends EngineBase implements Engine {
  readonly kind = 'wasm' as const;
  readonly hooks: boolean;
  protected readonly x: WasmExports;

  private constructor(memory: WebAssembly.Memory, instance: WebAssembly.Instance, hooks: boolean) {
    super(memory);
    this.hooks = hooks;
    this.x = instance.exports as unknown as WasmExports;
    if (typeof this.x.abi_fingerprint !== 'function') {
      throw new Error('wasmbus: the module is not a wasmbus core (it exports no abi_fingerprint): rebuild with npm run build');
    }
    if ((this.x.abi_fingerprint() >>> 0) !== ABI_FINGERPRINT) {
      // (the core may be another package's: a handle's, made by another copy or version of
      // wasmbus in the program; "rebuild" alone sent an npm user the wrong way: stop 44, an outside audit)
      throw new Error(`wasmbus: the wasm core was built for another layout (fingerprint ${this.x.abi_fingerprint() >>> 0} != ${ABI_FINGERPRINT}): ` +
        'a core given as `module`, or carried by a handle made by another copy or version of wasmbus in this program (join with the package that made the bus), ' +
        'or, in a checkout of the repository, a stale build (npm run build)');
    }
    const heapBase = this.x.__arena_heap_base() >>> 0;
    if (heapBase > A.BUS_BASE) throw new Error(`wasmbus: core static data ends at ${heapBase}, above BUS_BASE ${A.BUS_BASE}`);
    this.x._initialize();
  }

  /**
   * Instantiate the core on `memory` for this thread (asynchronously: browsers refuse large
   * sync instantiation). `hooks`: the module is the hooks build (build/core.hooks.wasm).
   */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, provider: Provider, hooks = false): Promise<WasmEngine> {
    checkMemory('WasmEngine.create', memory);
    if (!instanceOf(module, WebAssembly.Module)) throw new BusError(A.EINVAL, 'WasmEngine.create', `module must be a WebAssembly.Module (loadCore()), got ${kindOf(module)}`);
    checkProvider('WasmEngine.create', provider, true);
    hooks = optBoolean('WasmEngine.create', 'hooks', hooks) ?? false; // (a non-boolean passed before stop 49, as loadCore() refuses it: an outside audit)
    let engine: WasmEngine | null = null;
    const imports = { env: { memory }, ...coreImports(provider, memory, () => engine === null || engine.slotMine()) };
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, imports as unknown as WebAssembly.Imports);
    } catch (err) {
      // (a raw LinkError before stop 39: an outside audit)
      if (err instanceof WebAssembly.LinkError || err instanceof TypeError) throw new BusError(A.EINVAL, 'WasmEngine.create', `the module does not link with this memory and the core's imports (not a wasmbus core, or a memory its import refuses): ${String((err as Error).message)}`);
      throw err;
    }
    const e = new WasmEngine(memory, instance, hooks);
    // the module is the build `hooks` names (core_hooks, since stop 66): a release core taken
    // for a hooks one said hooks: true and ignored setFault (an outside audit: a fault test
    // passed with no fault injected); a hooks core taken for a release one runs slower
    const built = typeof e.x.core_hooks === 'function' ? e.x.core_hooks() === 1 : hooks;
    if (built !== hooks) {
      throw new BusError(A.EINVAL, 'WasmEngine.create', `the module is the ${built ? 'hooks build of the core (core.hooks.wasm, loadCore(true))' : 'release build of the core (core.wasm, loadCore())'}, but hooks is ${hooks}: ` +
        `give the build that hooks names`);
    }
    e.clockSource = provider;
    engine = e;
    return e;
  }

  protected unwindCore(): number { return this.x.unwind(); }
  busMake(cmd: number): number {
    this.enter();
    try { return this.x.bus_make(cmd); } finally { guard.running = false; }
  }
  threadJoin(token: number): number {
    this.notLost();
    this.enter();
    let r: number;
    try { r = this.tookSlot(this.x.thread_join(token)); } finally { guard.running = false; }
    if (r >= 0) this.token = token >>> 0;
    return r;
  }
  threadLeave(): number {
    this.enter();
    try { return this.left(this.leaveCore()); } finally { guard.running = false; }
  }
}

/** The TS twin: the same core compiled by tsc, bound to this engine's memory per command. */
export class TwinEngine extends EngineBase implements Engine {
  readonly kind = 'twin' as const;
  readonly hooks: boolean;
  protected readonly x: twin.CoreExports;
  private readonly host: twin.HostImports;
  private twinThread = 0;

  constructor(memory: WebAssembly.Memory, provider: Provider, hooks = false) {
    checkMemory('TwinEngine', memory);
    checkProvider('TwinEngine', provider, true);
    hooks = optBoolean('TwinEngine', 'hooks', hooks) ?? false;
    super(memory);
    this.hooks = hooks;
    // (the browser build leaves the twin's hooks core out, as it has no wasm hooks core: 52 KB
    // of its bundle, which Vite's default chunk limit refused, stop 48)
    if (hooks && !twin.twinHooksBuilt) throw new BusError(A.EOPNOTSUPP, 'TwinEngine', 'the browser build has no hooks build of the core (tests load it from a checkout)');
    this.x = hooks ? twin.twinHooks : twin.twinRelease;
    const imp = coreImports(provider, memory, () => this.slotMine());
    this.clockSource = provider;
    this.host = { ...imp.wasi_snapshot_preview1, ...imp.wasmbus };
  }

  protected override bind(): void {
    twin.bind(this.u8, this.u32, this.i32, this.twinThread, this.token, this.joinGen, this.host);
  }

  protected unwindCore(): number { this.bind(); return this.x.unwind(); }
  busMake(cmd: number): number {
    this.enter(); // (before bind: a nested command would rebind the twin's state to its own bus)
    try { this.bind(); return this.x.bus_make(cmd); } finally { guard.running = false; }
  }
  threadJoin(token: number): number {
    this.notLost();
    this.enter();
    let slot: number;
    try { this.bind(); slot = this.tookSlot(this.x.thread_join(token)); } finally { guard.running = false; }
    if (slot >= 0) {
      this.twinThread = this.cmdAddr - A.THREAD_CMD;
      this.token = token >>> 0;
    }
    return slot;
  }
  threadLeave(): number {
    this.enter();
    let r: number;
    try { this.bind(); r = this.left(this.leaveCore()); } finally { guard.running = false; }
    if (r === 0 || r === -A.ESRCH) this.twinThread = 0;
    return r;
  }
}
