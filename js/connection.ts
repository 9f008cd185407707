// connection: one bus connection (HELLO .. BYEBYE) of the public API.
import { INSPECT, inspected } from './inspect.ts';
import { BRAND, brand, foreignKind } from './brand.ts';
import * as A from './shared/abi.ts';
import { BusError, canceled, shutdownError } from './errno.ts';
import { isShutdown, type Engine } from './engine.ts';
import { Message } from './message.ts';
import { isU64, isS64, get64 } from './wire.ts';
import { SEND, RECV, FREE, BYEBYE, items, checkCmd, commandError } from './cmd/index.ts';
import { now, waitWordBlocking, bump, parkWoke, PARK_PARKED, PARK_MOVED, PARK_BUSY } from './host/wait.ts';
import { waitIn, endWait, dropWait, WaitGroup, type GroupWait, type CallbackMember } from './host/wait-group.ts';
import { stepResolved, yieldTurn } from './host/fair.ts';
import { hold, release } from './host/keepalive.ts';
import { unref as unrefTimer } from './host/deadlines.ts';
import { options, optBoolean, u32Arg, busyPollArg, kindOf, shown, payloadBytes, payloadLength, payloadOffset, offsetIn, overlapsIn, isAbortSignal, relabel, isList } from './args.ts';
import { connStats, type ConnStats } from './health.ts';
import { Spinner } from './host/spin.ts';
import { LinkedSet } from './linked-set.ts';
import * as T from './host/turns.ts';
import { iterate, defineDispose, type MessagesOptions, type MessageIterator } from './iterate.ts';
import { listen, type ListenOptions, type Listener } from './listen.ts';
import * as N from './names.ts';
import { updateAttach, connInfo, creatorInfo, type ConnectionInfo, type UpdateOptions, type InfoOptions } from './conn-info.ts';
import { RoomWait, PROBE_DROPPED, roomHelps, checkUsable, roomGroup, type RoomOwner, type RoomGroup, type Attempt } from './room-wait.ts';
import { AbortHooks, abortHooks, type AbortHook } from './abort-hooks.ts';
import type { PumpOwner } from './reply-pump.ts';
import { Caller, type CallOwner } from './call-run.ts';
import type { Waiter } from './waiter.ts';
import { Calls, NO_WAKE, type PendingCall, type CallOptions, type CallSyncOptions } from './calls.ts';
import * as S from './signals.ts';
import { broadcastAsync } from './bcast-async.ts';
import * as O from './objects.ts';
import * as CJ from './call-json.ts';
import type { MatchRule } from './dbus/match.ts';
import { PAYLOAD_DBUS, PAYLOAD_DBUS_LO, PAYLOAD_DBUS_HI } from './dbus/header.ts';
import './host/disposable.ts'; // (types only: Symbol.dispose in our declarations, for consumers without esnext.disposable)
import { LockLook } from './lock-look.ts';
import { RecvLine, type LineWaiter } from './recv-line.ts';

export type Destination = number | string;

/** conn.close() options. */
export interface CloseOptions {
  /** close even with messages queued: they are dropped with the queue (calls queued to it end with REPLY_DEAD) */
  drop?: boolean | undefined;
}

export interface SendOptions {
  /** defaults to a per-connection counter starting at 1 */
  cookie?: number | undefined;
  /** s64 queue priority (lower is delivered first with USE_PRIORITY), default 0 */
  priority?: number | undefined;
  /** kdbus payload type, never 0; default PAYLOAD_WASMBUS */
  payloadType?: bigint | undefined;
  /** kdbus msg flags (EXPECT_REPLY 1, NO_AUTO_START 2, SIGNAL 4) */
  flags?: number | undefined;
}

export interface RecvOptions {
  /** publish the next message but keep it queued */
  peek?: boolean | undefined;
  /** only a message whose priority is <= this value (lowest first) */
  priority?: number | undefined;
}

export interface RecvAsyncOptions extends RecvOptions {
  /** reject with ETIMEDOUT after this many milliseconds (default: wait forever) */
  timeout?: number | undefined;
  /** reject with ECANCELED when aborted */
  signal?: AbortSignal | undefined;
  /** keep the thread alive while waiting (default: true, or false after conn.unref()) */
  keepAlive?: boolean | undefined;
}

export interface SendAsyncOptions extends SendOptions {
  /** reject with ETIMEDOUT after this many milliseconds without room (default: wait forever) */
  timeout?: number | undefined;
  /** reject with ECANCELED when aborted */
  signal?: AbortSignal | undefined;
  /** keep the thread alive while waiting (default: true, or false after conn.unref()) */
  keepAlive?: boolean | undefined;
}

/** emitAsync's options: the wait's alone (the signal's own priority is in its SignalSpec). */
export interface EmitAsyncOptions {
  /** reject with ETIMEDOUT after this many milliseconds without room (default: wait forever) */
  timeout?: number | undefined;
  /** reject with ECANCELED when aborted */
  signal?: AbortSignal | undefined;
  /** keep the thread alive while waiting (default: true, or false after conn.unref()) */
  keepAlive?: boolean | undefined;
}

/**
 * @internal A handle on one parked recvAsync wait, for its owner to end it (the iterator's return()):
 * `cancel(err)` makes the wait reject with `err` at once, without taking a message. Set
 * while the wait is parked, null otherwise. Internal.
 */
export interface WaitStop {
  cancel: ((err: BusError) => void) | null;
}

const SEND_KEYS = ['cookie', 'priority', 'payloadType', 'flags'] as const;
/**
 * The most payloads one sendMany reads and sends (the rest is for the next call, as sendmmsg
 * takes at most UIO_MAXIOV): far more than a receiver can hold (its per-user quota is at most
 * abi.MAX_QUEUED_LIMIT messages), and bounded, so that the elements read (each measured
 * before anything is sent) are too.
 */
export const SEND_MANY_MAX = 65536;
/** The most payloads whose room sendMany's reused scratch keeps from one call to the next (a larger call's is given back). */
const SEND_MANY_KEEP = 256;
/**
 * payload i of a sendMany's scratch, its bytes now (through the intrinsic getters: no code of
 * the caller runs), null when its size is no longer the one measured: its buffer was resized
 * by the caller's code since (an element getter), grown or shrunk. (A function, not a closure
 * made per call: stop 54.)
 */
function bytesAt(objs: unknown[], lens: Float64Array, i: number): Uint8Array | null {
  const b = payloadBytes(objs[i])!;
  return payloadLength(b) === lens[i] ? b : null;
}
/**
 * The most messages one SEND of sendMany carries (SEND_BATCH): the receiver's lock is held
 * while they are written, and its receiver may be waiting for it meanwhile.
 */
export const BATCH_MAX = 32;
/**
 * The most messages conn.listen takes in one receive (RECV_BATCH), freeing as many with the
 * next: each hands one over and frees one for an eighth of the lock's holds. A listener that
 * stops keeps the rest for the next receives.
 */
export const RECV_BATCH_MAX = 32;
const CLOSE_KEYS = ['drop'] as const;
const SEND_ASYNC_KEYS = ['cookie', 'priority', 'payloadType', 'flags', 'timeout', 'signal', 'keepAlive'] as const;
const EMIT_ASYNC_KEYS = ['timeout', 'signal', 'keepAlive'] as const;
const RECV_KEYS = ['peek', 'priority'] as const;
const RECV_ASYNC_KEYS = ['peek', 'priority', 'timeout', 'signal', 'keepAlive'] as const;
/** recv's options, none given (listen's receives) */
const NO_OPTIONS: RecvOptions = {};

/** @internal recvAsync's options, checked once (Connection.checkRecvAsync): for recvChecked. */
export interface CheckedRecv {
  o: RecvOptions;
  timeout: number;
  signal: AbortSignal | undefined;
  keepAlive: boolean | undefined;
}

/** The default payload type: "wasmbus\0" as a little-endian u64 (what SEND.encodeMsg writes). */
export const PAYLOAD_WASMBUS = 0x007375626d736177n;

const encoder = new TextEncoder();
/** the UTF-8 bytes of the last destination name sent to (a client calling one service again and again); copied into the message, never handed out */
let lastDstName = '';
let lastDstBytes = new Uint8Array(0);
function dstNameBytes(name: string): Uint8Array {
  if (name !== lastDstName) { lastDstBytes = encoder.encode(name); lastDstName = name; }
  return lastDstBytes;
}

/** A destination's key among a connection's waits for room: an id (a number, or ':1.<id>'), or a well-known name. */
function groupKey(dst: unknown): string | number {
  if (typeof dst === 'string') return dst.startsWith(':1.') && /^:1\.\d+$/.test(dst) ? Number(dst.slice(3)) : dst;
  // anything else is no destination: its send fails with EINVAL before any wait is made, so
  // one key (no name holds a NUL) serves them all. Not String(dst): that ran the caller's
  // toString, or a typed array's join, which threw for a detached one or a Proxy (sendAsync
  // threw a TypeError synchronously, call() rejected with it: an outside audit, stop 35)
  return typeof dst === 'number' ? dst : '\0not a destination';
}

/** a receive's options with neither peek nor priority (shared: never written) */
const NO_RECV_OPTS: RecvOptions = Object.freeze({});

/** receivers a connection remembers per destination for sendAsync's line (cleared when full) */
const RECEIVERS_KNOWN = 64;

/** The checks of an event-loop wait's options (recvAsync, sendAsync): a timeout in ms >= 0, an AbortSignal. */
function checkWait(op: string, timeout: unknown, signal: unknown): asserts signal is AbortSignal | undefined {
  if (typeof timeout !== 'number' || !(timeout >= 0)) throw new BusError(A.EINVAL, op, `timeout must be a number of ms >= 0, got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}`);
  if (signal !== undefined && !isAbortSignal(signal)) throw new BusError(A.EINVAL, op, `signal must be an AbortSignal, got ${kindOf(signal)}`);
}

/**
 * Do two engines' memories hold the same bus? Its 128-bit id, and its random key where both
 * know it: a MockProvider of one seed gives every bus it makes the same id128 (an outside
 * audit, stop 21: a reply to a call received on another such bus answered the call of the
 * same caller id and cookie here).
 */
function sameBus(a: Engine, b: Engine): boolean {
  if (a.busKey !== '' && b.busKey !== '' && a.busKey !== b.busKey) return false;
  const x = a.u32, y = b.u32, at = (A.BUS_BASE + A.BUS_ID128) >>> 2;
  return x[at] === y[at] && x[at + 1] === y[at + 1] && x[at + 2] === y[at + 2] && x[at + 3] === y[at + 3];
}


/** send()'s own options out of sendAsync's / replyAsync's */
function sendOptionsOf(o: Partial<SendAsyncOptions>): SendOptions {
  // each read once (a getter may answer differently each time, or run code that sends)
  const so: SendOptions = {};
  const cookie = o.cookie, priority = o.priority, payloadType = o.payloadType, flags = o.flags;
  if (cookie !== undefined) so.cookie = cookie;
  if (priority !== undefined) so.priority = priority;
  if (payloadType !== undefined) so.payloadType = payloadType;
  if (flags !== undefined) so.flags = flags;
  return so;
}

/** sendMany: a payload's buffer resized by the caller's code (an element getter) after the payload was measured. */
function changed(op: string): BusError {
  return new BusError(A.EINVAL, op, "the payload's buffer changed size while it was sent (resized by the caller's code after it was measured): nothing was sent");
}

/** A payload copy that did not fit its destination: the payload's buffer changed size after it was measured. */
function resized(op: string, err: unknown): unknown {
  // (the copy's destination is the bus memory, which never changes size: what failed is the
  // payload. A detached or shrunk buffer was rethrown as V8's TypeError, "detached
  // ArrayBuffer" for a shrink too, before stop 41: an outside audit)
  const how = err instanceof RangeError ? 'it grew' : err instanceof TypeError ? 'it was detached, or shrunk below the view' : null;
  if (how === null) return err;
  return changedSize(op, `${how}: ${(err as Error).message}`);
}

/** EINVAL: the payload's buffer changed size between its measure and its copy (`how`) */
function changedSize(op: string, how: string): BusError {
  return new BusError(A.EINVAL, op, `the payload's buffer changed size while it was sent (${how}): nothing was sent`);
}


/** EFAULT: `what` (len bytes at `at` of the bus memory) overlaps this thread's command area, at `cmd`. */
function inCmdArea(op: string, what: string, at: number, len: number, cmd: number): BusError {
  return new BusError(A.EFAULT, op, `${what} (${len} bytes at ${at} of the bus memory) overlaps this thread's command area (${cmd} … ${cmd + A.CMD_MAX}), which the send writes before it copies the payload: pass a copy of it instead; nothing sent`);
}

/** Cancel this thread's reserved send after a failure in its send window; the failure is what the caller reports. */
function cancelSend(e: Engine): void {
  try {
    e.sendCancel(); // -EINVAL when nothing is pending any more: nothing to do
  } catch {
    // a thread declared dead meanwhile: its recoverer cancels the reservation
  }
}

/**
 * The default cookie after `c`: c + 1 up to 2^32 − 1, then 2^31 (as sd-bus's cookie_inc), so
 * that a connection's D-Bus serials (its cookies: emit, callMethod, dispatch's replies) never
 * leave 32 bits. Before stop 42 the counter went on past 2^32, and a connection that had sent
 * 2^32 messages could send no D-Bus message again (EINVAL), its callers timing out: an outside
 * audit. A call's cookie skips those its pending calls hold (callCookie); the small cookies a
 * connection used first are never reused.
 */
function cookieAfter(c: number): number {
  return c >= 0xffffffff ? 0x80000000 : c + 1;
}

export class Connection implements RoomOwner, PumpOwner, CallOwner {
  readonly engine: Engine;
  /** the 64-bit connection id, as a number */
  readonly id: number;
  readonly slot: number;
  readonly gen: number;
  readonly poolSize: number;
  readonly poolBase: number;
  readonly description: string | undefined;
  /** messages the bus dropped for this connection (DROPPED_MSGS), reported by the last recv() or drop(); a recvWait / recvAsync sets the sum its own RECVs reported (the empty looks included); under listen and for await, the drops told with each message handed over (docs/API.md, "lastDropped") */
  lastDropped = 0;
  /** @internal DROPPED_MSGS told to RECV_BATCHes (a listener's, an iterator's) and not yet to the user: the next message handed over carries it (takeTaken), or the next receive (recvCmd, a wait after an empty look) */
  private batchDropped = 0;
  /** messages the bus dropped for this connection since it connected, as its receives were told (every receive path, a call's own included) */
  droppedTotal = 0;
  /** the next default cookie (cookieAfter: it wraps within 32 bits, so that D-Bus serials never run out) */
  private nextCookie = 1;
  private isClosed = false;
  /** @internal index of the wake word in engine.i32 (PumpOwner) */
  readonly wakeIndex: number;
  /** @internal index of the sleepers count in engine.i32 (PumpOwner) */
  readonly sleepersIndex: number;
  private readonly waiters = new LinkedSet<Waiter>();
  private refd = true;
  /** the adaptive spin of this connection's waits and its counters (js/host/spin.ts; docs/API.md, "Waiting") */
  readonly spinner = new Spinner();
  /** told once, when close() succeeds (the Bus forgets the connection) */
  private readonly onClose: ((c: Connection) => void) | null;

  /** @internal use Bus.connect() */
  constructor(engine: Engine, slot: number, id: number, poolSize: number, description: string | undefined, onClose: ((c: Connection) => void) | null = null) {
    this.engine = engine;
    this.onClose = onClose;
    this.slot = slot;
    this.gen = engine.connGen(slot);
    this.id = id;
    this.poolSize = poolSize;
    this.poolBase = engine.poolBase(slot);
    this.description = description;
    this.wakeIndex = (engine.connAddr(slot) + A.CONN_WAKE) >>> 2;
    this.sleepersIndex = (engine.connAddr(slot) + A.CONN_SLEEPERS) >>> 2;
    this.busBuffer = engine.u8.buffer;
    this.queuedIndex = (engine.connAddr(slot) + A.CONN_N_QUEUED) >>> 2;
    this.waitGroup = new WaitGroup(engine.i32, this.wakeIndex, this.sleepersIndex, () => this.toTake(), () => this.takenLeft);
  }
  /**
   * @internal this thread's event-loop waits on the wake word (receives, iterator steps, the
   * listener's park, the reply pump): one waitAsync for all, a publish waking as many of them
   * as there are messages some of them has not looked at (host/wait-group.ts, WaitGroup; the
   * word counts the messages queued, abi.ts WAKE_UNCOUNTED; a stopped listener's leftovers are
   * not in it)
   */
  readonly waitGroup: WaitGroup;
  private readonly queuedIndex: number;
  /** what a woken receive may find: the messages queued and those a batched receive left taken; Infinity once the connection or the bus is gone (every wait looks) */
  private toTake(): number {
    if (this.gone || this.engine.lost || isShutdown(this.engine.u32)) return Infinity;
    return Atomics.load(this.engine.i32, this.queuedIndex) + this.takenLeft;
  }
  /** the bus memory's buffer, read once (reading a typed array's buffer costs 16 ns on this VM: not per send) */
  private readonly busBuffer: ArrayBufferLike;

  /**
   * Busy polling, in µs (0, the default: the adaptive spin). Each receive wait of this
   * connection (recvAsync, recvWait, `for await`, listen, a call's wait for its reply) spins
   * this long on the wake word before it parks, whatever the adaptive score says: for a
   * stream on a thread with a core to spare (docs/API.md, "Busy polling"). An integer from 0
   * to BUSY_POLL_MAX_US (100); anything else throws EINVAL and changes nothing.
   */
  get busyPoll(): number { return Math.round(this.spinner.pollMs * 1000); }
  set busyPoll(us: number) { this.spinner.setPoll(busyPollArg('busyPoll', us)); }

  /** What JSON.stringify shows (not the engine and its memory: an outside audit, stop 38). */
  toJSON(): Record<string, unknown> {
    return { id: this.id, uniqueName: this.uniqueName, description: this.description, closed: this.closed };
  }

  /** What console.log / util.inspect show: the class name and toJSON()'s fields (js/inspect.ts). */
  [INSPECT](depth: number, options: unknown, inspect: unknown): string | Record<string, unknown> {
    return inspected('Connection', this.toJSON(), depth, options, inspect);
  }

  /** D-Bus unique name, ":1.<id>" */
  get uniqueName(): string { return `:1.${this.id}`; }
  get closed(): boolean { return this.isClosed; }
  /**
   * @internal Closed here, or closed under this thread by a recovery (its slot's generation
   * moved on: the slot, and its pool, may be another connection's by now). One load.
   */
  get gone(): boolean { return this.isClosed || this.engine.connGen(this.slot) !== this.gen; }
  /** messages waiting in the receive queue */
  get queued(): number { return this.gone ? 0 : this.engine.queued(this.slot) + this.takenLeft + this.line.held; }
  /** pool bytes in use (queued and published slices, with their block headers) */
  get poolUsed(): number { return this.gone ? 0 : this.engine.poolUsed(this.slot); }

  /** a view of this thread's command area (inline payloads are copied through it), and where it starts */
  private cmdView: Uint8Array | null = null;
  private cmdViewAt = 0;
  private makeCmdView(u8: Uint8Array, cmd: number): Uint8Array {
    this.cmdViewAt = cmd;
    return (this.cmdView = u8.subarray(cmd, cmd + A.CMD_MAX));
  }

  /** @internal RoomOwner: the connection's user, the uid it said HELLO with (its quota key as a sender; fixed for its life) */
  get uid(): number { return this.engine.u32[(this.engine.connAddr(this.slot) + A.CONN_UID) >>> 2]; }

  /** @internal PumpOwner: the engine, or throws what ends every command of this connection now */
  live(op: string): Engine {
    if (this.isClosed) throw new BusError(A.ECONNRESET, op);
    const e = this.engine;
    // a thread declared dead writes nothing more in its command area: its thread slot, and
    // the area with it, may be another thread's by now (an outside audit, stop 22: a Deno
    // worker still in its send loop after terminate() and recoverThread() wrote each SEND
    // there before the engine refused it, and broke the next worker that joined into its slot)
    e.checkAlive();
    return e;
  }

  /**
   * Send `payload` to a connection id (or ":1.<id>", or a well-known name). The payload
   * bytes are copied once, straight into the receiver's pool (up to SEND_INLINE_MAX bytes:
   * through the command area, in one SEND). Returns the cookie used.
   */
  send(dst: Destination, payload?: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null, opts?: SendOptions): number {
    // (under reply / replyAsync / dispatch / sendAsync / call / callSync the argument errors
    // name that op, alone 'send': a call's said 'send' before stop 33, an outside audit)
    const aop = this.sendOp;
    this.live(aop);
    const o = options<SendOptions>(aop, opts, SEND_KEYS, '{ cookie: 7, priority: 0 }');
    // every option read once, here, before the payload is measured and the command area
    // written: a getter runs the caller's code, which may resize the payload's buffer or
    // send (this thread's command area) in the middle of this send otherwise
    return this.sendParts(dst, payload, o.cookie, o.priority, o.flags, o.payloadType);
  }

  /**
   * @internal send() with its options read (each once: values, no getters left), checked
   * here: what call(), reply() and dispatch send through, without an options object per message.
   */
  sendParts(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined,
    oCookie: number | null | undefined, oPriority: number | null | undefined, oFlags: number | undefined, oType: bigint | undefined): number {
    const aop = this.sendOp;
    const e = this.live(aop);
    const { u32, u8 } = e;
    if (oCookie === null || oPriority === null) throw new BusError(A.EINVAL, aop, `${oCookie === null ? 'cookie' : 'priority'} must be a number, got null (leave it out for the default)`);
    const cookie = oCookie ?? this.nextCookie;
    if (!isU64(cookie)) throw new BusError(A.EINVAL, aop, `cookie must be a non-negative safe integer, got ${shown(cookie)}`);
    const priority = oPriority ?? 0;
    if (!isS64(priority)) throw new BusError(A.EINVAL, aop, `priority must be a safe integer, got ${shown(priority)}`);
    const flags = u32Arg(aop, 'flags', oFlags, 0);
    // the payload's true extent, read once through the intrinsic getters: the reservation is
    // sized from it and the copy below is exactly that many bytes, whatever object we were given
    const bytes = payload == null ? null : payloadBytes(payload);
    if (bytes === null && payload != null) throw new BusError(A.EINVAL, aop, `payload must be an ArrayBufferView, ArrayBuffer or SharedArrayBuffer (use sendText / sendJSON for strings and values), got ${kindOf(payload)}`);
    const len = bytes ? payloadLength(bytes) : 0;
    const cmd = e.cmd;
    // a payload in this thread's command area, which this send writes before the payload is
    // copied, is refused (before stop 34 it went out with its bytes changed: an outside audit)
    if (len > 0 && overlapsIn(bytes!, len, this.busBuffer, cmd, cmd + A.CMD_MAX)) throw inCmdArea(aop, 'the payload', payloadOffset(bytes!), len, cmd);
    const msg = cmd + SEND.MSG;
    let p = this.putDst(aop, dst, u8, u32, msg + A.MSG_HDR);
    const dstId = this.dstId;
    let vec = 0;
    if (len > 0 && len <= A.SEND_INLINE_MAX) {
      // a small payload goes in the command area, after the message: one SEND copies it into
      // the receiver's pool under its lock (no reservation window, no send_commit)
      const at = p + A.VEC_ITEM_SIZE;
      p = items.putVec(u32, p, len, at);
      // copied into a view of this thread's command area: a payload whose buffer grew since
      // it was measured (a length-tracking view of a growable buffer, grown by another
      // thread) cannot write past the area (RangeError), and what it writes past `len` there
      // is never read (the item says len)
      const cv = this.cmdView !== null && this.cmdViewAt === cmd ? this.cmdView : this.makeCmdView(u8, cmd);
      try { cv.set(bytes!, at - cmd); } catch (err) { throw resized(aop, err); }
    } else if (len > 0) {
      vec = p;
      p = items.putHostVec(u32, p, len); // a host vec: we copy the bytes ourselves
    }
    SEND.encodeMsg(u32, msg, p - msg, flags, priority, dstId, cookie, this.nextTimeout);
    // (the default payload type is written by encodeMsg, without a BigInt per send)
    if (oType !== undefined) {
      if (oType === PAYLOAD_DBUS) {
        // D-Bus messages (callMethod, dispatch, emit): its two halves, without BigInt arithmetic
        u32[(msg + A.MSG_PAYLOAD_TYPE) >>> 2] = PAYLOAD_DBUS_LO; u32[(msg + A.MSG_PAYLOAD_TYPE + 4) >>> 2] = PAYLOAD_DBUS_HI;
      } else if (typeof oType === 'bigint' && oType >= 0n && oType < 1n << 64n) {
        SEND.encodePayloadType(u32, msg, oType);
      } else throw new BusError(A.EINVAL, aop, `payloadType must be a u64 bigint, got ${typeof oType === 'number' ? `the number ${oType}` : shown(oType)}`);
    }
    SEND.encode(u32, cmd, msg, this.nextSendFlags);

    const r = vec === 0 ? e.sendInline(this.slot, this.gen) : e.send(this.slot, this.gen);
    if (r === A.SEND_PENDING) {
      // the core reserved `len` bytes at the rewritten address; nothing may leave the send
      // half done: whatever throws before send_commit has returned cancels the reservation
      let c: number;
      try {
        // (the reservation is the size this send measured: nothing of the caller's ran since)
        if (u32[(vec + A.VEC_SIZE) >>> 2] !== len || u32[(vec + A.VEC_SIZE + 4) >>> 2] !== 0) throw new BusError(A.EFAULT, aop, 'internal: the command area changed under this send');
        // into a view of exactly the reserved bytes: a payload whose buffer grew since it was
        // measured (resized by a provider during SEND, or a growable buffer grown by another
        // thread) is refused, never copied past the slice
        const dest = SEND.vecDestination(u32, vec);
        // a payload in the bus memory (a received message's, sent on) is copied by the core
        // (memory.copy: 4× V8's copy of shared memory for 64 KiB); any other into a view of
        // exactly the reserved bytes
        const at = offsetIn(bytes!, this.busBuffer);
        if (at >= 0) {
          // bytes in the slice this send reserved (free space of the receiver's pool: a view of
          // a message kept after its free(), or made over the pool) were overwritten by the
          // message's own header and items before this copy: refused, nothing sent (before
          // stop 33 they were sent changed; an outside audit)
          const b = u32[(e.cmd - A.THREAD_CMD + A.THREAD_OP_BLOCK) >>> 2], end = b + u32[(b + A.BLOCK_SIZE) >>> 2];
          if (at < end && at + len > b) throw new BusError(A.EFAULT, aop, `the payload (${len} bytes at ${at} of the bus memory) overlaps the slice this send reserved in the receiver's pool (${b} … ${end}): it lies in free pool space (a view of a message kept after free()?), which the send's own message takes; nothing sent`);
          if (!e.copyIn(dest, at, len)) throw new BusError(A.EFAULT, aop, `internal: the payload (${len} bytes at ${at}) or its reservation (at ${dest}) leaves the bus memory`);
        } else {
          try { u8.subarray(dest, dest + len).set(bytes!); } catch (err) { throw resized(aop, err); }
        }
        // (one that shrank since, a length-tracking view of a resizable buffer shrunk by a
        // provider during SEND, copied fewer bytes: refused too, not sent with a zeroed tail)
        if (payloadLength(bytes!) !== len) throw changedSize(aop, `the payload is ${payloadLength(bytes!)} bytes now, ${len} when it was measured`);
        c = e.sendCommit();
      } catch (err) {
        cancelSend(e);
        throw err;
      }
      if (c < 0) {
        const err = commandError(u32, cmd, c, this.sendOp, SEND.NAME, { dst }); // before the cancel rewrites the report
        cancelSend(e);
        throw err;
      }
    } else if (r < 0) throw commandError(u32, cmd, r, this.sendOp, SEND.NAME, { dst });
    if (oCookie === undefined && (this.nextSendFlags & A.SEND_PROBE) === 0) this.nextCookie = cookieAfter(cookie);
    return cookie;
  }

  /** the destination id putDst read (0 for a name) */
  private dstId = 0;
  /**
   * The destination of a SEND whose items start at `p`: an id into dstId (0 for a name), or a
   * DST_NAME item written at `p`. Returns where the next item goes.
   */
  private putDst(aop: string, dst: Destination, u8: Uint8Array, u32: Uint32Array, p: number): number {
    this.dstId = 0;
    if (typeof dst === 'number') {
      if (!isU64(dst)) throw new BusError(A.EINVAL, aop, `destination id must be a non-negative safe integer, got ${shown(dst)}`);
      this.dstId = dst;
    } else if (typeof dst === 'string' && dst.startsWith(':1.') && /^:1\.\d+$/.test(dst)) {
      const id = Number(dst.slice(3));
      if (!isU64(id)) throw new BusError(A.EINVAL, aop, `destination id must be a safe integer, got ${dst}`);
      this.dstId = id;
    } else if (typeof dst === 'string') {
      const name = dstNameBytes(dst);
      if (name.length + 1 + A.ITEM_HDR > 4096) throw new BusError(A.EINVAL, aop, `a destination name is at most ${4095 - A.ITEM_HDR} UTF-8 bytes here (and a valid well-known name at most 255), got ${name.length}`);
      p = items.putStringItem(u8, u32, p, A.ITEM_DST_NAME, name);
    } else throw new BusError(A.EINVAL, aop, `destination must be an id or a name, got ${kindOf(dst)}`);
    return p;
  }

  /**
   * Send each payload as a message of its own to `dst`, in order: many per SEND (SEND_BATCH:
   * one route, one metadata collection, one hold of the receiver's lock for up to BATCH_MAX
   * messages), as sendmmsg does. Message i has cookie `cookie + i`. Returns how many were
   * sent: all of them, or fewer when one after the first could not be (the receiver's room
   * ran out, or anything else: the call for the rest says why). Throws when the first cannot
   * be sent (nothing sent), and on bad arguments before anything is sent.
   */
  sendMany(dst: Destination, payloads: readonly (ArrayBufferView | ArrayBuffer | SharedArrayBuffer)[], opts?: SendOptions): number {
    const op = 'sendMany';
    const e = this.live(op);
    const o = options<SendOptions>(op, opts, SEND_KEYS, '{ cookie: 7, priority: 0 }');
    if (!isList(payloads)) throw new BusError(A.EINVAL, op, `payloads must be an array, got ${kindOf(payloads)}`);
    // every option read once, first (a getter runs the caller's code, which may send, even
    // sendMany on this connection: a send of its own, delivered before this one), as send() does
    const oCookie = o.cookie, oPriority = o.priority, oFlags = o.flags, type = o.payloadType;
    // at most SEND_MANY_MAX of them per call (the count returned says how many went): an
    // array-like Proxy reporting a length of 2^32 - 1 valid payloads was read to its end, and
    // killed the process (an outside audit, stop 19)
    const n = Math.min(payloads.length, SEND_MANY_MAX);
    // every payload read once and measured next (a bad one sends nothing; reading an element
    // may run the caller's code too). The scratch (each element as read, its length then)
    // grows as elements are read, so a huge sparse array fails at its first hole without
    // allocating for its length (it did, and a length of 2^32 - 1 killed the process: an
    // outside audit, stop 19). It is this connection's unless a sendMany of it is under way
    // (a nested one gets its own).
    const reuse = !this.batchBusy;
    const objs: unknown[] = reuse ? this.batchObjs : [];
    let lens = reuse ? this.batchLens : new Float64Array(BATCH_MAX);
    if (reuse) this.batchBusy = true;
    try {
      // (this thread's command area, which the sends write: a payload in it is refused, as send() refuses it)
      const area = e.cmd, areaEnd = area + A.CMD_MAX;
      for (let i = 0; i < n; i++) {
        const x = payloads[i];
        const b = payloadBytes(x);
        if (b === null) throw new BusError(A.EINVAL, op, `payloads[${i}] must be an ArrayBufferView, ArrayBuffer or SharedArrayBuffer, got ${kindOf(x)}`);
        if (i === lens.length) {
          const more = new Float64Array(lens.length * 2);
          more.set(lens);
          lens = more;
          if (reuse) this.batchLens = lens;
        }
        objs[i] = x;
        const len = payloadLength(b);
        lens[i] = len;
        if (len > 0 && overlapsIn(b, len, this.busBuffer, area, areaEnd)) throw inCmdArea(op, `payloads[${i}]`, payloadOffset(b), len, area);
      }
      // the caller's code ran (option and element getters): the connection, the bus may be gone
      this.live(op);
      if (oCookie === null || oPriority === null) throw new BusError(A.EINVAL, op, `${oCookie === null ? 'cookie' : 'priority'} must be a number, got null (leave it out for the default)`);
      const first = oCookie ?? this.nextCookie;
      if (!isU64(first) || !isU64(first + Math.max(n - 1, 0))) throw new BusError(A.EINVAL, op, `cookie must be a non-negative safe integer, and so must cookie + payloads.length - 1, got ${shown(first)}`);
      const priority = oPriority ?? 0;
      if (!isS64(priority)) throw new BusError(A.EINVAL, op, `priority must be a safe integer, got ${shown(priority)}`);
      const flags = u32Arg(op, 'flags', oFlags, 0);
      if (type !== undefined && !(typeof type === 'bigint' && type >= 0n && type < 1n << 64n)) throw new BusError(A.EINVAL, op, `payloadType must be a u64 bigint, got ${typeof type === 'number' ? `the number ${type}` : shown(type)}`);
      const { u32, u8 } = e;
      const cmd = e.cmd, msg = cmd + SEND.MSG, end = cmd + A.CMD_MAX;
      // an empty array sends nothing, but its destination is checked as send() checks its form
      // (an id, a unique or a well-known name of at most the item's size: EINVAL), as its
      // options are (it returned 0 for any destination, {} included, before stop 66: an
      // outside audit); nothing of the receiver's (ESRCH), no message being sent
      if (n === 0) { this.putDst(op, dst, u8, u32, msg + A.MSG_HDR); return 0; }
      const cv = this.cmdView !== null && this.cmdViewAt === cmd ? this.cmdView : this.makeCmdView(u8, cmd);
      let sent = 0;
      while (sent < n) {
        const len0 = lens[sent];
        if (len0 === 0 || len0 > A.SEND_INLINE_MAX) {
          // an empty payload, or one copied straight into the pool: a SEND of its own
          try {
            const b = bytesAt(objs, lens, sent);
            if (b === null) throw changed(op);
            this.sendParts(dst, b, first + sent, priority, flags, type);
          } catch (err) {
            if (sent === 0) throw err instanceof BusError ? relabel(op, err) : err;
            break;
          }
          sent++;
          continue;
        }
        // a batch: the message header, DST_NAME, then a VEC per payload with its bytes
        // (the VEC items one after the other: the message; the bytes after it, in the command area)
        let p = this.putDst(op, dst, u8, u32, msg + A.MSG_HDR);
        let k = sent, data = 0;
        for (; k < n && k - sent < BATCH_MAX; k++) {
          const len = lens[k];
          if (len === 0 || len > A.SEND_INLINE_MAX || p + (k - sent + 1) * A.VEC_ITEM_SIZE + data + ((len + 7) & ~7) > end) break;
          data += (len + 7) & ~7;
        }
        let at = p + (k - sent) * A.VEC_ITEM_SIZE;
        for (let i = sent; i < k; i++) {
          const len = lens[i], b = bytesAt(objs, lens, i);
          if (b === null) { if (sent === 0 && i === 0) throw changed(op); k = i; break; }
          p = items.putVec(u32, p, len, at);
          cv.set(b, at - cmd);
          at += (len + 7) & ~7;
        }
        if (k === sent) break; // (a payload resized since it was measured: the call for the rest says so)
        SEND.encodeMsg(u32, msg, p - msg, flags, priority, this.dstId, first + sent, 0);
        if (type !== undefined) SEND.encodePayloadType(u32, msg, type);
        SEND.encode(u32, cmd, msg, A.SEND_BATCH);
        SEND.clearBatchSent(u32, cmd); // (a SEND that fails before it initialises its outputs leaves the field as it was)
        let r: number;
        try {
          r = e.sendInline(this.slot, this.gen);
        } catch (err) {
          // a trap (a core bug) in the middle: the messages before it were committed, and counted
          const went = SEND.batchSent(u32, cmd);
          if (sent + went === 0) throw err;
          sent += went;
          break;
        }
        const went = SEND.batchSent(u32, cmd);
        if (r < 0 && sent + went === 0) throw commandError(u32, cmd, r, op, SEND.NAME, { dst });
        sent += went;
        if (r < 0) break;
      }
      if (oCookie === undefined && sent > 0) this.nextCookie = cookieAfter(first + sent - 1);
      return sent;
    } finally {
      // no payload kept alive by this connection: the elements cleared, the array's room kept
      // for the next call (a length set to 0 gave it back, and the next call grew it again: a
      // third of sendMany's heap per call before stop 54), unless it grew past SEND_MANY_KEEP
      if (n <= SEND_MANY_KEEP) objs.fill(undefined, 0, n);
      else objs.length = 0;
      if (reuse) this.batchBusy = false;
    }
  }
  /** sendMany's payloads as read and their lengths as measured (reused from call to call), and whether a sendMany is using them */
  private batchObjs: unknown[] = [];
  private batchLens = new Float64Array(BATCH_MAX);
  private batchBusy = false;

  /**
   * send()'s checks without the sending (SEND_PROBE): throws what send() would, but for the
   * receiver's room; returns the receiver's slot address (for a name: its owner now).
   */
  private probe(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: SendOptions): number {
    const e = this.engine;
    this.nextSendFlags = A.SEND_PROBE;
    e.lockWaitMs = this.sendLockWait(); // (an event-loop caller: EDEADLK soon, not after a second)
    try {
      this.send(dst, payload, opts);
    } catch (err) {
      if (err instanceof BusError && err.errno === A.EDEADLK) this.sendLockSeen(true);
      throw err;
    } finally {
      this.nextSendFlags = 0;
      e.lockWaitMs = e.syncLockWaitMs;
    }
    return e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_WAIT_ADDR) >>> 2] - A.CONN_SPACE;
  }

  sendText(dst: Destination, text: string, opts?: SendOptions): number {
    if (typeof text !== 'string') throw new BusError(A.EINVAL, 'sendText', `text must be a string, got ${kindOf(text)}`);
    return this.sendAs('sendText', false, dst, encoder.encode(text), opts as object); // (its errors name sendText: "send" before stop 41)
  }

  sendJSON(dst: Destination, value: unknown, opts?: SendOptions): number {
    // a closed connection first: before JSON.stringify runs the value's toJSON (the caller's
    // code), as every send reads its arguments only on an open connection (before stop 41 it
    // ran them first: an outside audit)
    this.live('sendJSON');
    const text = JSON.stringify(value);
    if (text === undefined) throw new BusError(A.EINVAL, 'sendJSON', 'the value has no JSON form');
    return this.sendAs('sendJSON', false, dst, encoder.encode(text), opts as object);
  }

  private recvCmd(flags: number, priority: number, op: string): number {
    const e = this.live(op);
    const cmd = e.cmd, u32 = e.u32;
    RECV.encode(u32, cmd, flags, priority);
    const r = e.recv(this.slot, this.gen);
    const d = RECV.dropped(u32, cmd);
    this.droppedTotal += d;
    if (d > 0) this.sawDrops();
    // (with what batches were told and no message has carried yet: batchDropped)
    this.lastDropped = d + this.batchDropped;
    this.batchDropped = 0;
    return r;
  }

  /**
   * A receive was told of messages the bus dropped for this connection: with calls pending,
   * one of them may have been a call's end (a REPLY_DEAD or REPLY_TIMEOUT with no room). The
   * reply pump's next look asks (dropSeen), and a pump that left ends to a listener looks now.
   */
  private sawDrops(): void {
    const calls = this.calls;
    if (calls === null || calls.live === 0) return;
    calls.dropSeen = true;
    this.caller.pump.dropped();
  }

  /** The next message (FIFO, or by priority), or null when the queue is empty. */
  recv(opts?: RecvOptions): Message | null {
    const m = this.recvWith(options<RecvOptions>('recv', opts, RECV_KEYS, '{ peek: true, priority: 0 }'), 'recv');
    return m === null ? null : this.told(m);
  }

  /** `m`, handed out by a receive that has set lastDropped: the count goes with it (Message.dropped) */
  private told(m: Message): Message {
    m.droppedN = this.lastDropped;
    return m;
  }

  /** recv() with checked option keys; checks the values. */
  private recvWith(o: RecvOptions, op: string): Message | null {
    let flags = optBoolean(op, 'peek', o.peek) ? A.RECV_PEEK : 0;
    const oPrio = o.priority; // (read once: a getter may answer differently each time)
    if (oPrio === null) throw new BusError(A.EINVAL, op, 'priority must be a safe integer, got null (leave it out for no priority filter)');
    const prio = oPrio ?? 0;
    if (oPrio !== undefined) {
      if (!isS64(prio)) throw new BusError(A.EINVAL, op, `priority must be a safe integer, got ${shown(prio)}`);
      flags |= A.RECV_USE_PRIORITY;
    }
    // messages a batch took (a listener's) come next, in order, whatever the priority (they
    // are received already: it cannot pass them by); a peek hands the first of them out and
    // leaves it first (before stop 65 it took it, and the peek's free() lost it: an outside
    // reading); the options are checked first all the same (before stop 41 a bad one took a
    // message while taken ones were left: an outside audit)
    if (this.takenAt < this.takenN) {
      const m = (flags & A.RECV_PEEK) !== 0 ? this.peekTaken(op) : this.takeTaken(op);
      if (m !== null) return m;
    }
    const calls = this.calls;
    let dropped = 0;
    const want = flags;
    // with calls pending and no priority filter, an empty queue tells which calls lost their
    // REPLY_TIMEOUT (calls.expire): the clock is read before the RECV whose tick expires them
    const t0 = calls !== null && calls.live > 0 && oPrio === undefined ? this.engine.monotonicNs() : 0;
    if (this.deferredFrees !== null) this.freeDeferredNow();
    // the slices of messages a batch handed over and that were done with (a listener's, an
    // iterator's: freed with its next RECV_BATCH) go now: an iterator left without return()
    // kept up to 32 of them counted in the pool, whatever this connection received after
    // (before stop 65: an outside reading)
    if (this.batchFreeN !== 0) this.flushBatchFree();
    for (;;) {
      const r = this.recvCmd(flags, prio, op);
      dropped += this.lastDropped;
      this.lastDropped = dropped;
      if (r === -A.EAGAIN) {
        if (t0 !== 0) calls!.expire(t0, op);
        return null;
      }
      const u32 = this.engine.u32, cmd = this.engine.cmd;
      checkCmd(u32, cmd, r, op, RECV.NAME);
      const off = RECV.offset(u32, cmd), size = RECV.size(u32, cmd);
      // a reply (or REPLY_TIMEOUT / REPLY_DEAD) that a pending call awaits goes to it
      if (calls !== null && calls.live > 0) {
        if ((flags & A.RECV_PEEK) !== 0 && calls.isClaimable(this.poolBase + off)) {
          // a peek found a pending call's end: that very message goes to its call, taken by its
          // cookie (RECV_REPLY), and the peek looks again. (A plain RECV took it before: with a
          // `priority`, that RECV took whatever was first by then, a message another thread
          // had queued meanwhile at a lower priority, and the peek's caller was handed that
          // message received for real, not peeked: its free() lost it. Found in a random
          // checker, 7 of ~4 200 runs, and reproduced by an outside reading, stop 63.)
          const p = calls.pending.get(get64(this.engine.u32, this.poolBase + off + A.MSG_TIMEOUT))!;
          this.freeOffset(off); // (unpublished: it stays queued until its RECV_REPLY)
          this.takeReply(p, op, false);
          continue;
        }
        if (calls.claim(this.poolBase + off, off, size)) { flags = want; continue; }
      }
      // a peeked slice may be handed out again (a receive after the peek): from the first
      // peek on, Messages check their slice's epoch (sliceEpochs)
      if ((flags & A.RECV_PEEK) !== 0 && this.sliceEpochs === null) this.sliceEpochs = new Uint32Array((this.poolSize >>> 6) + 1);
      return new Message(this, off, size, (flags & A.RECV_PEEK) !== 0);
    }
  }

  /**
   * @internal One counter per 64 bytes of the pool, made at this connection's first peek:
   * +1 whenever a Message gives its slice back (free, or a batch's deferred free). A slice
   * can be handed out twice (a peek, then the receive that takes it), and a Message of it
   * whose epoch is no longer its slice's reads as freed: freeing through one Message made
   * another free the block's next occupant (an outside audit, stop 19). (Message blocks are
   * at least 96 bytes: two live ones never share a counter.)
   */
  sliceEpochs: Uint32Array | null = null;

  /**
   * recvWith for an event-loop wait: a contended lock is waited for at most ASYNC_LOCK_WAIT_MS
   * (engine.lockWaitMs); a lock still taken then reads as "nothing yet", with the EDEADLK in
   * `lockBusy`: the caller lets its event loop run (a dead holder is recovered there) for at
   * most ASYNC_LOCK_RETRY_MS and tries again, and throws it once the lock has been taken for
   * LOCK_WAIT_MS in all (`lockStuck`).
   */
  private recvYielding(o: RecvOptions, op: string): Message | null {
    const e = this.engine;
    e.lockWaitMs = this.lockBusy === null ? e.asyncLockWaitMs : 0; // (a lock found stuck: look, do not block again)
    try {
      const m = this.recvWith(o, op);
      this.lockBusy = null;
      this.lockLook.clear();
      return m;
    } catch (err) {
      if (!(err instanceof BusError && err.errno === A.EDEADLK)) throw err;
      this.lockLook.seen(this.engine);
      this.lockBusy = err;
      return null;
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
  }

  /**
   * A pending call's own look for its reply (RECV_REPLY: wherever it is queued; nothing else
   * is taken off the queue, and the dropped count stays for the user's next receive). The
   * reply, REPLY_TIMEOUT or REPLY_DEAD found is handed to `p` (calls.claim). Finding none
   * once the call's deadline has passed proves that the core expired its record (this RECV's
   * tick did) and dropped its REPLY_TIMEOUT (no room): the call ends with ETIMEDOUT all the
   * same (docs/DIFFERENCES.md, D6). `yielding`: an event-loop wait (call()): a contended lock
   * is waited for at most ASYNC_LOCK_WAIT_MS, then reads as "nothing yet" (lockBusy), as in
   * recvYielding. `first`: RECV_REPLY_FIRST, an end queued behind messages is left there
   * (`p.behind` set: a listener takes it in order).
   */
  /** @internal PumpOwner */
  takeReply(p: PendingCall, op: string, yielding: boolean, first = false): void {
    const e = this.live(op);
    if (this.deferredFrees !== null) this.freeDeferredNow();
    const r = this.recvReply(p.cookie, op, yielding, first);
    if (r === null) return;
    if (r === -A.EAGAIN) {
      // (`first`: its end is queued behind messages, left to the receive that takes them: the listener)
      if (first && RECV.behind(e.u32, e.cmd)) { p.behind = true; return; }
      // no end queued: the core says whether one may still come. RECV_RETURN_NO_CALL: no record
      // of the call and none in flight, so its end was dropped (it ends now, not at its
      // deadline). Without it the call waits, also past its deadline: a message is in flight
      // into this pool (reserved, not committed yet), maybe its reply, which took the call's
      // record. Before stop 63 a call past its deadline ended here with ETIMEDOUT whatever
      // the core said, and a reply in flight then reached the user's receive as an ordinary
      // message (an outside reading). Bounded: LOCK_WAIT_MS past the deadline (a sender that
      // reserved and never commits) it ends so all the same.
      const t1 = e.monotonicNs();
      if (RECV.noCall(e.u32, e.cmd)) this.calls!.endLost(p, t1);
      else if (t1 >= p.deadlineNs + A.LOCK_WAIT_MS * 1e6) this.calls!.lost(p);
      else p.askedNs = t1;
      return;
    }
    const u32 = e.u32, cmd = e.cmd;
    checkCmd(u32, cmd, r, op, RECV.NAME);
    const off = RECV.offset(u32, cmd);
    if (first && this.listener !== null && this.takenAt < this.takenN && this.wakeN < RECV_BATCH_MAX) {
      // first in the queue, but the listener's batch has messages still to hand over, which
      // came before it: the call is woken once they are (as an end its batch took: batchTakeOut)
      const q = this.calls!.claimQuiet(this.poolBase + off, off, RECV.size(u32, cmd));
      if (q === null) {
        this.freeOffset(off);
        throw new BusError(A.EFAULT, op, `internal: RECV_REPLY returned a message that is not the reply of call ${p.cookie}`);
      }
      // (a REPLY_TIMEOUT, which this receive's own tick may have queued, settles its call at once, as batchTakeOut's do)
      if (q !== NO_WAKE && q.error?.errno === A.ETIMEDOUT) q.wake?.();
      else if (q !== NO_WAKE) { q.held = true; this.wakeAt![this.wakeN] = this.takenN; this.wakeCall[this.wakeN++] = q; }
      return;
    }
    if (!this.calls!.claim(this.poolBase + off, off, RECV.size(u32, cmd))) {
      // (the core matched the cookie of a call still pending: cannot happen)
      this.freeOffset(off);
      throw new BusError(A.EFAULT, op, `internal: RECV_REPLY returned a message that is not the reply of call ${p.cookie}`);
    }
  }

  /**
   * RECV_REPLY for `cookie` (0: the first end of any call; `first`: with RECV_REPLY_FIRST): the command's result, or, for a
   * `yielding` receive (an event-loop wait: call()'s pump and its waits) whose lock stayed
   * taken for ASYNC_LOCK_WAIT_MS, null with the EDEADLK in `lockBusy` (as in recvYielding).
   */
  /** @internal PumpOwner */
  recvReply(cookie: number, op: string, yielding: boolean, first = false): number | null {
    const e = this.live(op);
    if (yielding) e.lockWaitMs = this.lockBusy === null ? e.asyncLockWaitMs : 0;
    try {
      RECV.encode(e.u32, e.cmd, first ? A.RECV_REPLY | A.RECV_REPLY_FIRST : A.RECV_REPLY, cookie);
      const r = e.recv(this.slot, this.gen);
      if (yielding) {
        // the engine returns EDEADLK (it does not throw it): a lock still taken is "nothing
        // yet" here as well (before, it failed the pump and every call waiting on it: seen
        // in Chromium, a page's calls while a worker held its lock past ASYNC_LOCK_WAIT_MS)
        if (r === -A.EDEADLK) {
          this.lockLook.seen(this.engine);
          this.lockBusy = commandError(e.u32, e.cmd, r, op, RECV.NAME);
          return null;
        }
        this.lockBusy = null;
        this.lockLook.clear();
      }
      return r;
    } catch (err) {
      if (!(yielding && err instanceof BusError && err.errno === A.EDEADLK)) throw err;
      this.lockLook.seen(this.engine);
      this.lockBusy = err;
      return null;
    } finally {
      if (yielding) e.lockWaitMs = e.syncLockWaitMs;
    }
  }

  /** The EDEADLK of the last recvYielding, once the lock has stayed taken for LOCK_WAIT_MS (else null: try again). */
  /** @internal PumpOwner */
  lockStuck(): BusError | null {
    return this.lockBusy !== null && this.lockLook.stuck(this.engine) ? this.lockBusy : null;
  }

  /** Drop the next queued message unread; false when the queue is empty. */
  drop(): boolean {
    // (a message a batch took, a listener's: the first to go)
    if (this.takenAt < this.takenN) { const m = this.takeTaken('drop'); if (m !== null) { m.free(); return true; } }
    const calls = this.calls;
    if (calls !== null && calls.live > 0) {
      // a call's reply is never dropped: one at the head goes to its call (RECV_REPLY), and the
      // drop goes on with the next. The head is read in place: only this thread takes messages
      // off this queue, and a sender only ever appends. (Receiving and freeing the next message
      // instead, as before, freed a slice the user had peeked, and told a dropped call's caller
      // nothing: found by an outside audit.)
      const e = this.live('drop'), head = e.connAddr(this.slot) + A.CONN_Q_HEAD;
      let b = 0;
      for (let n = 0; n < A.MAX_PENDING_REPLIES + 1; n++) {
        b = Atomics.load(e.u32, head >>> 2);
        if (b === 0 || !calls.isClaimable(b + A.BLOCK_HDR)) break;
        const p = calls.pending.get(get64(e.u32, b + A.BLOCK_HDR + A.MSG_TIMEOUT))!;
        this.takeReply(p, 'drop', false);
      }
      // the queue was empty when looked at: nothing to drop. (A RECV_DROP then dropped whatever
      // came since, a call's reply that another thread queued meanwhile, whose call failed
      // with EPIPE; or the REPLY_TIMEOUT its own tick queued: an outside reading, stop 63.)
      if (b === 0) return false;
    }
    if (this.batchFreeN !== 0) this.flushBatchFree(); // (as recvWith: a batch consumer's done slices)
    const r = this.recvCmd(A.RECV_DROP, 0, 'drop');
    if (r === -A.EAGAIN) return false;
    checkCmd(this.engine.u32, this.engine.cmd, r, 'drop', RECV.NAME);
    return true;
  }

  /**
   * The next message, waiting for one if the queue is empty (for event-loop threads: the
   * wait is an Atomics.waitAsync on the connection's wake word). Rejects with ETIMEDOUT
   * after `timeout` ms, ECANCELED when `signal` aborts, ECONNRESET when the connection is
   * closed. While it is pending the thread is kept alive, unless `keepAlive: false` or
   * unref() was called.
   */
  recvAsync(opts?: RecvAsyncOptions): Promise<Message> {
    // checked and tried at once, without an async function: a message already queued costs
    // no generator and no closure (the receive loop of a busy consumer); the waiting goes on
    // in recvAsyncWait. Every failure rejects, as from an async function.
    try {
      if (this.recvOwed || this.recvYield !== null) {
        // a loop of receives that each found a message queued has held the event loop past
        // FAIR_MS (host/fair.ts): one macrotask first, with nothing taken yet (an abort, a
        // close, a shutdown meanwhile are what the receive then says), the options read
        // now; the receives made meanwhile wait for it too, in call order
        const c = this.checkRecvAsync(opts);
        this.recvOwed = false;
        const y = this.recvYield ??= yieldTurn().then(() => { this.recvYield = null; });
        this.yieldingReceives++; // (a pending receive meanwhile: pendingReceives)
        return y.then(() => {
          this.yieldingReceives--;
          // (shut down meanwhile: ESHUTDOWN, as a parked receive says; a later one says ECONNRESET)
          if (this.isClosed && this.busShutDown) throw shutdownError('recvAsync');
          return this.handed(this.recvChecked(c.o, c.timeout, c.signal, c.keepAlive, null));
        });
      }
      const r = this.recvNow(opts);
      return r instanceof Message ? Promise.resolve(this.handed(r)) : r;
    } catch (err) {
      return Promise.reject(err);
    }
  }
  /** a recvAsync() that found its message queued is owed a macrotask before the next one (stepResolved) */
  private recvOwed = false;
  /** @internal receives (recvAsync, iterator steps) waiting for the macrotask they owe the event loop: pending receives until it has run */
  yieldingReceives = 0;
  /** the macrotask the receives wait for meanwhile */
  private recvYield: Promise<void> | null = null;
  /** a recvAsync()'s receive: one that found its message queued counts in the thread's chain of wake-ups (host/fair.ts) */
  private handed<T extends Message | Promise<Message>>(r: T): T {
    if (r instanceof Message && stepResolved()) this.recvOwed = true;
    return r;
  }

  /** @internal
   * recvAsync's checks and first look, synchronous (recvAsync, and the iterator's step): the
   * message when one is queued, else the promise of the wait. Throws what recvAsync rejects
   * with. Internal.
   */
  recvNow(opts?: RecvAsyncOptions, stop: WaitStop | null = null): Message | Promise<Message> {
    const o = options<RecvAsyncOptions>('recvAsync', opts, RECV_ASYNC_KEYS, '{ timeout: ms }');
    const oTimeout = o.timeout; // (read once)
    if (oTimeout === null) throw new BusError(A.EINVAL, 'recvAsync', 'timeout must be a number of ms >= 0, got null (leave it out for the default)');
    const timeout = oTimeout ?? Infinity, signal = o.signal;
    checkWait('recvAsync', timeout, signal);
    const keepAlive = optBoolean('recvAsync', 'keepAlive', o.keepAlive);
    // peek and priority read once too, here (a wait's later tries read them again from the
    // caller's object before stop 35: an outside audit); no object made for a receive without
    // them (the receive loop's recvAsync({ timeout }))
    const peek = o.peek, priority = o.priority;
    return this.recvChecked(peek === undefined && priority === undefined ? NO_RECV_OPTS : { peek, priority }, timeout, signal, keepAlive, stop);
  }

  /** @internal
   * recvAsync's options checked once, for a caller that waits again and again with the same
   * ones (an iterator, a listener): what recvChecked takes. Throws what recvAsync rejects with.
   * Internal.
   */
  checkRecvAsync(opts?: RecvAsyncOptions): CheckedRecv {
    const o = options<RecvAsyncOptions>('recvAsync', opts, RECV_ASYNC_KEYS, '{ timeout: ms }');
    const oTimeout = o.timeout; // (read once)
    if (oTimeout === null) throw new BusError(A.EINVAL, 'recvAsync', 'timeout must be a number of ms >= 0, got null (leave it out for the default)');
    const timeout = oTimeout ?? Infinity, signal = o.signal;
    checkWait('recvAsync', timeout, signal);
    // (peek and priority: their values are checked by every receive, recvWith)
    return { o: { peek: o.peek, priority: o.priority }, timeout, signal, keepAlive: optBoolean('recvAsync', 'keepAlive', o.keepAlive) };
  }

  /** @internal
   * recvNow with its options checked (recvNow, or checkRecvAsync once); `spun`: the caller did
   * the wait's adaptive spin already (spinWake); `looked`: the wake word the caller read
   * (wakeSeen) before a look of its own that found the queue empty (takeBatched): no second
   * look before the wait (a cold look costs 5-25 µs at 100 messages/s: docs/BENCHMARKS.md,
   * stops 11 and 22). Internal.
   */
  recvChecked(o: RecvOptions, timeout: number, signal: AbortSignal | undefined, keepAlive: boolean | undefined, stop: WaitStop | null, spun = false, looked?: number): Message | Promise<Message> {
    if (signal?.aborted) throw canceled('recvAsync', signal);
    // (after a batch's empty look, what it was told stays in batchDropped: the wait's next
    // look (recvCmd) carries it, and a wait that ends without a message leaves it for the next
    // receive)
    if (looked !== undefined) return this.recvAsyncWait(o, timeout, now() + timeout, signal, keepAlive, looked, 0, stop, spun);
    // read the word before looking at the queue: a message published after recv() found
    // the queue empty has changed it, and the wait returns at once
    let seen: number, m: Message | null, gave = false;
    for (;;) {
      seen = Atomics.load(this.engine.i32, this.wakeIndex);
      m = this.recvYielding(o, 'recvAsync');
      // (taken while an older receive of the line waits: that one's, recv-line.ts; look again)
      // (a receive that will not wait, `timeout: 0`, keeps what it found, as recv() does)
      if (m === null || o.priority !== undefined || o.peek || !(timeout > 0) || !this.line.give(null, m, this.lastDropped)) break;
      gave = true;
    }
    if (m) return this.told(m);
    // a message handed to an older receive is a step of the thread's chain, as one handed over
    // here is (recvAsync's handed(): host/fair.ts): two receive loops of one thread handing
    // each other their messages held its timers for as long as they ran (a review of stop 68:
    // a 5 ms timer ran after 955 ms, 30 000 messages)
    if (gave && stepResolved()) this.recvOwed = true;
    // (the clock is read only for a wait: a queued message costs no clock read)
    return this.recvAsyncWait(o, timeout, now() + timeout, signal, keepAlive, seen, this.lastDropped, stop, spun);
  }

  /**
   * @internal listen's park (listen.ts): wait on the wake word from `seen`, with no waiter,
   * frame, promise or RECV made per park: `onWake`, made once per listener, is called once
   * the wait resolves (it calls parkWoke). `w`, the listener's one waiter, is counted among
   * this connection's receive waits while parked (pendingReceives; close() calls its cancel,
   * which ends the park), and holds no keep-alive (the listener's standingHold does).
   * PARK_MOVED: the word had moved, nothing parked (look again); PARK_BUSY: a lock was found
   * stuck (lockBusy): the listener parks through recvChecked, which retries on its timer.
   */
  parkListen(w: Waiter, seen: number, m: CallbackMember): number {
    if (this.lockBusy !== null) return PARK_BUSY;
    m.ticket = this.waitGroup.ticket();
    if (!this.waitGroup.join(m, seen)) return PARK_MOVED;
    w.error = null;
    this.waiters.add(w); // (close() sets its error and calls its cancel, which ends the park)
    return PARK_PARKED;
  }
  /** @internal a listener's park woke (the group called its member's callback): count it; true: yield a macrotask first (fair.ts) */
  parkWoke(): boolean { return parkWoke(); }
  /** @internal listen's park is over (woken, or ended by its owner: out of the group then) */
  unparkListen(w: Waiter, m: CallbackMember): void {
    this.waiters.delete(w);
    this.waitGroup.leave(m);
  }
  /** a batched receive (a listener, a `for await` loop) ended: messages its batch took and left are for this thread's other receives, parked or not (they look again) */
  private wakeListen(): void { if (this.takenLeft > 0) this.waitGroup.kick(); }

  /** @internal the wake word now (read before a last look at the queue: spinWake's `seen`) */
  wakeSeen(): number {
    return Atomics.load(this.engine.i32, this.wakeIndex);
  }

  /**
   * @internal the adaptive spin of a receive's wait, synchronous (listen.ts: a message caught
   * goes by with no promise): true when the wake word moved from `seen` within it (look
   * again); false when no spin was due, or it ran out (then park: recvChecked with `spun`)
   */
  spinWake(seen: number): boolean {
    return this.spinner.shouldSpin() && this.spinner.spin(this.engine.i32, this.wakeIndex, seen, Infinity);
  }

  /**
   * End a receive's wait that its owner ended (an abort, an iterator's return()): it leaves the
   * group alone (host/wait-group.ts, endWait), the word's other waits sleep on. None parked (a yield,
   * a wait that ended at once, between two waits): nothing to end.
   */
  private endPark(park: GroupWait | null): void {
    if (park !== null) endWait(park);
  }

  /** recvAsync once its first look found the queue empty (`seen`: the wake word before it; `dropped`: what it reported). */
  private async recvAsyncWait(o: Partial<RecvAsyncOptions>, timeout: number, deadline: number, signal: AbortSignal | undefined,
    keepAlive: boolean | undefined, seen: number, dropped: number, stop: WaitStop | null, spun: boolean): Promise<Message> {
    const i32 = this.engine.i32, idx = this.wakeIndex;
    let w: LineWaiter | null = null;
    /** the wait parked now (waitIn), for an abort or an iterator's return() to end alone */
    let park: GroupWait | null = null;
    // (made only with a signal: a receive without one allocates no hook before it parks; one
    // listener per signal for all of this thread's waits: abort-hooks.ts)
    const onAbort: AbortHook | null = signal === undefined ? null : { handleEvent: () => {
      if (!w || w.error || w.given !== null) return; // (given a message: it hands it over, recv-line.ts)
      w.error = canceled('recvAsync', signal);
      w.cancel?.();
      this.endPark(park);
    } };
    let spinDecided = spun;
    /** the priority limit of this receive's looks, for its wait group (Infinity: none; a valid one, checked by the first look) */
    const limit = typeof o.priority === 'number' ? o.priority : Infinity;
    /** this receive's place among the thread's waits on the word, kept while it parks again (taken at its first park) */
    let ticket = 0;
    // `dropped`: DROPPED_MSGS reported by RECVs that found the queue empty, told with the
    // message. Each turn waits (a spin, or a park on the word), then looks at the queue again.
    try {
      for (;;) {
        const left = deadline - now();
        if (left <= 0) { this.lastDropped = dropped; throw new BusError(A.ETIMEDOUT, 'recvAsync', `no message within ${timeout} ms`); }
        // the first time the queue is empty: spin briefly (<= 50 µs) while recent spins caught their message
        let caught = false, owe = false;
        const busy = this.lockBusy !== null; // the last look found a lock taken: wait a little, look again
        // (the last look, from `seen`, found nothing this receive takes: what it takes later came after)
        const emptyFrom = busy ? NaN : seen;
        if (!spinDecided && !busy) {
          spinDecided = true;
          caught = this.spinner.shouldSpin() && this.spinner.spin(i32, idx, seen, left);
          // a catch counts in the thread's chain of wake-ups as an immediate receive does
          // (reply-pump.ts says why); when the chain says the loop is held, the receive waits
          // one macrotask first, as a waiter that a close, an abort or the iterator's end ends
          owe = caught && stepResolved();
        }
        if (!caught || owe) {
          if (!w) {
            w = { linkPrev: null, linkNext: null, linkIn: null, keep: keepAlive, held: false, error: null, cancel: null, filtered: o.priority !== undefined,
              lPrev: null, lNext: null, inLine: false, given: null, givenDropped: 0, park: null };
            this.waiters.add(w);
            // (a recvAsync that takes any message stands in the line: recv-line.ts; an
            // iterator's step or a listener's wait, which its owner ends, gives and is not given;
            // its place among the thread's waits is taken now, in the line's order)
            if (ticket === 0) ticket = this.waitGroup.ticket();
            if (o.priority === undefined && !o.peek && stop === null) this.line.join(w);
            this.holdFor(w);
            // (the pump may have left an aborted call's late end to this receive while it yielded: it takes it now)
            if (w.filtered) this.receivesChanged();
            if (onAbort) this.aborts.watch(signal!, onAbort, 'recvAsync');
            if (stop) {
              const sw: Waiter = w;
              stop.cancel = (err) => {
                if (sw.error) return;
                sw.error = err;
                sw.cancel?.();
                this.endPark(park);
              };
            }
          }
          const cur: LineWaiter = w;
          if (cur.error) throw cur.error; // (a signal may abort while its listener is added)
          const ms = busy ? Math.min(left, A.ASYNC_LOCK_RETRY_MS) : left;
          await new Promise<void>((resolve) => {
            cur.cancel = resolve;
            if (owe) void yieldTurn().then(resolve);
            else {
              // (`busy`: the look saw nothing, its lock taken: what the word counted is new to it)
              cur.park = park = waitIn(this.waitGroup, seen, ms, resolve, false, ticket, !busy, limit);
            }
          });
          // (ended by close() through cur.cancel: out of the group now, not at the close's bump)
          if (park !== null) dropWait(park);
          cur.park = park = null;
          cur.cancel = null;
          // a younger receive took a message while this one waited, and gave it this one (it
          // parked first: recv-line.ts)
          const given = cur.given;
          if (given !== null) {
            cur.given = null;
            this.line.held--;
            // handed over, also when aborted since (the abort came after the message was its:
            // it does not take the abort, recv-line.ts); not when the connection went meanwhile
            // (closed with `drop`, a close without it says EBUSY while a message is held so;
            // shut down; or this thread declared dead and its connections closed by a recovery):
            // the message went with the connection's pool, and the wait fails as the others do
            if (!this.isClosed && !this.gone && !isShutdown(this.engine.u32)) {
              this.spinner.woke(now());
              this.lastDropped = cur.givenDropped + dropped;
              return this.told(given);
            }
          }
          if (cur.error) throw cur.error;
        }
        // look, and again while what it takes goes to an older receive of the line
        let m: Message | null;
        for (;;) {
          // read the word before looking at the queue (as recvAsync's first look did)
          seen = Atomics.load(i32, idx);
          const fromQueue = this.takenAt === this.takenN; // (else a stopped listener's leftover comes first: not in the word's count)
          m = this.recvYielding(o, 'recvAsync');
          const stuck = this.lockStuck();
          if (stuck) throw stuck;
          if (m === null) break;
          // told to the thread's waits on the word: the message came after `emptyFrom`, and is
          // gone for those that looked from there or before (host/wait-group.ts, took)
          if (fromQueue && !o.peek && emptyFrom === emptyFrom) this.waitGroup.took(emptyFrom);
          if (o.priority !== undefined || o.peek || !this.line.give(w, m, this.lastDropped)) break;
        }
        if (m) {
          this.spinner.woke(now()); // (a wait that ended with a message: another waiter's wake-up does not count)
          this.lastDropped += dropped;
          return this.told(m);
        }
        dropped += this.lastDropped;
      }
    } finally {
      if (stop) stop.cancel = null;
      if (w) {
        this.line.leave(w);
        if (onAbort) this.aborts.unwatch(signal!, onAbort);
        this.waiters.delete(w);
        if (w.held) { w.held = false; release(); }
        if (this.calls !== null && this.calls.live > 0) this.receiveEnded();
      }
    }
  }

  /**
   * A receive of the user's began waiting with a `priority` filter: an aborted call's late
   * end that the reply pump left to the receives waiting (endsOwed) is the pump's again when
   * none of them would take it (before stop 64 it stayed queued, in pendingCalls, until the
   * user's next receive).
   */
  private receivesChanged(): void {
    if (this.calls !== null && this.calls.live > 0) this.caller.pump.owed();
  }

  /**
   * A receive of the user's ended its wait, calls pending: the same question, a macrotask
   * later, once per connection. By then a loop of receives has its next one waiting, and the
   * pump does not run (asked at once, it ran, and parked, once per message received while an
   * aborted call was pending: a second wake-up per message; an outside review of this stop).
   */
  private receiveEnded(): void {
    if (this.owedAsk) return;
    this.owedAsk = true;
    void yieldTurn().then(() => { this.owedAsk = false; if (!this.isClosed) this.receivesChanged(); });
  }
  private owedAsk = false;

  /**
   * The next message, blocking this thread (Atomics.wait) until one arrives or `timeout` ms
   * pass (then null). For workers; Node's and Deno's main threads allow it too. Throws
   * EOPNOTSUPP where the runtime refuses to block (a browser main thread).
   */
  recvWait(timeout: number = Infinity, opts?: RecvOptions): Message | null {
    if (typeof timeout !== 'number' || !(timeout >= 0)) {
      throw new BusError(A.EINVAL, 'recvWait', `timeout must be a number of ms >= 0 (recvWait(timeout, opts)), got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}`);
    }
    const oo = options<RecvOptions>('recvWait', opts, RECV_KEYS, '{ peek: true, priority: 0 }');
    // read once (each RECV of the wait below uses them: a getter may answer differently each time)
    const o: RecvOptions = opts === undefined ? NO_OPTIONS : { peek: oo.peek, priority: oo.priority };
    const i32 = this.engine.i32, idx = this.wakeIndex;
    const deadline = now() + timeout;
    let spinDecided = false;
    /** DROPPED_MSGS reported by RECVs that found the queue empty: told with the message (or the null) */
    let dropped = 0;
    let waited = false;
    for (;;) {
      const seen = Atomics.load(i32, idx);
      const m = this.recvWith(o, 'recvWait');
      if (m) {
        if (waited) this.spinner.woke(now()); // (a wait that ended with a message)
        this.lastDropped += dropped;
        return this.told(m);
      }
      dropped += this.lastDropped;
      const left = deadline - now();
      if (left <= 0) { this.lastDropped = dropped; return null; } // recvWait(0): no spin
      if (!spinDecided) {
        // spin briefly first (adaptive, <= 50 µs): a peer that answers within microseconds saves two futex trips
        spinDecided = true;
        waited = true;
        if (this.spinner.shouldSpin() && this.spinner.spin(i32, idx, seen, left)) continue;
      }
      if (!waitWordBlocking(i32, idx, seen, left, this.sleepersIndex)) {
        throw new BusError(A.EOPNOTSUPP, 'recvWait', 'this thread may not block (Atomics.wait is refused here, e.g. on a browser main thread): use recvAsync()');
      }
      waited = true;
    }
  }

  /**
   * @internal PumpOwner: receives of the user that take whatever end of a call they meet: a
   * running listener, and the pending receives without a `priority` filter (a filtered one
   * takes an end only at or below its priority)
   */
  get takingReceives(): number {
    if (this.listener !== null) return 1;
    let n = 0;
    for (let w = this.waiters.first; w !== null; w = w.linkNext as Waiter | null) if (w.op !== 'call' && w.error === null && w.filtered !== true) n++;
    return this.isClosed ? n : n + this.yieldingReceives;
  }

  /** recvAsync() calls of this connection still waiting */
  get pendingReceives(): number {
    let n = 0;
    // (a call() waits among them for close(), not as a receive; one that close() or an abort
    // has ended is no longer pending, though it leaves the set a microtask later: counted until
    // then before stop 41, an outside audit)
    for (let w = this.waiters.first; w !== null; w = w.linkNext as Waiter | null) if (w.op !== 'call' && w.error === null) n++;
    // (and those in the macrotask they owe the event loop, host/fair.ts: they end with ECONNRESET once it has run)
    return this.isClosed ? n : n + this.yieldingReceives;
  }

  /** @internal ref() / unref() of this connection: do its waits keep the thread alive by default? (conn.waitForName's polling timer) */
  get keepsAlive(): boolean { return this.refd; }

  /** Pending receives of this connection do not keep the thread alive (unless asked per call). */
  unref(): this {
    this.refd = false;
    for (const w of this.waiters) this.holdFor(w);
    for (const w of this.sendWaiters) this.holdFor(w);
    for (const w of this.standing) this.holdFor(w);
    return this;
  }

  /** Undo unref(): pending receives keep the thread alive again (the default). */
  ref(): this {
    this.refd = true;
    for (const w of this.waiters) this.holdFor(w);
    for (const w of this.sendWaiters) this.holdFor(w);
    for (const w of this.standing) this.holdFor(w);
    return this;
  }

  /**
   * Keep-alive holds that last longer than one wait: a listener's, from listen() to its end
   * (listen.ts). Its parks take holds of their own too, as any receive's; with this one
   * under them the thread's keep-alive timer is ref'd once for the listener's life instead
   * of ref'd and unref'd at every park (a toggle of a cold timer handle per parked message:
   * docs/BENCHMARKS.md, stop 26). ref() / unref() move these as they move pending receives'.
   */
  private readonly standing = new Set<Waiter>();

  /** @internal take a keep-alive hold that lasts until dropHold (as a receive's, `keep` as recvAsync's keepAlive) */
  standingHold(keep: boolean | undefined): Waiter {
    const w: Waiter = { linkPrev: null, linkNext: null, linkIn: null, keep, held: false, error: null, cancel: null };
    this.standing.add(w);
    this.holdFor(w);
    return w;
  }

  /** @internal give a standingHold back */
  dropHold(w: Waiter): void {
    if (!this.standing.delete(w)) return;
    if (w.held) { w.held = false; release(); }
  }

  private holdFor(w: Waiter): void {
    const want = w.keep ?? this.refd;
    if (want && !w.held) { w.held = true; hold(); }
    else if (!want && w.held) { w.held = false; release(); }
  }

  /** @internal FREE a slice offset (Message.free uses it). */
  freeOffset(offset: number): void {
    const e = this.live('free');
    const cmd = e.cmd, u32 = e.u32;
    FREE.encode(u32, cmd, offset);
    const r = e.free(this.slot, this.gen);
    if (r < 0) throw commandError(u32, cmd, r, 'free', FREE.NAME, { offset });
  }

  /**
   * UPDATE: change this connection's attach masks (what receivers may see of it, what it
   * wants on the messages it receives); a mask not given is kept. Applies from the next message.
   */
  update(opts: UpdateOptions): void {
    this.live('update'); // (ECONNRESET before the options are read; again after: updateAttach)
    updateAttach(this, opts);
  }

  /**
   * CONN_INFO: what connection `id` (or the primary owner of the well-known name `id`) was at its HELLO (its connection-time metadata), with
   * the names it owns and its description now, limited to its send mask ∩ `opts.attach`.
   */
  info(id: number | string, opts?: InfoOptions): ConnectionInfo {
    this.live('info');
    return connInfo(this, id, opts);
  }

  /** BUS_CREATOR_INFO: the bus creator's metadata as it was at Bus.create (id 0, the bus's flags). */
  creatorInfo(opts?: InfoOptions): ConnectionInfo {
    this.live('creatorInfo');
    return creatorInfo(this, opts);
  }

  /**
   * BYEBYE. Throws EBUSY while messages are queued (receive or drop them first); after
   * bus.shutdown() the queued messages are dropped instead, and with `drop` always (one BYEBYE
   * with BYEBYE_DROP: nothing can arrive between a drain and the close). On a thread that
   * another thread recovered (declared dead), or when a recovery closed the connection
   * already, it only marks the connection closed.
   */
  close(opts?: CloseOptions): void {
    // (the arguments first, as every method: a closed connection's close() with a wrong option
    // threw ECONNRESET before the option's EINVAL, an outside audit, stop 38)
    const drop = optBoolean('close', 'drop', options<CloseOptions>('close', opts, CLOSE_KEYS, '{ drop: true }').drop) === true;
    if (this.isClosed) throw new BusError(A.ECONNRESET, 'close');
    const e = this.engine;
    const u32 = e.u32;
    // declared dead (its recoverer closed the connection): only marked closed, nothing written
    // (the command area may be another thread's by now: live())
    let gone = false;
    try { e.checkAlive(); } catch (err) { if (!(err instanceof BusError && err.errno === A.ECONNRESET)) throw err; gone = true; }
    const cmd = gone ? 0 : e.cmd;
    // messages a batch took (a listener's) and nobody was handed yet count as queued (EBUSY,
    // as BYEBYE says of the queue), unless they go with the close
    if (!gone && this.takenLeft > 0 && !drop && !isShutdown(u32)) {
      throw new BusError(A.EBUSY, 'close', `${this.takenLeft} message(s) taken by a batched receive (a listener's, an iterator's) are still to be handed over (receive them, or close({ drop: true }))`);
    }
    // and so do messages a receive took for an older one of the line that has not resumed yet
    // (a microtask, or the macrotask it owes the event loop: recv-line.ts)
    if (!gone && this.line.held > 0 && !drop && !isShutdown(u32)) {
      throw new BusError(A.EBUSY, 'close', `${this.line.held} message(s) taken for an older parked receive are still to be handed over to it (it resumes in a microtask, or after the macrotask it owes the event loop: let it, or close({ drop: true }))`);
    }
    let r = -A.ECONNRESET;
    if (!gone) try {
      BYEBYE.encode(u32, cmd, drop ? A.BYEBYE_DROP : 0);
      r = e.byebye(this.slot, this.gen);
      if (r === -A.EBUSY && !isShutdown(u32) && this.dropCallEnds()) {
        BYEBYE.encode(u32, cmd);
        r = e.byebye(this.slot, this.gen);
      }
      if (r === -A.EBUSY && isShutdown(u32)) {
        BYEBYE.encode(u32, cmd, A.BYEBYE_DROP); // (after a shutdown the queue goes with the close)
        r = e.byebye(this.slot, this.gen);
      }
    } catch (err) {
      if (!(err instanceof BusError && err.errno === A.ECONNRESET && e.lost)) throw err;
      r = -A.ECONNRESET; // this thread was recovered: its recoverer closed the connection
    }
    if (r !== -A.ECONNRESET) checkCmd(u32, cmd, r, 'close', BYEBYE.NAME);
    this.isClosed = true;
    this.takenAt = this.takenN = this.batchFreeN = 0;
    if (this.wakeN !== 0) this.wakeTaken(true);
    // after bus.shutdown() (which closes the creator's connections) this thread's waiters
    // say why, as every other thread's do: ESHUTDOWN, not ECONNRESET
    const why = (op: string) => isShutdown(u32)
      ? shutdownError(op)
      : new BusError(A.ECONNRESET, op, 'the connection was closed');
    this.calls?.closed(why);
    this.onClose?.(this);
    // pending receives of this thread fail now; waiters elsewhere see the word move, re-check
    // and find the handle closed
    for (const w of this.waiters) {
      if (w.error) continue;
      w.error = why(w.op ?? 'recvAsync');
      w.cancel?.();
    }
    // (not for a connection its thread's recoverer closed: that close woke its waiters, and its
    // slot may be another thread's connection by now, whose receiver this would wake for
    // nothing, and whose sender's batch it would break: an outside audit, stop 53)
    if (!gone && !e.lost) bump(e.i32, this.wakeIndex, this.sleepersIndex);
    for (const w of this.sendWaiters) {
      if (w.error) continue;
      w.error = why(w.op ?? 'sendAsync');
      w.cancel?.();
    }
  }

  /**
   * close() found messages queued: the ends of this connection's calls among them (the late
   * reply of an aborted call, a reply its pump has not taken yet) are taken and handed to
   * their calls (Calls.claim: an abandoned call's is freed). The user cannot receive those
   * (recv() hands them over the same way), so they must not make close() fail with EBUSY.
   * If the close then succeeds, a call that got its end here rejects with ECONNRESET as it
   * resumes (call()); if it still fails (other messages queued), the call keeps its reply.
   * True when one was taken.
   */
  private dropCallEnds(): boolean {
    const calls = this.calls;
    if (calls === null || calls.live === 0) return false;
    let any = false;
    const u32 = this.engine.u32, cmd = this.engine.cmd;
    for (const p of calls.pending.values()) {
      if (this.recvReply(p.cookie, 'close', false) !== 0) continue;
      const off = RECV.offset(u32, cmd);
      if (!calls.claim(this.poolBase + off, off, RECV.size(u32, cmd))) this.freeOffset(off); // (cannot happen: its cookie is a pending call's)
      any = true;
    }
    return any;
  }

  /** Statistics of this connection (queue, pool, quota, peaks): see js/health.ts, ConnStats. */
  stats(): ConnStats {
    const e = this.live('stats');
    const st = connStats(e, this.slot);
    if (!st || e.connGen(this.slot) !== this.gen) throw new BusError(A.ECONNRESET, 'stats', 'the connection was closed (by a recovery)');
    return st;
  }

  /**
   * The messages of this connection as an async iterator (recvAsync in a loop, with `opts`
   * for every wait): each step frees the message the previous step gave, unless it was
   * kept (msg.keep()); breaking out of the loop frees the last one the same way. Ends
   * (done) when the connection is closed; any other error (ETIMEDOUT, ECANCELED,
   * ESHUTDOWN) is thrown out of the loop.
   */
  messages(opts?: MessagesOptions): MessageIterator {
    return iterate(this, opts);
  }

  /**
   * Hand each message to `handler` as it comes, until stop(), the signal, or close(): queued
   * messages synchronously one after the other, an empty queue waited for as recvAsync waits.
   * Each message is freed when the handler returns (an async handler: when its promise
   * settles), unless it kept it (msg.keep()). One listener per connection (EBUSY).
   * docs/API.md, "conn.listen".
   */
  listen(handler: (msg: Message) => unknown, opts?: ListenOptions): Listener {
    return listen(this, handler, opts);
  }

  /** @internal bus.shutdown() was called (read from the bus header) */
  get busShutDown(): boolean { return isShutdown(this.engine.u32); }

  /**
   * @internal the listener that runs on this connection, or null (listen.ts). While one
   * runs, call()'s reply pump leaves the ends of calls that have messages queued before them
   * to it, so that they come in queue order (reply-pump.ts); its end lets the pump take them.
   */
  get listening(): object | null { return this.listener; }
  /** @internal (the setter too: stripInternal drops each accessor by its own tag; stop 56, audit EW) */
  set listening(v: object | null) {
    const was = this.listener;
    this.listener = v;
    if (was !== null && v === null) this.caller.pump.nudge();
  }
  private listener: object | null = null;

  /** @internal the next queued message without waiting (recvAsync's first look: a contended lock reads as none for now), or null */
  // --- conn.listen's batches (RECV_BATCH) ---
  /**
   * Messages a RECV_BATCH took off the queue and nobody has been handed yet: (offset, size)
   * pairs, the next at takenAt, up to takenN. They are this connection's next messages, so
   * every receive (recv, recvAsync, recvWait, the iterators, drop, a listener) takes them
   * first, in order; `queued` counts them and close() says EBUSY while there are any.
   */
  private taken: Uint32Array | null = null;
  private takenAt = 0;
  private takenN = 0;
  /** slices of messages the listener is done with, freed by its next RECV_BATCH (offsets) */
  private batchFree: Uint32Array | null = null;
  private batchFreeN = 0;

  /**
   * Calls whose end a RECV_BATCH took behind messages of the batch (batchTakeOut): each is
   * woken once the receives have been handed the messages before it (takenAt has reached
   * wakeAt[i]: takeTaken), or when the batch is given up (wakeTaken), so that a listener's
   * call settles after its handler was handed every message queued before the call's end,
   * even when the listener yields in the middle of the batch. Ordered by position.
   */
  private wakeAt: Uint8Array | null = null;
  private wakeCall: (PendingCall | null)[] = [];
  private wakeI = 0;
  private wakeN = 0;

  /** Wake the batch's deferred calls whose position the receives have reached (all: `all`). */
  private wakeTaken(all: boolean): void {
    while (this.wakeI < this.wakeN && (all || this.wakeAt![this.wakeI] <= this.takenAt)) {
      const p = this.wakeCall[this.wakeI]!;
      this.wakeCall[this.wakeI++] = null;
      p.held = false;
      p.wake?.();
    }
    if (this.wakeI === this.wakeN) this.wakeI = this.wakeN = 0;
  }

  /** messages taken by a batch and not handed over yet */
  private get takenLeft(): number { return this.takenN - this.takenAt; }

  /** @internal messages the last RECV_BATCH took and nobody has been handed yet (listen.ts) */
  get batchPending(): boolean { return this.takenAt < this.takenN; }

  /**
   * @internal conn.listen's next message: the next taken one, else a RECV_BATCH (which first
   * frees the slices of the messages handed over since the last one: releaseBatched). null
   * when none is queued, or when the lock stays taken past ASYNC_LOCK_WAIT_MS (as
   * recvYielding), throwing its EDEADLK once it has been taken for LOCK_WAIT_MS (lockStuck).
   */
  takeBatched(op: string): Message | null {
    this.live(op);
    for (;;) {
      if (this.takenAt < this.takenN) { const m = this.takeTaken(op); if (m !== null) return m; }
      if (!this.recvBatch(op, op === 'listen')) {
        const stuck = this.lockStuck();
        if (stuck) throw stuck;
        return null;
      }
    }
  }

  /**
   * The next taken message (takenAt < takenN). The connection must still be this one: a
   * thread declared dead and recovered that runs on (a handler that blocked while another
   * thread recovered it) finds its connection closed, its taken messages gone with its pool
   * (which may be another connection's by now): ECONNRESET, as a RECV of it would say.
   */
  private takeTaken(op: string): Message | null {
    if (this.engine.connGen(this.slot) !== this.gen) {
      this.takenAt = this.takenN = this.batchFreeN = 0;
      this.wakeTaken(true);
      throw new BusError(A.ECONNRESET, op, 'the connection was closed (by a recovery: this thread was declared dead)');
    }
    const t = this.taken!, ep = this.sliceEpochs;
    while (this.takenAt < this.takenN) {
      // (the calls whose ends came before this message: every message before them handed over)
      if (this.wakeN !== 0) this.wakeTaken(false);
      const k = this.takenAt++, off = t[2 * k], size = t[2 * k + 1];
      // (a call whose end came after the batch's last message is woken by the next look: recvBatch, batchEnd)
      if (this.takenAt === this.takenN) this.takenAt = this.takenN = 0;
      // a slice given back since the batch took it is not this message's any more (its block
      // may hold another one: stop 19's audit). Since stop 63 nothing does that: a peek's
      // Message lets go of itself only while a batch holds its slice (Message.batchOwns,
      // where the peek's free lost the message before); the check stays as a guard
      if (ep !== null && ep[off >>> 6] !== this.takenEpoch![k]) continue;
      // the drops the batches reported since the last message handed over go with this one,
      // and only with it (before stop 65 every message of a batch repeated its batch's count,
      // and a listener's empty look lost its count to the next batch's: an outside reading)
      this.lastDropped = this.batchDropped;
      this.batchDropped = 0;
      return this.told(new Message(this, off, size));
    }
    return null;
  }
  /**
   * The next taken message, peeked: handed out as a peek's Message (whose free() lets go of
   * itself alone while the batch holds the slice: Message.batchOwns), and left first. null
   * when none is left (entries whose slice was given back are passed, as takeTaken does).
   */
  private peekTaken(op: string): Message | null {
    if (this.engine.connGen(this.slot) !== this.gen) return this.takeTaken(op); // (its ECONNRESET)
    const t = this.taken!, ep = this.sliceEpochs;
    while (this.takenAt < this.takenN) {
      const k = this.takenAt, off = t[2 * k], size = t[2 * k + 1];
      if (ep !== null && ep[off >>> 6] !== this.takenEpoch![k]) {
        if (++this.takenAt === this.takenN) this.takenAt = this.takenN = 0;
        continue;
      }
      // (from the first peek on, Messages check their slice's epoch: the receive that takes
      // it later hands out a second Message of the slice, as recvWith says)
      if (this.sliceEpochs === null) this.sliceEpochs = new Uint32Array((this.poolSize >>> 6) + 1);
      // (no RECV: nothing told with it; what the batch was told goes with the take, takeTaken.
      // It kept the last receive's count, which the peek's Message repeated: a review, stop 69)
      this.lastDropped = 0;
      return new Message(this, off, size, true);
    }
    return null;
  }
  /** @internal Is the slice at `offset` a taken message's, not handed over yet? (Message.free of a peek's) */
  takenHolds(offset: number): boolean {
    const t = this.taken;
    for (let k = this.takenAt; k < this.takenN; k++) if (t![2 * k] === offset) return true;
    return false;
  }
  /** the slice epoch (sliceEpochs) of each taken message when the batch took it */
  private takenEpoch: Uint32Array | null = null;

  /**
   * One RECV_BATCH, its messages into `taken` (which is empty): true when it took any; false
   * for an empty queue, or a lock still taken (lockBusy, as recvYielding). A reply that a
   * pending call awaits goes to the call here, as it is taken.
   */
  private recvBatch(op: string, byListener: boolean): boolean {
    const e = this.engine, u32 = e.u32, cmd = e.cmd;
    if (this.taken === null) {
      this.taken = new Uint32Array(2 * RECV_BATCH_MAX);
      this.takenEpoch = new Uint32Array(RECV_BATCH_MAX);
      this.batchFree = new Uint32Array(RECV_BATCH_MAX);
      this.wakeAt = new Uint8Array(RECV_BATCH_MAX);
      this.wakeCall = new Array<PendingCall | null>(RECV_BATCH_MAX).fill(null);
    }
    // (the last batch handed over to its end: its calls' ends that came after its last message)
    if (this.wakeN !== 0) this.wakeTaken(true);
    const calls = this.calls;
    // (as recvWith: an empty queue tells which calls lost their REPLY_TIMEOUT)
    const t0 = calls !== null && calls.live > 0 ? e.monotonicNs() : 0;
    let r: number;
    try {
      for (;;) {
        RECV.encodeBatch(u32, cmd, RECV_BATCH_MAX, this.batchFree!, this.batchFreeN);
        e.lockWaitMs = this.lockBusy === null ? e.asyncLockWaitMs : 0;
        r = e.recv(this.slot, this.gen);
        if (r !== -A.ENXIO || this.batchFreeN === 0) break;
        // a slice the handler's message shared with a Message of a peek, freed through that
        // one meanwhile (a slice is freed once): its free is skipped, the others go on
        const freed = Math.min(RECV.batchFreed(u32, cmd), this.batchFreeN - 1);
        this.batchFree!.copyWithin(0, freed + 1, this.batchFreeN);
        this.batchFreeN -= freed + 1;
      }
    } catch (err) {
      // a trap (a core bug) in the middle: what committed before it stays done (the frees
      // counted in free_count; the messages counted in taken are received: kept as taken)
      this.batchTakeOut(u32, cmd, byListener);
      throw err;
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
    if (r === -A.EDEADLK) {
      // changed nothing: the frees wait for the next try
      this.lockLook.seen(this.engine);
      this.lockBusy = commandError(u32, cmd, r, op, RECV.NAME);
      return false;
    }
    this.lockBusy = null;
    this.lockLook.clear();
    const d = RECV.dropped(u32, cmd);
    this.droppedTotal += d;
    if (d > 0) this.sawDrops();
    this.batchDropped += d; // (told with the next message handed over: takeTaken)
    if (r === -A.EAGAIN) {
      this.batchFreeN = 0;
      if (t0 !== 0) calls!.expire(t0, op);
      return false;
    }
    if (r < 0) {
      this.batchTakeOut(u32, cmd, byListener);
      checkCmd(u32, cmd, r, op, RECV.NAME); // (throws)
    }
    this.batchFreeN = 0;
    // (true when it took anything: a batch of nothing but calls' ends, all handed to their
    // calls, is no empty queue, and the listener looks again instead of parking on a word
    // that did not move with messages still queued: an outside audit)
    return this.batchTakeOut(u32, cmd, byListener) > 0;
  }

  /**
   * After a RECV_BATCH: the pending frees it did leave the list, the messages it took go to
   * `taken` (a pending call's reply to its call instead).
   */
  private batchTakeOut(u32: Uint32Array, cmd: number, byListener: boolean): number {
    const freed = Math.min(RECV.batchFreed(u32, cmd), this.batchFreeN);
    if (freed > 0) { this.batchFree!.copyWithin(0, freed, this.batchFreeN); this.batchFreeN -= freed; }
    const n = RECV.batchTaken(u32, cmd), at = (cmd + A.RECV_BATCH_ENTRIES) >>> 2, t = this.taken!;
    const calls = this.calls, claims = calls !== null && calls.live > 0;
    let k = this.takenN * 2;
    try {
      for (let i = 0; i < n; i++) {
        const off = u32[at + 2 * i], size = u32[at + 2 * i + 1];
        if (claims) {
          const p = calls!.claimQuiet(this.poolBase + off, off, size);
          if (p !== null) {
            // an end of a call behind messages of a listener's batch: its call is woken once they
            // are handed over (wakeTaken), not now (in order: reply-pump.ts). Only a listener's: it
            // never waits for its handler, where an iterator's body may await that very call
            // while the messages before its end wait for the loop's next step (a deadlock). A
            // REPLY_TIMEOUT wakes its call at once: a call that times out settles whatever is queued.
            if (p === NO_WAKE) continue;
            if (k === this.takenAt * 2 || !byListener || this.listener === null || p.error?.errno === A.ETIMEDOUT) p.wake?.();
            else { p.held = true; this.wakeAt![this.wakeN] = k >>> 1; this.wakeCall[this.wakeN++] = p; }
            continue;
          }
        }
        const ep = this.sliceEpochs;
        this.takenEpoch![k >>> 1] = ep === null ? 0 : ep[off >>> 6];
        t[k++] = off; t[k++] = size;
      }
    } finally {
      // (what was taken so far is kept, whatever threw: the messages are off the queue)
      this.takenN = k / 2;
    }
    return n;
  }

  /**
   * @internal conn.listen is done with `m` (handed over and not kept): it reads as freed now,
   * its slice is freed by the next RECV_BATCH (at once when there is no room to note it).
   */
  releaseBatched(m: Message): void {
    const off = m.detach();
    if (off < 0) return; // (its connection is gone: nothing to free)
    if (this.batchFree === null || this.batchFreeN === RECV_BATCH_MAX) this.freeSoon(off);
    else this.batchFree[this.batchFreeN++] = off;
  }

  /** @internal conn.listen has stopped: the slices it was done with are freed now (its taken messages stay for the next receives). */
  batchEnd(): void {
    // (the listener is over: calls whose ends its batch took wait for no hand-over now; the
    // messages before them stay for the next receives)
    if (this.wakeN !== 0 && this.listener === null) this.wakeTaken(true);
    this.flushBatchFree();
    if (this.gone) return; // (gone with the connection's pool, which a recovery may have given another connection)
    // the messages it took and did not hand over are the next receives' (every receive takes
    // them first, whatever its options): this thread's parked ones look again. The word does
    // not tell them (stop 61's audit: a `for await` that broke, or a listener stopped from its
    // handler, left a parked `priority` receive asleep beside them until its timeout)
    this.wakeListen();
  }

  /** The slices waiting for the next RECV_BATCH (batchFree), freed now (freeSoon: a lock taken defers them). */
  private flushBatchFree(): void {
    const n = this.batchFreeN;
    this.batchFreeN = 0;
    if (this.gone) return;
    for (let k = 0; k < n; k++) this.freeSoon(this.batchFree![k]);
  }

  /**
   * @internal Free the slice at `offset` of a message the event loop's receivers are done
   * with (a listener's handled message, an iterator's step, the end of their batch): a lock
   * taken is waited for engine.asyncLockWaitMs at most, then the free is deferred and tried
   * again every ASYNC_LOCK_RETRY_MS from a timer until it goes or the connection closes. A
   * synchronous free spun up to LOCK_WAIT_MS on a page there, and one that failed with
   * EDEADLK lost the rest of the batch's slices for good (an outside audit, stop 22). A slice
   * freed meanwhile through a peeked Message of it (ENXIO) is skipped, as recvBatch does.
   */
  freeSoon(offset: number): void {
    if (offset < 0) return; // (detach() of a message whose connection is gone)
    if (this.deferredFrees !== null) { this.deferredFrees.push(offset); return; } // (after those already waiting)
    if (!this.freeLooking(offset)) { this.deferredFrees = [offset]; this.deferFrees(); }
  }
  /** slices whose free met a lock taken, in order (freeSoon), and the timer of their next try */
  private deferredFrees: number[] | null = null;
  private deferTimer: ReturnType<typeof setTimeout> | null = null;
  /** One FREE from the event loop: false when a lock stayed taken (nothing changed). */
  private freeLooking(offset: number): boolean {
    const e = this.engine, was = e.lockWaitMs; // (a receive's own wait, for its next command: restored)
    e.lockWaitMs = this.deferredFrees !== null || this.lockBusy !== null ? 0 : Math.min(was, e.asyncLockWaitMs);
    try {
      this.freeOffset(offset);
    } catch (err) {
      if (err instanceof BusError && err.errno === A.EDEADLK) return false;
      if (!(err instanceof BusError && err.errno === A.ENXIO)) throw err;
    } finally {
      e.lockWaitMs = was;
    }
    return true;
  }
  /**
   * The deferred frees, tried now without waiting for a lock (what still meets one stays for
   * the timer): run by every receive (recvWith, takeReply), so that a thread that blocks and
   * never returns to its event loop (recvWait, callSync loops), whose timers never run, gets
   * them freed too. (A call end's slice is freed so since stop 63, on every path: an outside
   * reading saw three callSyncs' REPLY_TIMEOUTs held that way.)
   */
  private freeDeferredNow(): void {
    const d = this.deferredFrees!;
    let k = 0;
    while (k < d.length && this.freeLooking(d[k])) k++; // (no wait: deferredFrees is set)
    if (k === d.length) {
      this.deferredFrees = null;
      if (this.deferTimer !== null) { clearTimeout(this.deferTimer); this.deferTimer = null; }
    } else if (k > 0) d.splice(0, k);
  }
  private deferFrees(): void {
    this.deferTimer = setTimeout(() => {
      this.deferTimer = null;
      const d = this.deferredFrees;
      if (d === null) return;
      if (this.gone) { this.deferredFrees = null; return; } // (gone with the pool, which a recovery may have given another connection)
      let k = 0;
      try {
        while (k < d.length && this.freeLooking(d[k])) k++;
      } catch {
        k = d.length; // (the connection is gone: ECONNRESET of a recovered thread, ESHUTDOWN)
      }
      if (k === d.length) { this.deferredFrees = null; return; }
      d.splice(0, k);
      this.deferFrees();
    }, A.ASYNC_LOCK_RETRY_MS);
    unrefTimer(this.deferTimer); // (keeps no thread alive: a thread that ends leaves with its bus)
  }

  /** `for await (const msg of conn)`: messages() without options. */
  [Symbol.asyncIterator](): MessageIterator {
    return iterate(this, undefined);
  }

  /** `using conn = bus.connect()` (where the runtime has Symbol.dispose): close() unless closed. */
  declare [Symbol.dispose]: () => void;
  // names issue (js/names.ts)
  /** NAME_ACQUIRE: 'primary', 'in-queue', 'already-owner', 'already-queued' or 'left-queue'; throws EEXIST, E2BIG, ENFILE, EINVAL. */
  requestName(name: string, opts?: N.RequestNameOptions): N.AcquireResult { return N.requestName(this, name, opts); }
  /** NAME_RELEASE: throws ESRCH (nobody owns it), EADDRINUSE (this connection neither owns nor queues for it). */
  releaseName(name: string): void { N.releaseName(this, name); }
  /** The id of the primary owner of the well-known `name`, or null; a unique name ":1.<id>": that id while its connection is on the bus, else null. */
  getNameOwner(name: string): number | null { return N.getNameOwner(this, name); }
  nameHasOwner(name: string): boolean { return N.getNameOwner(this, name, 'nameHasOwner') !== null; }
  /** Well-known names with an owner, sorted. */
  listNames(): string[] { return N.listNames(this); }
  /** Names that have an activator (LIST_ACTIVATORS), sorted. */
  listActivatableNames(): string[] { return N.listActivatableNames(this); }
  /** Ids of the bus's connections (monitors excepted; activators included), ascending. */
  listPeers(): number[] { return N.listPeers(this); }
  /** LIST: records by the flags asked for (a check that nothing leaked, for instance). */
  list(opts?: N.ListOptions): N.ListEntry[] { return N.list(this, opts); }

  // calls issue (js/calls.ts)
  /** the EDEADLK of the last event-loop try that found a lock taken (recvYielding; null: none); how long it has stayed taken is lockLook's */
  /** @internal PumpOwner */
  lockBusy: BusError | null = null;
  /** how long the lock of lockBusy has stayed taken (lock-look.ts) */
  private readonly lockLook = new LockLook();
  /** this thread's parked receives that take any message, in the order they parked (recv-line.ts) */
  private readonly line = new RecvLine();

  /** the pending calls, made by the first call() */
  /** @internal PumpOwner */
  calls: Calls | null = null;
  /** msg.timeout_ns of the next send (a call's deadline, a reply's cookie_reply; 0 otherwise) */
  private nextTimeout = 0;
  /** the op a send's failures report (its arguments' and its SEND command's): 'send', or the method that sends (call, callSync, reply, replyAsync, dispatch, sendAsync) */
  private sendOp = 'send';
  /** SEND command flags of the next send (SEND_SYNC_REPLY for callSync) */
  private nextSendFlags = 0;

  /**
   * calls of this connection sent and not settled: waiting for their end (aborted ones whose
   * end is still owed included), or with their end taken and their call() about to resume
   * (a microtask later). 0 once closed.
   */
  get pendingCalls(): number { return this.calls === null || this.isClosed ? 0 : this.calls.live + this.caller.settling; }
  /** call()s of this connection not sent yet, waiting in its line for a pending-call slot or a reply record (not in pendingCalls or pendingSends) */
  get waitingCalls(): number { return this.caller.waiting; }

  /** the calls of this connection on their way: the slot line, the sends, the waits for their ends (call-run.ts) */
  private readonly caller = new Caller(this);

  /**
   * @internal A call of this connection ended (or may have: Calls.remove, closed): the first
   * call() waiting for a pending-call slot looks again.
   */
  slotPass(): void { this.caller.slotPass(); }

  /** @internal RoomOwner, CallOwner: the abort listeners of this thread's waits, one per signal (abort-hooks.ts) */
  readonly aborts: AbortHooks = abortHooks;
  /** the waits for room of this connection per destination (its id, or the well-known name), in call order (roomWait) */
  private readonly roomGroups = new Map<string | number, RoomGroup>();
  /** @internal CallOwner */
  callTable(): Calls { return this.calls ??= new Calls(this); }
  /** @internal CallOwner */
  hasRoomWaits(dst: Destination): boolean { return this.roomGroups.has(groupKey(dst)); }
  /** @internal CallOwner */
  sendStuck(): boolean { return this.sendStuckAt !== 0; }
  /** @internal CallOwner */
  waitJoin(w: Waiter): void {
    this.waiters.add(w);
    this.holdFor(w);
  }
  /** @internal CallOwner */
  waitLeave(w: Waiter): void {
    this.waiters.delete(w);
    if (w.held) { w.held = false; release(); }
  }

  private callCookie(calls: Calls): number {
    let c = this.nextCookie;
    // (and those of the connection's calls made through the raw ABI, in the core's reply
    // table: a call() with the cookie of a raw call still pending took that call's reply as
    // its own before stop 65, an outside reading; the walk only when the core holds calls)
    const raw = this.engine.u32[(this.engine.connAddr(this.slot) + A.CONN_N_CALLS) >>> 2] !== 0;
    while (calls.pending.has(c) || (raw && this.coreCallHas(c))) c = cookieAfter(c);
    return c;
  }

  /**
   * Does the core's reply table hold a call of this connection with cookie `c` (its CONN_CALLS
   * list: at most MAX_PENDING_REPLIES records)? Read without a lock: a record freed meanwhile
   * (its end queued) may be seen or not, and a walk that goes astray ends at the bound.
   */
  private coreCallHas(c: number): boolean {
    const u32 = this.engine.u32, T = u32[(A.BUS_BASE + A.BUS_REPLIES) >>> 2], n = u32[(A.BUS_BASE + A.BUS_N_REPLIES) >>> 2];
    let i1 = u32[(this.engine.connAddr(this.slot) + A.CONN_CALLS) >>> 2];
    for (let k = 0; i1 !== 0 && i1 <= n && k < A.MAX_PENDING_REPLIES; k++) {
      const r = T + i1 * A.REPLY_SIZE;
      if (get64(u32, r + A.REPLY_COOKIE) === c) return true;
      i1 = u32[(r + A.REPLY_NEXT) >>> 2];
    }
    return false;
  }

  /** @internal CallOwner: send the call (EXPECT_REPLY, `deadline`) and record it. */
  startCall(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, deadline: number, sync: boolean, op: string, pt: bigint | undefined,
    taken: number | undefined): PendingCall {
    this.live(op);
    const calls = this.callTable();
    const cookie = taken ?? this.callCookie(calls);
    const p = calls.add(cookie, op, deadline);
    this.nextTimeout = deadline;
    this.nextSendFlags = sync ? A.SEND_SYNC_REPLY : 0;
    this.sendOp = op;
    try {
      this.sendParts(dst, payload, cookie, undefined, A.MSG_EXPECT_REPLY, pt);
    } catch (err) {
      calls.unsent(p);
      throw err;
    } finally {
      this.nextTimeout = 0;
      this.nextSendFlags = 0;
      this.sendOp = 'send';
    }
    if (taken === undefined) this.nextCookie = cookieAfter(cookie);
    return p;
  }

  /**
   * Call `dst`: send `payload` with EXPECT_REPLY and a deadline `timeout` ms away (default
   * 25000) and resolve with the reply Message (free it when done). Rejects with ETIMEDOUT
   * (REPLY_TIMEOUT: no reply by the deadline), EPIPE (REPLY_DEAD: the replier closed or
   * dropped the call), ECONNRESET (this connection closed), ECANCELED (`signal` aborted: the
   * core keeps the record until the deadline or the reply; a late reply, REPLY_TIMEOUT or
   * REPLY_DEAD is freed by the host when it is received, and never reaches recv()). Send
   * errors (ESRCH, ENXIO, EMSGSIZE, ...) reject too. With MAX_PENDING_REPLIES calls pending
   * (EMLINK) or the bus's reply table full (ENOSPC) it waits for a slot, and for room in the
   * receiver (ENOBUFS / EXFULL) as sendAsync does, all within `timeout` (docs/API.md, Calls,
   * "Backpressure"). The call waits itself, for its own reply
   * only (RECV_REPLY): every other message stays queued for the user's receives.
   */
  call(dst: Destination, payload?: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null, opts?: CallOptions): Promise<Message> {
    // (caller.call itself, not callWith: an async function returning another's promise costs a
    // promise and two microtask hops more per call)
    return this.caller.call(dst, payload, opts, undefined, true, undefined, null);
  }

  /**
   * call() with `text` (UTF-8) as the payload: resolves with the reply's text, the reply freed.
   * Rejects as call() does, every error told as callText's (js/call-json.ts).
   */
  callText(dst: Destination, text: string, opts?: CallOptions): Promise<string> {
    return CJ.callText(this, dst, text, opts);
  }

  /**
   * call() with JSON.stringify(value) as the payload: resolves with JSON.parse of the reply's
   * text, the reply freed; EBADMSG when the reply is not JSON. Rejects as call() does, every
   * error told as callJSON's (js/call-json.ts).
   */
  callJSON(dst: Destination, value: unknown, opts?: CallOptions): Promise<unknown> {
    return CJ.callJSON(this, dst, value, opts);
  }

  /**
   * call(), with a payload type (callMethod: PAYLOAD_DBUS); `transient`: `payload` may change
   * once the call has returned its promise (the user's memory; a buffer the library reuses,
   * encodeTransient's): copied before the call first waits (ownCopy), so the bytes sent are
   * those of the moment of the call.
   */
  private async callWith(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: CallOptions | undefined,
    pt: bigint | undefined, transient: boolean, cookie: number | undefined, argOp = 'call'): Promise<Message> {
    if (cookie === undefined) return this.caller.call(dst, payload, opts, pt, transient, undefined, null, argOp);
    const sent = { yes: false };
    try {
      return await this.caller.call(dst, payload, opts, pt, transient, cookie, sent, argOp);
    } catch (err) {
      // a cookie taken for this call (callMethod's serial) and never sent with: given back
      if (!sent.yes) this.untakeCookie(cookie);
      throw err;
    }
  }

  /**
   * A call that blocks this thread (SEND_SYNC_REPLY; Atomics.wait on the wake word) until its
   * reply: the reply Message, or throws ETIMEDOUT, EPIPE, ECONNRESET as call() rejects.
   * Throws EOPNOTSUPP, before sending, on a thread that may not block (a browser main
   * thread): use call(). Messages for the user stay queued meanwhile.
   */
  callSync(dst: Destination, payload?: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null, opts?: CallSyncOptions): Message {
    return this.caller.callSync(dst, payload, opts, undefined, undefined);
  }


  /**
   * Reply to the call `call` (a received message with EXPECT_REPLY): `payload` to its sender,
   * with cookie_reply = its cookie. Throws EBADSLT when the call is no longer pending (its
   * caller timed out, closed, or got a reply already). Returns the reply's cookie.
   */
  reply(call: Message, payload?: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null, opts?: SendOptions): number {
    return this.replyAs('reply', call, payload, opts);
  }

  /** reply(), its errors told as `op`'s (replyText, replyJSON name themselves: since stop 49, when they said reply) */
  private replyAs(op: string, call: Message, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: SendOptions | undefined): number {
    // a closed connection first, as every send (API.md, Conventions; the call's checks came
    // first before stop 56, an outside audit)
    this.live(op);
    const { src, cookie } = this.replyTarget(call, op);
    return this.replyTo(src, cookie, payload, opts, op);
  }

  /**
   * reply(), waiting while the caller has no room for it (its quota for this sending user, or
   * its pool: ENOBUFS / EXFULL) as sendAsync() does: in the caller's line, woken by the
   * caller's receives and frees, bounded by `timeout` and `signal` (SendAsyncOptions).
   * Everything else fails as reply() does: EBADSLT when the call is no longer pending (its
   * caller timed out meanwhile), ENXIO when its caller is gone. Resolves to the reply's cookie.
   */
  replyAsync(call: Message, payload?: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null, opts?: SendAsyncOptions): Promise<number> {
    return this.replyAsyncAs('replyAsync', call, payload, opts);
  }

  /** replyAsync(), its errors told as `op`'s (replyAsyncText, replyAsyncJSON: since stop 49) */
  private replyAsyncAs(op: string, call: Message, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: SendAsyncOptions | undefined): Promise<number> {
    let src: number, cookie: number, w: ReturnType<Connection['waitOptions']>;
    try {
      this.live(op); // (a closed connection first, as reply)
      ({ src, cookie } = this.replyTarget(call, op));
      w = this.waitOptions(op, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    const sendOpts = w.sendOpts;
    // (a reply that waits for room waits with its own copy of the payload: roomWait)
    return this.roomFirst(op, src, payload, sendOpts, w.timeout, w.signal, w.keepAlive, (b) => this.replyTo(src, cookie, b, sendOpts, op), false, true);
  }

  /** The caller and cookie a reply to `call` goes to, checked (reply, replyAsync). */
  private replyTarget(call: Message, op: string): { src: number; cookie: number } {
    if (!Message.isMessage(call)) throw new BusError(A.EINVAL, op, `call must be a received Message, got ${foreignKind(call) ?? kindOf(call)}`);
    // ids and cookies restart on every bus: a call received on another bus could name a call here
    if (call.conn.engine !== this.engine && !sameBus(call.conn.engine, this.engine)) throw new BusError(A.EINVAL, op, 'the call was received on another bus (reply on the connection that received it)');
    // (a freed call, or one whose connection closed, throws from its own getters: told as
    // this op's, "reply: ENXIO: message already freed"; it said "message: ..." before stop
    // 33, an outside audit)
    let expects: boolean, cookie: number, src: number;
    try {
      expects = call.expectsReply; cookie = call.cookie; src = call.src;
    } catch (err) {
      throw err instanceof BusError ? relabel(op, err) : err;
    }
    if (!expects) throw new BusError(A.EINVAL, op, 'the message is not a call (no EXPECT_REPLY)');
    if (cookie === 0) throw new BusError(A.EINVAL, op, 'the call has cookie 0, which a reply cannot name');
    // a raw-ABI caller's cookie of 2^53 or more reads rounded: a reply with it would answer
    // another call, or none (2^64 writes 0: a plain message), and say it was sent (before stop
    // 48: an outside audit). call()'s own cookies stay below 2^32.
    if (cookie > Number.MAX_SAFE_INTEGER) throw new BusError(A.EINVAL, op, `the call's cookie is 2^53 or more (about ${cookie}, a raw-ABI caller's), which this API cannot name exactly: answer it with a raw SEND`);
    return { src, cookie };
  }

  replyText(call: Message, text: string, opts?: SendOptions): number {
    if (typeof text !== 'string') throw new BusError(A.EINVAL, 'replyText', `text must be a string, got ${kindOf(text)}`);
    return this.replyAs('replyText', call, encoder.encode(text), opts);
  }

  replyJSON(call: Message, value: unknown, opts?: SendOptions): number {
    // a closed connection first, before JSON.stringify runs the value's toJSON (the caller's
    // code), as sendJSON does (since stop 48: it ran first before)
    this.live('replyJSON');
    const text = JSON.stringify(value);
    if (text === undefined) throw new BusError(A.EINVAL, 'replyJSON', 'the value has no JSON form');
    return this.replyAs('replyJSON', call, encoder.encode(text), opts);
  }

  /** replyAsync() with `text` (UTF-8) as the payload (since stop 48). */
  replyAsyncText(call: Message, text: string, opts?: SendAsyncOptions): Promise<number> {
    if (typeof text !== 'string') return Promise.reject(new BusError(A.EINVAL, 'replyAsyncText', `text must be a string, got ${kindOf(text)}`));
    return this.replyAsyncAs('replyAsyncText', call, encoder.encode(text), opts);
  }

  /** replyAsync() with JSON.stringify(value) as the payload (since stop 48). */
  replyAsyncJSON(call: Message, value: unknown, opts?: SendAsyncOptions): Promise<number> {
    let text: string | undefined;
    try {
      this.live('replyAsyncJSON'); // (before the value's toJSON, as replyJSON)
      text = JSON.stringify(value);
      if (text === undefined) throw new BusError(A.EINVAL, 'replyAsyncJSON', 'the value has no JSON form');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.replyAsyncAs('replyAsyncJSON', call, encoder.encode(text), opts);
  }
  // signals issue (js/signals.ts)
  /** @internal the next default cookie, taken (emit uses the send counter: the D-Bus serial) */
  takeCookie(): number { const c = this.nextCookie; this.nextCookie = cookieAfter(c); return c; }
  /** @internal give back cookie `c` that takeCookie() gave, for a send that failed (only when no later one was taken) */
  untakeCookie(c: number): void { if (this.nextCookie === cookieAfter(c)) this.nextCookie = c; }
  /** MATCH_ADD (fresh cookie): a D-Bus match string, a parsed rule or a MatchSpec; returns its unsubscribe (MATCH_REMOVE). close() drops them all. */
  addMatch(rule: S.MatchInput): () => void { return S.addMatch(this, rule); }
  /** Send a D-Bus signal: broadcast, or to `signal.destination`. Returns its cookie (= D-Bus serial). */
  emit(signal: S.SignalSpec): number {
    this.live('emit');
    // the cookie taken first (a send the body's code makes meanwhile gets the next one), and
    // given back when the signal is not sent: the counter advances only for a sent message
    const c = this.takeCookie();
    try { return S.emit(this, signal, c); } catch (err) { this.untakeCookie(c); throw err; }
  }
  /**
   * emit(), waiting while the signal's destination has no room for it (its quota for this
   * sending user, or its pool: ENOBUFS / EXFULL) as sendAsync() does: in the receiver's line,
   * woken by its receives and frees, bounded by `opts.timeout` and `opts.signal`. The signal
   * is read and encoded once, at the call. A broadcast (no destination) never waits for room:
   * a receiver without room loses it (its DROPPED_MSGS), as with emit(); at a lock another
   * thread holds it does not block the thread as emit() does, but is tried again, or set
   * aside where it stopped and gone on with, from timers (js/bcast-async.ts), the
   * connection's awaitable broadcasts in call order. Resolves to the cookie.
   */
  emitAsync(signal: S.SignalSpec, opts?: EmitAsyncOptions): Promise<number> {
    const op = 'emitAsync';
    let c = -1, w: ReturnType<Connection['waitOptions']>, sig: S.PreparedSignal;
    try {
      if (this.isClosed) throw new BusError(A.ECONNRESET, op);
      w = this.waitOptions(op, opts, EMIT_ASYNC_KEYS);
      // (the cookie taken first, as emit() takes it, and given back when the signal is not sent)
      c = this.takeCookie();
      sig = S.prepareSignal(this, signal, c, op);
      // (a broadcast: set aside at a subscriber whose lock stays taken, and gone on with from
      // timers, in call order with the connection's other awaitable broadcasts: bcast-async.ts)
      if (sig.destination === undefined) return broadcastAsync(this, sig, c, op, w.timeout, w.signal, w.keepAlive);
    } catch (err) {
      if (c >= 0) this.untakeCookie(c);
      return Promise.reject(err);
    }
    const cookie = c, s = sig;
    // (its wait's probe is the signal's own: a receiver that has no rule for it takes nothing,
    // whatever its room, and emitAsync then resolves at once, also where senders wait in that
    // receiver's line; a plain message's probe could not tell, and it waited its turn for
    // nothing: an outside reading, stop 64)
    return this.roomFirst(op, s.destination!, s.bytes, { priority: s.priority, payloadType: PAYLOAD_DBUS }, w.timeout, w.signal, w.keepAlive,
      (b) => S.sendSignal(this, s, b as Uint8Array, cookie, op), false, false, () => this.signalProbe(s, cookie, op))
      .then(undefined, (err: unknown) => { this.untakeCookie(cookie); throw err; });
  }
  /**
   * emitAsync's probe (SEND_PROBE of signal `s` itself): the receiver's slot address (its
   * room not checked), PROBE_DROPPED when the bus would drop the signal (the receiver has no
   * rule for it: the core answers 0 without naming the receiver's space word), or what
   * send() would throw but for room (EDEADLK for a lock taken).
   */
  private signalProbe(s: S.PreparedSignal, cookie: number, op: string): number {
    const e = this.engine, w = (e.cmd - A.THREAD_CMD + A.THREAD_WAIT_ADDR) >>> 2;
    e.u32[w] = 0;
    e.lockWaitMs = this.sendLockWait(); // (an event-loop caller: EDEADLK soon, not after a second)
    try {
      S.sendSignal(this, s, s.bytes, cookie, op, true);
    } catch (err) {
      if (err instanceof BusError && err.errno === A.EDEADLK) this.sendLockSeen(true);
      throw err;
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
    const at = e.u32[w];
    return at === 0 ? PROBE_DROPPED : at - A.CONN_SPACE;
  }

  /** Broadcast a D-Bus signal: emit({ path, interface, member, signature, body }). */
  signal(path: string, iface: string, member: string, signature?: string, body?: readonly unknown[]): number {
    return this.emit({ path, interface: iface, member, signature, body });
  }
  /** addMatch(rule) and a handler that dispatch(msg) runs when a received signal passes the full rule; returns the unsubscribe. */
  onSignal(rule: string | MatchRule, handler: S.SignalHandler): () => void { return S.onSignal(this, rule, handler); }
  /**
   * Answer `msg` if it is a D-Bus method call (an exported method's handler, or an error reply
   * at once: UnknownObject / UnknownInterface / UnknownMethod / InvalidArgs / Failed; see
   * js/objects.ts), else run the onSignal handlers whose rule it matches (re-checked: bloom
   * false positives are filtered). Returns how many handlers ran (1 for a method call, answered
   * or handed to its handler). The message is not freed. EOPNOTSUPP on a monitor or an
   * activator (they cannot send: a monitor's copy of another's call is not its to answer).
   */
  dispatch(msg: Message): number {
    if (!Message.isMessage(msg)) throw new BusError(A.EINVAL, 'dispatch', `msg must be a received Message, got ${foreignKind(msg) ?? kindOf(msg)}`);
    // (a call another connection received, maybe on another bus, is not this one's to answer:
    // before stop 65 its handler ran here and the reply went from this connection, refused
    // (EBADSLT, ignored: the caller timed out) or, from another bus, taken as the answer to a
    // call with the same id and cookie there; signals were refused so already: an outside reading)
    if (msg.conn !== this) throw new BusError(A.EINVAL, 'dispatch', 'the message was received by another connection: dispatch it there (its handlers are that connection\'s)');
    // (a freed message, or one whose connection closed: told as dispatch's, as reply's are)
    try { void msg.expectsReply; } catch (err) { throw err instanceof BusError ? relabel('dispatch', err) : err; }
    if (!this.closed) O.checkCanAnswer(this, 'dispatch'); // (a monitor's copy of another's call is not its to answer)
    return O.dispatchCall(this, msg) ? 1 : S.dispatch(this, msg);
  }
  /** Resolves with the owner's id once `name` has one (polls getNameOwner; bus.waitForName waits on notifications). Default timeout 30 s. */
  waitForName(name: string, opts?: S.WaitForNameOptions): Promise<number> { return S.waitForNamePolling(this, name, opts); }
  // handlers issue (js/objects.ts): exported objects and D-Bus method calls
  /** Export `methods` on object `path`, interface `iface` (answered by dispatch); returns the unexport function. EEXIST when that interface is exported there already. */
  export(path: string, iface: string, methods: O.Methods, opts?: O.ExportOptions): () => void { return O.exportObject(this, path, iface, methods, opts); }
  /** A D-Bus method call: resolves with the reply's body values; rejects with DBusError for an error reply (UnknownMethod, Failed, ...), else as call(). */
  callMethod(spec: O.MethodCallSpec, opts?: CallOptions): Promise<unknown[]> { return O.callMethod(this, spec, opts); }
  /** callMethod blocking this thread (callSync): the reply's body values; throws DBusError or as callSync(). */
  callMethodSync(spec: O.MethodCallSpec, opts?: CallSyncOptions): unknown[] { return O.callMethodSync(this, spec, opts); }
  /** A D-Bus method call with NO_REPLY_EXPECTED (no EXPECT_REPLY): no reply and no error ever come back. Returns its cookie. */
  sendMethod(spec: O.MethodCallSpec): number { return O.sendMethod(this, spec); }
  /** @internal the cookie the next call()/callSync() will use (the D-Bus serial of callMethod's message) */
  nextCallCookie(): number { return this.callCookie(this.calls ??= new Calls(this)); }
  /** @internal the next call's cookie, taken (a call given it by callDBus / callSyncDBus sends with it); untakeCookie gives it back */
  takeCallCookie(): number { const c = this.nextCallCookie(); this.nextCookie = cookieAfter(c); return c; }
  /** @internal call() with a D-Bus payload (payload type DBusDBus) */
  callDBus(dst: Destination, bytes: Uint8Array, opts: CallOptions | undefined, transient: boolean, cookie: number): Promise<Message> {
    return this.callWith(dst, bytes, opts, PAYLOAD_DBUS, transient, cookie, 'callMethod');
  }
  /** @internal callSync() with a D-Bus payload */
  callSyncDBus(dst: Destination, bytes: Uint8Array, opts: CallSyncOptions | undefined, cookie: number): Message {
    return this.caller.callSync(dst, bytes, opts, PAYLOAD_DBUS, cookie, 'callMethodSync');
  }
  /** @internal replyTo(), waiting up to `timeout` ms for room in the caller as replyAsync() does (dispatch's replies); op 'dispatch' */
  replyToAsync(src: number, callCookie: number, payload: Uint8Array, opts: SendOptions, timeout: number): Promise<number> {
    return this.roomFirst('dispatch', src, payload, opts, timeout, undefined, undefined, (b) => this.replyTo(src, callCookie, b, opts, 'dispatch'), true, true);
  }
  /** @internal reply() to a call known by its sender and cookie (an async handler's call message may be freed by then) */
  replyTo(src: number, callCookie: number, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts?: SendOptions, op = 'reply'): number {
    // the options read once, into a plain object, before this reply's state (cookie_reply)
    // is set: code a getter runs (a send of its own) sees none of it, and the flags checked
    // below are the flags sent
    const o = options<SendOptions>(op, opts, SEND_KEYS, '{ cookie: 7, priority: 0 }');
    const cookie = o.cookie, priority = o.priority, f = o.flags, pt = o.payloadType;
    // EXPECT_REPLY with a reply's cookie_reply would make it a new call (kdbus reads a SEND
    // with EXPECT_REPLY and a timeout as a call), the real call left unanswered: refused
    if (typeof f === 'number' && (f & A.MSG_EXPECT_REPLY) !== 0) {
      throw new BusError(A.EINVAL, op, 'flags must not have EXPECT_REPLY (1) in a reply: a reply cannot expect one (make a new call with call())');
    }
    this.nextTimeout = callCookie;
    this.sendOp = op;
    try { return this.sendParts(src, payload, cookie, priority, f, pt); } finally { this.nextTimeout = 0; this.sendOp = 'send'; }
  }
  // backpressure (issue 10)
  /** sendAsync() calls of this connection waiting for room */
  private readonly sendWaiters = new LinkedSet<Waiter>();
  /** the adaptive spin of sendAsync's waits for room and its counters (js/host/spin.ts; docs/API.md, "Backpressure and quotas") */
  readonly spaceSpinner = new Spinner();

  /** sendAsync(), replyAsync() and call() sends of this connection still waiting for room in a receiver */
  get pendingSends(): number { return this.sendWaiters.size; }

  /** the receiver (connection slot address) and its generation last found for a well-known name (fair backpressure) */
  private readonly receiverOf = new Map<Destination, { rx: number; gen: number }>();

  /** The receiver `dst` names (a hint: by id from the id table, by name the one last found), else 0. */
  /** @internal RoomOwner */
  knownReceiver(dst: unknown): number {
    if (typeof dst === 'number') return isU64(dst) ? T.receiverById(this.engine.u32, dst) : 0;
    if (typeof dst !== 'string') return 0;
    if (dst.startsWith(':1.') && /^:1\.\d+$/.test(dst)) return T.receiverById(this.engine.u32, Number(dst.slice(3)));
    const k = this.receiverOf.get(dst);
    if (k === undefined) return 0;
    const u32 = this.engine.u32;
    if (T.receiverGen(this.engine.i32, k.rx) !== k.gen || Atomics.load(u32, (k.rx + A.CONN_STATE) >>> 2) !== A.CONN_ACTIVE) {
      this.receiverOf.delete(dst);
      return 0;
    }
    return k.rx;
  }

  /** @internal RoomOwner */
  rememberReceiver(dst: unknown, rx: number, gen: number): void {
    if (typeof dst !== 'string' || dst.startsWith(':1.')) return; // ids are looked up
    if (this.receiverOf.size >= RECEIVERS_KNOWN) this.receiverOf.clear();
    this.receiverOf.set(dst, { rx, gen });
  }

  /**
   * send(), waiting while the receiver has no room for the message (its per-user quota of
   * messages or bytes, or its pool, is used up: ENOBUFS / EXFULL) instead of failing. The
   * wait is an Atomics.waitAsync on the receiver's space word, which the bus bumps whenever
   * the receiver takes a message off its queue (recv, drop) or frees a slice: it is woken by
   * the receiver, not by polling (after a spin of at most 50 µs while recent spins caught
   * what they waited for). Senders waiting for room in one receiver, on any thread, are served
   * in the order they started waiting (a ticket line in the receiver's slot:
   * js/host/turns.ts); a sendAsync that finds such a line waits at its end instead of
   * trying. A synchronous send() is not in the line. Rejects with ETIMEDOUT after `timeout`
   * ms, ECANCELED when `signal` aborts, ECONNRESET when this connection is closed (giving
   * its turn to the next); at once with ENOBUFS (reason R_SEND_NEVER_FITS) for a message
   * that can never fit (larger than any sender's share of the receiver's pool), and with
   * every other error of send(). Resolves to the cookie used.
   */
  sendAsync(dst: Destination, payload?: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null, opts?: SendAsyncOptions): Promise<number> {
    // (not an async function: one suspended frame per waiting send, the RoomWait's, not two)
    let w;
    try {
      // a closed connection first, before the options are read (API.md, "Arguments"; an outside audit, stop 40)
      if (this.isClosed) throw new BusError(A.ECONNRESET, 'sendAsync');
      w = this.waitOptions('sendAsync', opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.roomFirst('sendAsync', dst, payload, w.sendOpts, w.timeout, w.signal, w.keepAlive, null, false, false);
  }

  /**
   * A wait for room (sendAsync, replyAsync, dispatch's replies) whose first try would be made
   * at once (no line at the receiver, and no earlier wait of this connection that it stays
   * behind: any for a send, those that are not calls waiting for a slot for a reply,
   * replyWaitsTo): that try made here, without the RoomWait, and a message that fits
   * resolves with no wait made at all (before stop 33 every replyAsync() made its RoomWait,
   * its group and the group's map entry: 3.4 % of a service's thread in a burst of calls,
   * roomGroupDone alone). Else, and when the try finds no room or a lock taken, roomWait.
   */
  private roomFirst<R>(op: string, dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, sendOpts: SendOptions,
    timeout: number, signal: AbortSignal | undefined, keepAlive: boolean | undefined, attempt: Attempt<R>, owned: boolean, reply: boolean,
    probe: (() => number) | null = null): Promise<R> {
    const e = this.engine;
    let stuck: LockLook | null = null;
    const rx = this.knownReceiver(dst);
    if ((rx === 0 || T.lineLength(e.i32, rx) === 0) && (reply ? !this.replyWaitsTo(dst) : !this.roomGroups.has(groupKey(dst)))) {
      e.lockWaitMs = this.sendLockWait(); // (an event-loop caller: EDEADLK soon, not after a second)
      const skips0 = e.skips;
      try {
        checkUsable(this, op);
        const r = attempt === null ? this.roomSend(op, dst, payload, sendOpts) as R : attempt(payload);
        this.sendWent(skips0);
        return Promise.resolve(r);
      } catch (err) {
        // no room, or a lock taken: the RoomWait tries again and waits
        if (err instanceof BusError && err.errno === A.EDEADLK) { stuck = new LockLook(); stuck.seen(e); this.sendLockSeen(true); }
        else if (!roomHelps(err)) return Promise.reject(err);
      } finally {
        e.lockWaitMs = e.syncLockWaitMs;
      }
    }
    return this.roomWait(op, dst, payload, sendOpts, timeout, signal, keepAlive, attempt, timeout, stuck, owned, reply, probe);
  }

  /** SendAsyncOptions of `op` (sendAsync, replyAsync) checked: send()'s own, and the wait's; throws ECANCELED when already aborted, ECONNRESET when closed. */
  private waitOptions(op: string, opts: SendAsyncOptions | undefined, keys: readonly string[] = SEND_ASYNC_KEYS): { sendOpts: SendOptions; timeout: number; signal: AbortSignal | undefined; keepAlive: boolean | undefined } {
    const o = options<SendAsyncOptions>(op, opts, keys, '{ timeout: ms }');
    // (each option read once: timeout was read twice, so a getter ran twice, before stop 35:
    // an outside audit)
    const t = o.timeout;
    if (t === null) throw new BusError(A.EINVAL, op, 'timeout must be a number of ms >= 0, got null (leave it out for the default)');
    const timeout = t ?? Infinity, signal = o.signal;
    checkWait(op, timeout, signal);
    const keepAlive = optBoolean(op, 'keepAlive', o.keepAlive);
    const sendOpts = sendOptionsOf(o);
    if (signal?.aborted) throw canceled(op, signal);
    this.live(op);
    return { sendOpts, timeout, signal, keepAlive };
  }

  /**
   * The wait for room of sendAsync, replyAsync and call(): `attempt` (a send of `payload` to
   * `dst` with `sendOpts`, or the call's or reply's send) is tried; while it fails for lack
   * of room (ENOBUFS / EXFULL, but R_SEND_NEVER_FITS) it waits in the receiver's line and
   * tries again. `op` names the caller in errors. Resolves to what `attempt` returns.
   * `attempt` sends the payload it is given: `payload` until the first wait, then a copy of
   * it made as that wait starts (ownCopy: the bytes of the moment of the call; the caller's
   * memory may change while this waits), unless `owned` (the payload is the wait's own).
   */
  private roomWait<R>(op: string, dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, sendOpts: SendOptions,
    timeout: number, signal: AbortSignal | undefined, keepAlive: boolean | undefined,
    /** null: send(dst, payload, sendOpts) */
    attempt: Attempt<R>,
    /** the timeout its ETIMEDOUT names (call(): the call's own, of which `timeout` is what is left) */
    shown = timeout,
    /** the caller's own first try found a lock taken (call(), sendAsync()): its look (lock-look.ts); the tries here only look, they do not block again */
    stuck: LockLook | null = null,
    owned = false,
    /** a reply's send: not held behind the calls waiting for a pending-call slot (RoomWait) */
    reply = false,
    /** the wait's probe instead of SEND_PROBE of the bytes (RoomWait.probe: emitAsync's of the signal) */
    probe: (() => number) | null = null): Promise<R> {
    const w = new RoomWait<R>(this, op, dst, payload, sendOpts, timeout, signal, keepAlive, attempt, shown, stuck, owned, reply);
    w.probe = probe;
    return w.run();
  }

  /** @internal RoomOwner: send(), its failures op `op`'s (sendAsync: its sends said `send:` before stop 30, where a call's say `call:`; an outside audit) */
  roomSend(op: string, dst: unknown, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: object): number {
    return this.sendAs(op, false, dst, payload, opts);
  }
  /** @internal RoomOwner: send()'s checks without the sending (SEND_PROBE) */
  roomProbe(dst: unknown, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: object, op: string): number {
    return this.sendAs(op, true, dst, payload, opts);
  }
  /**
   * A send (or its probe) whose failures have the op of the waiting method (call, replyAsync,
   * dispatch, sendAsync): a call behind earlier ones whose callee closed said `send: ENXIO`
   * while the call that tried first said `call: ENXIO`, before stop 25.
   */
  private sendAs(op: string, probe: boolean, dst: unknown, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: object): number {
    const was = this.sendOp;
    this.sendOp = op;
    try {
      return probe ? this.probe(dst as Destination, payload, opts as SendOptions) : this.send(dst as Destination, payload, opts as SendOptions);
    } finally {
      this.sendOp = was;
    }
  }
  /** @internal RoomOwner */
  roomGroup(dst: unknown): RoomGroup {
    const k = groupKey(dst);
    let g = this.roomGroups.get(k);
    if (g === undefined) this.roomGroups.set(k, g = roomGroup());
    return g;
  }
  /**
   * @internal a reply to `dst` now would go ahead of sends of this connection that wait for
   * room there (sendAsync, replyAsync, call(), dispatch's replies): not of a call waiting for a
   * pending-call slot, nor of what waits behind it (room-wait.ts, SlotHold, says why)
   */
  replyWaitsTo(dst: Destination): boolean {
    if (this.roomGroups.size === 0) return false;
    const g = this.roomGroups.get(groupKey(dst));
    return g !== undefined && g.head !== null && !g.head.slot;
  }
  /** @internal RoomOwner */
  roomGroupDone(dst: unknown, group: RoomGroup): void {
    const k = groupKey(dst);
    if (this.roomGroups.get(k) === group) this.roomGroups.delete(k);
  }
  /**
   * The tickets its waits left to passers, per destination and receiver (turns.ts, Passer):
   * at most one per receiver a destination's waits lined up in (a name moves between owners).
   */
  private readonly ticketsLeft = new Map<string | number, T.Passer[]>();
  /** @internal RoomOwner */
  roomTicketLeft(dst: unknown, p: T.Passer): void {
    const m = this.ticketsLeft, k = groupKey(dst);
    // (the passers that ended meanwhile go: the map stays as small as the connection's
    // destinations with a ticket pending, each list as its receivers)
    if (m.size > 0) {
      for (const [key, list] of m) {
        const live = list.filter((q) => !q.ended && !q.taken);
        if (live.length === 0) m.delete(key); else if (live.length !== list.length) m.set(key, live);
      }
    }
    const list = m.get(k);
    if (list === undefined) m.set(k, [p]); else list.push(p);
  }
  /** @internal RoomOwner */
  roomTicketTake(dst: unknown, rx: number): T.Passer | null {
    if (this.ticketsLeft.size === 0) return null;
    const k = groupKey(dst), list = this.ticketsLeft.get(k);
    if (list === undefined) return null;
    const i = rx === 0 ? 0 : list.findIndex((q) => q.rx === rx);
    if (i < 0) return null;
    const p = list[i];
    list.splice(i, 1);
    if (list.length === 0) this.ticketsLeft.delete(k);
    return p;
  }
  /**
   * when an event-loop send's try last met a lock taken past its wait (0: none since a send
   * went through): the tries of the next sendAsync(), call() and probes only look, for at
   * most LOCK_WAIT_MS (each new one blocked its thread engine.asyncLockWaitMs: a burst of 200
   * while a dead worker held the receiver's lock held Node's event loop 1.1 s, and 1000 a
   * page's 0.7-1.2 s; outside audits, stop 22)
   */
  private sendStuckAt = 0;
  /** @internal RoomOwner: the lock wait of an event-loop send's try or probe */
  sendLockWait(): number {
    return this.sendStuckAt !== 0 && now() - this.sendStuckAt < A.LOCK_WAIT_MS ? 0 : this.engine.asyncLockWaitMs;
  }
  /** @internal RoomOwner: an event-loop send's try met a lock taken (true), or went through (false) */
  sendLockSeen(taken: boolean): void {
    this.sendStuckAt = taken ? now() : 0;
  }
  /**
   * @internal RoomOwner: an event-loop send's try went through (`skips0`: engine.skips before
   * it). One that passed a stuck lock over to go through (a monitor's: its copy lost after
   * the wait) met that lock as surely as one that failed with EDEADLK: the next tries only
   * look, for LOCK_WAIT_MS, instead of each blocking the thread engine.asyncLockWaitMs (200
   * sendAsync()s with a monitor's lock stuck held Node's event loop 1–2 s: an outside audit,
   * stop 26)
   */
  sendWent(skips0: number): void {
    if (this.engine.skips !== skips0) this.sendStuckAt = now();
    else if (this.sendStuckAt !== 0) this.sendStuckAt = 0;
  }
  /** @internal RoomOwner */
  roomJoin(w: RoomWait<unknown>): void {
    this.sendWaiters.add(w);
    this.holdFor(w);
  }
  /** @internal RoomOwner */
  roomLeave(w: RoomWait<unknown>): void {
    this.sendWaiters.delete(w);
    if (w.held) { w.held = false; release(); }
  }
  /** @internal RoomOwner */
  busIsShutDown(): boolean {
    return isShutdown(this.engine.u32);
  }

}

defineDispose(Connection.prototype, function (this: Connection) { if (!this.closed) this.close(); });
defineDispose(Message.prototype, function (this: Message) { if (!this.freedAlready) this.free(); });

// (a Connection of another copy of the package is told apart by this brand: js/brand.ts)
brand(Connection, BRAND.Connection);
