// connection: one bus connection (HELLO .. BYEBYE) of the public API.
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import type { Engine } from './engine.ts';
import { Message } from './message.ts';
import { isU64, isS64 } from './wire.ts';
import { SEND, RECV, FREE, BYEBYE, items, checkCmd, commandError } from './cmd/index.ts';
import { hold, release, now, waitWord, waitWordBlocking, bump } from './host/wait.ts';
import { options, optBoolean, u32Arg, kindOf, payloadBytes, payloadLength } from './args.ts';
import { connStats, type ConnStats } from './health.ts';
import { Spinner } from './host/spin.ts';
import { iterate, defineDispose, type MessagesOptions } from './iterate.ts';
import * as N from './names.ts';

export type Destination = number | string;

export interface SendOptions {
  /** defaults to a per-connection counter starting at 1 */
  cookie?: number;
  /** s64 queue priority (lower is delivered first with USE_PRIORITY), default 0 */
  priority?: number;
  /** kdbus payload type, never 0; default PAYLOAD_WASMBUS */
  payloadType?: bigint;
  /** kdbus msg flags (EXPECT_REPLY 1, NO_AUTO_START 2, SIGNAL 4) */
  flags?: number;
}

export interface RecvOptions {
  /** publish the next message but keep it queued */
  peek?: boolean;
  /** only a message whose priority is <= this value (lowest first) */
  priority?: number;
}

export interface RecvAsyncOptions extends RecvOptions {
  /** reject with ETIMEDOUT after this many milliseconds (default: wait forever) */
  timeout?: number;
  /** reject with ECANCELED when aborted */
  signal?: AbortSignal;
  /** keep the thread alive while waiting (default: true, or false after conn.unref()) */
  keepAlive?: boolean;
}

export interface SendAsyncOptions extends SendOptions {
  /** reject with ETIMEDOUT after this many milliseconds without room (default: wait forever) */
  timeout?: number;
  /** reject with ECANCELED when aborted */
  signal?: AbortSignal;
  /** keep the thread alive while waiting (default: true, or false after conn.unref()) */
  keepAlive?: boolean;
}

/** One pending recvAsync. */
interface Waiter {
  keep: boolean | undefined;
  held: boolean;
  error: BusError | null;
  /** ends the current wait early (close, abort) */
  cancel: (() => void) | null;
}

const SEND_KEYS = ['cookie', 'priority', 'payloadType', 'flags'] as const;
const SEND_ASYNC_KEYS = ['cookie', 'priority', 'payloadType', 'flags', 'timeout', 'signal', 'keepAlive'] as const;
const RECV_KEYS = ['peek', 'priority'] as const;
const RECV_ASYNC_KEYS = ['peek', 'priority', 'timeout', 'signal', 'keepAlive'] as const;

/** The default payload type: "wasmbus\0" as a little-endian u64 (what SEND.encodeMsg writes). */
export const PAYLOAD_WASMBUS = 0x0073756273616d77n;

const encoder = new TextEncoder();

/** bus.shutdown() was called (the bus header's flag) */
function isShutdown(u32: Uint32Array): boolean {
  return Atomics.load(u32, (A.BUS_BASE + A.BUS_SHUTDOWN) >>> 2) !== 0;
}

/** Cancel this thread's reserved send after a failure in its send window; the failure is what the caller reports. */
function cancelSend(e: Engine): void {
  try {
    e.sendCancel(); // -EINVAL when nothing is pending any more: nothing to do
  } catch {
    // a thread declared dead meanwhile: its recoverer cancels the reservation
  }
}

/** Duck-typed, so that a signal from another realm works too. */
function isAbortSignal(s: unknown): s is AbortSignal {
  const x = s as AbortSignal | null;
  return typeof x === 'object' && x !== null && typeof x.aborted === 'boolean'
    && typeof x.addEventListener === 'function' && typeof x.removeEventListener === 'function';
}

export class Connection {
  readonly engine: Engine;
  /** the 64-bit connection id, as a number */
  readonly id: number;
  readonly slot: number;
  readonly gen: number;
  readonly poolSize: number;
  readonly poolBase: number;
  readonly description: string | undefined;
  /** messages the bus dropped for this connection, reported by the last recv() */
  lastDropped = 0;
  private nextCookie = 1;
  private isClosed = false;
  /** index of the wake word in engine.i32 */
  private readonly wakeIndex: number;
  private readonly sleepersIndex: number;
  private readonly waiters = new Set<Waiter>();
  private refd = true;
  /** @internal the adaptive spin of this connection's waits (js/host/spin.ts) */
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
  }

  /** D-Bus unique name, ":1.<id>" */
  get uniqueName(): string { return `:1.${this.id}`; }
  get closed(): boolean { return this.isClosed; }
  /** messages waiting in the receive queue */
  get queued(): number { return this.isClosed ? 0 : this.engine.queued(this.slot); }
  /** pool bytes in use (queued and published slices, with their block headers) */
  get poolUsed(): number { return this.isClosed ? 0 : this.engine.poolUsed(this.slot); }

  private live(op: string): Engine {
    if (this.isClosed) throw new BusError(A.ECONNRESET, op);
    return this.engine;
  }

  /**
   * Send `payload` to a connection id (or ":1.<id>", or a well-known name). The payload
   * bytes are copied once, straight into the receiver's pool. Returns the cookie used.
   */
  send(dst: Destination, payload?: ArrayBufferView | ArrayBuffer | null, opts?: SendOptions): number {
    const e = this.live('send');
    const { u32, u8 } = e;
    const o = options<SendOptions>('send', opts, SEND_KEYS, '{ cookie: 7, priority: 0 }');
    const cookie = o.cookie ?? this.nextCookie;
    if (!isU64(cookie)) throw new BusError(A.EINVAL, 'send', 'cookie must be a non-negative safe integer');
    const priority = o.priority ?? 0;
    if (!isS64(priority)) throw new BusError(A.EINVAL, 'send', 'priority must be a safe integer');
    const flags = u32Arg('send', 'flags', o.flags, 0);
    // the payload's true extent, read once through the intrinsic getters: the reservation is
    // sized from it and the copy below is exactly that many bytes, whatever object we were given
    const bytes = payload == null ? null : payloadBytes(payload);
    if (bytes === null && payload != null) throw new BusError(A.EINVAL, 'send', `payload must be an ArrayBufferView or ArrayBuffer (use sendText / sendJSON for strings and values), got ${kindOf(payload)}`);
    const len = bytes ? payloadLength(bytes) : 0;
    const cmd = e.cmd;
    const msg = cmd + SEND.MSG;
    let p = msg + A.MSG_HDR;
    let dstId = 0;
    if (typeof dst === 'number') {
      if (!isU64(dst)) throw new BusError(A.EINVAL, 'send', 'destination id must be a non-negative safe integer');
      dstId = dst;
    } else if (typeof dst === 'string' && dst.startsWith(':1.') && /^:1\.\d+$/.test(dst)) {
      dstId = Number(dst.slice(3));
      if (!isU64(dstId)) throw new BusError(A.EINVAL, 'send', 'destination id must be a safe integer');
    } else if (typeof dst === 'string') {
      const name = encoder.encode(dst);
      if (name.length + 1 + A.ITEM_HDR > 4096) throw new BusError(A.EINVAL, 'send', 'destination name too long');
      p = items.putStringItem(u8, u32, p, A.ITEM_DST_NAME, name);
    } else throw new BusError(A.EINVAL, 'send', 'destination must be an id or a name');
    let vec = 0;
    if (len > 0) {
      vec = p;
      p = items.putHostVec(u32, p, len); // a host vec: we copy the bytes ourselves
    }
    SEND.encodeMsg(u32, msg, p - msg, flags, priority, dstId, cookie, 0);
    // (the default payload type is written by encodeMsg, without a BigInt per send)
    if (o.payloadType !== undefined) {
      if (typeof o.payloadType === 'bigint' && o.payloadType >= 0n && o.payloadType < 1n << 64n) {
        SEND.encodePayloadType(u32, msg, o.payloadType);
      } else throw new BusError(A.EINVAL, 'send', 'payloadType must be a u64 bigint');
    }
    SEND.encode(u32, cmd, msg, 0);

    const r = e.send(this.slot, this.gen);
    if (r === A.SEND_PENDING) {
      // the core reserved `len` bytes at the rewritten address; nothing may leave the send
      // half done: whatever throws before send_commit has returned cancels the reservation
      let c: number;
      try {
        u8.set(bytes!, SEND.vecDestination(u32, vec));
        c = e.sendCommit();
      } catch (err) {
        cancelSend(e);
        throw err;
      }
      if (c < 0) {
        const err = commandError(u32, cmd, c, 'send', SEND.NAME, { dst }); // before the cancel rewrites the report
        cancelSend(e);
        throw err;
      }
    } else if (r < 0) throw commandError(u32, cmd, r, 'send', SEND.NAME, { dst });
    if (o.cookie === undefined) this.nextCookie = cookie + 1;
    return cookie;
  }

  sendText(dst: Destination, text: string, opts?: SendOptions): number {
    if (typeof text !== 'string') throw new BusError(A.EINVAL, 'sendText', `text must be a string, got ${kindOf(text)}`);
    return this.send(dst, encoder.encode(text), opts);
  }

  sendJSON(dst: Destination, value: unknown, opts?: SendOptions): number {
    const text = JSON.stringify(value);
    if (text === undefined) throw new BusError(A.EINVAL, 'sendJSON', 'the value has no JSON form');
    return this.sendText(dst, text, opts);
  }

  private recvCmd(flags: number, priority: number, op: string): number {
    const e = this.live(op);
    const cmd = e.cmd, u32 = e.u32;
    RECV.encode(u32, cmd, flags, priority);
    const r = e.recv(this.slot, this.gen);
    this.lastDropped = RECV.dropped(u32, cmd);
    return r;
  }

  /** The next message (FIFO, or by priority), or null when the queue is empty. */
  recv(opts?: RecvOptions): Message | null {
    return this.recvWith(options<RecvOptions>('recv', opts, RECV_KEYS, '{ peek: true, priority: 0 }'), 'recv');
  }

  /** recv() with checked option keys; checks the values. */
  private recvWith(o: RecvOptions, op: string): Message | null {
    let flags = optBoolean(op, 'peek', o.peek) ? A.RECV_PEEK : 0;
    const prio = o.priority ?? 0;
    if (o.priority !== undefined) {
      if (!isS64(prio)) throw new BusError(A.EINVAL, op, 'priority must be a safe integer');
      flags |= A.RECV_USE_PRIORITY;
    }
    const r = this.recvCmd(flags, prio, op);
    if (r === -A.EAGAIN) return null;
    const u32 = this.engine.u32, cmd = this.engine.cmd;
    checkCmd(u32, cmd, r, op, RECV.NAME);
    return new Message(this, RECV.offset(u32, cmd), RECV.size(u32, cmd));
  }

  /** Drop the next queued message unread; false when the queue is empty. */
  drop(): boolean {
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
  async recvAsync(opts?: RecvAsyncOptions): Promise<Message> {
    const o = options<RecvAsyncOptions>('recvAsync', opts, RECV_ASYNC_KEYS, '{ timeout: ms }');
    const timeout = o.timeout ?? Infinity;
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new BusError(A.EINVAL, 'recvAsync', `timeout must be a number of ms >= 0, got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}`);
    const signal = o.signal;
    if (signal !== undefined && !isAbortSignal(signal)) throw new BusError(A.EINVAL, 'recvAsync', `signal must be an AbortSignal, got ${kindOf(signal)}`);
    const keepAlive = optBoolean('recvAsync', 'keepAlive', o.keepAlive);
    const canceled = () => new BusError(A.ECANCELED, 'recvAsync', 'aborted by its signal');
    if (signal?.aborted) throw canceled();
    const i32 = this.engine.i32, idx = this.wakeIndex;
    const deadline = now() + timeout;
    let w: Waiter | null = null;
    const onAbort = () => {
      if (!w || w.error) return;
      w.error = canceled();
      w.cancel?.();
      Atomics.notify(i32, idx); // end the underlying waitAsync; other waiters just re-check
    };
    let waitStart = 0;
    try {
      for (;;) {
        // read the word before looking at the queue: a message published after recv() found
        // the queue empty has changed it, and the wait below returns at once
        const seen = Atomics.load(i32, idx);
        const m = this.recvWith(o, 'recvAsync');
        if (m) {
          if (waitStart !== 0) this.spinner.answered(now() - waitStart);
          return m;
        }
        const left = deadline - now();
        if (left <= 0) throw new BusError(A.ETIMEDOUT, 'recvAsync', `no message within ${timeout} ms`);
        if (waitStart === 0) {
          // the first time the queue is empty: spin briefly (<= 50 µs) when recent answers came that fast
          waitStart = now();
          if (this.spinner.shouldSpin() && this.spinner.spin(i32, idx, seen, left)) continue;
        }
        if (!w) {
          w = { keep: keepAlive, held: false, error: null, cancel: null };
          this.waiters.add(w);
          this.holdFor(w);
          signal?.addEventListener('abort', onAbort, { once: true });
        }
        const cur: Waiter = w;
        await new Promise<void>((resolve) => {
          cur.cancel = resolve;
          waitWord(i32, idx, seen, left, this.sleepersIndex).then(resolve);
        });
        cur.cancel = null;
        if (cur.error) throw cur.error;
      }
    } finally {
      if (w) {
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(w);
        if (w.held) { w.held = false; release(); }
      }
    }
  }

  /**
   * The next message, blocking this thread (Atomics.wait) until one arrives or `timeout` ms
   * pass (then null). For workers; Node's and Deno's main threads allow it too. Throws
   * EOPNOTSUPP where the runtime refuses to block (a browser main thread).
   */
  recvWait(timeout: number = Infinity, opts?: RecvOptions): Message | null {
    if (typeof timeout !== 'number' || !(timeout >= 0)) {
      throw new BusError(A.EINVAL, 'recvWait', `timeout must be a number of ms >= 0 (recvWait(timeout, opts)), got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}`);
    }
    const o = options<RecvOptions>('recvWait', opts, RECV_KEYS, '{ peek: true, priority: 0 }');
    const i32 = this.engine.i32, idx = this.wakeIndex;
    const deadline = now() + timeout;
    let waitStart = 0;
    for (;;) {
      const seen = Atomics.load(i32, idx);
      const m = this.recvWith(o, 'recvWait');
      if (m) {
        if (waitStart !== 0) this.spinner.answered(now() - waitStart);
        return m;
      }
      const left = deadline - now();
      if (left <= 0) return null; // recvWait(0): no spin
      if (waitStart === 0) {
        // spin briefly first (adaptive, <= 50 µs): a peer that answers within microseconds saves two futex trips
        waitStart = now();
        if (this.spinner.shouldSpin() && this.spinner.spin(i32, idx, seen, left)) continue;
      }
      if (!waitWordBlocking(i32, idx, seen, left, this.sleepersIndex)) {
        throw new BusError(A.EOPNOTSUPP, 'recvWait', 'this thread may not block (Atomics.wait is refused here, e.g. on a browser main thread): use recvAsync()');
      }
    }
  }

  /** recvAsync() calls of this connection still waiting */
  get pendingReceives(): number { return this.waiters.size; }

  /** Pending receives of this connection do not keep the thread alive (unless asked per call). */
  unref(): this {
    this.refd = false;
    for (const w of this.waiters) this.holdFor(w);
    for (const w of this.sendWaiters) this.holdFor(w);
    return this;
  }

  /** Undo unref(): pending receives keep the thread alive again (the default). */
  ref(): this {
    this.refd = true;
    for (const w of this.waiters) this.holdFor(w);
    for (const w of this.sendWaiters) this.holdFor(w);
    return this;
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
   * BYEBYE. Throws EBUSY while messages are queued (receive or drop them first); after
   * bus.shutdown() the queued messages are dropped instead. On a thread that another thread
   * recovered (declared dead), or when a recovery closed the connection already, it only
   * marks the connection closed.
   */
  close(): void {
    const e = this.live('close');
    const cmd = e.cmd, u32 = e.u32;
    let r: number;
    try {
      BYEBYE.encode(u32, cmd);
      r = e.byebye(this.slot, this.gen);
      if (r === -A.EBUSY && isShutdown(u32)) {
        while (this.recvCmd(A.RECV_DROP, 0, 'close') === 0) { /* drop the next one */ }
        BYEBYE.encode(u32, cmd);
        r = e.byebye(this.slot, this.gen);
      }
    } catch (err) {
      if (!(err instanceof BusError && err.errno === A.ECONNRESET && e.lost)) throw err;
      r = -A.ECONNRESET; // this thread was recovered: its recoverer closed the connection
    }
    if (r !== -A.ECONNRESET) checkCmd(u32, cmd, r, 'close', BYEBYE.NAME);
    this.isClosed = true;
    this.onClose?.(this);
    // pending receives of this thread fail now; waiters elsewhere see the word move, re-check
    // and find the handle closed
    for (const w of this.waiters) {
      if (w.error) continue;
      w.error = new BusError(A.ECONNRESET, 'recvAsync', 'the connection was closed');
      w.cancel?.();
    }
    bump(e.i32, this.wakeIndex);
    this.failSendWaiters();
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
  messages(opts?: MessagesOptions): AsyncIterableIterator<Message> {
    return iterate(this, opts);
  }

  /** `for await (const msg of conn)`: messages() without options. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return iterate(this, undefined);
  }

  /** `using conn = bus.connect()` (where the runtime has Symbol.dispose): close() unless closed. */
  declare [Symbol.dispose]: () => void;
  // names issue (js/names.ts)
  /** NAME_ACQUIRE: 'primary', 'in-queue', 'already-owner', 'already-queued' or 'left-queue'; throws EEXIST, E2BIG, ENFILE, EINVAL. */
  requestName(name: string, opts?: N.RequestNameOptions): N.AcquireResult { return N.requestName(this, name, opts); }
  /** NAME_RELEASE: throws ESRCH (nobody owns it), EADDRINUSE (this connection neither owns nor queues for it). */
  releaseName(name: string): void { N.releaseName(this, name); }
  /** The id of the primary owner of `name`, or null. */
  getNameOwner(name: string): number | null { return N.getNameOwner(this, name); }
  nameHasOwner(name: string): boolean { return N.getNameOwner(this, name) !== null; }
  /** Well-known names with an owner, sorted. */
  listNames(): string[] { return N.listNames(this); }
  /** Ids of the bus's connections, ascending. */
  listPeers(): number[] { return N.listPeers(this); }
  /** LIST: records by the flags asked for (a check that nothing leaked, for instance). */
  list(opts?: N.ListOptions): N.ListEntry[] { return N.list(this, opts); }

  // backpressure (issue 10)
  /** sendAsync() calls of this connection waiting for room */
  private readonly sendWaiters = new Set<Waiter>();
  /** @internal the adaptive spin of sendAsync's waits for room */
  readonly spaceSpinner = new Spinner();

  /** sendAsync() calls of this connection still waiting for room in a receiver */
  get pendingSends(): number { return this.sendWaiters.size; }

  /**
   * send(), waiting while the receiver has no room for the message (its per-user quota of
   * messages or bytes, or its pool, is used up: ENOBUFS / EXFULL) instead of failing. The
   * wait is an Atomics.waitAsync on the receiver's space word, which the bus bumps whenever
   * the receiver takes a message off its queue (recv, drop) or frees a slice: it is woken by
   * the receiver, not by polling (after a spin of at most 50 µs while recent waits were
   * answered that fast). Rejects with ETIMEDOUT after `timeout` ms, ECANCELED when `signal`
   * aborts, ECONNRESET when this connection is closed; at once with ENOBUFS
   * (reason R_SEND_NEVER_FITS) for a message that can never fit (larger than any sender's
   * share of the receiver's pool), and with every other error of send(). Resolves to the
   * cookie used.
   */
  async sendAsync(dst: Destination, payload?: ArrayBufferView | ArrayBuffer | null, opts?: SendAsyncOptions): Promise<number> {
    const o = options<SendAsyncOptions>('sendAsync', opts, SEND_ASYNC_KEYS, '{ timeout: ms }');
    const timeout = o.timeout ?? Infinity;
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new BusError(A.EINVAL, 'sendAsync', `timeout must be a number of ms >= 0, got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}`);
    const signal = o.signal;
    if (signal !== undefined && !isAbortSignal(signal)) throw new BusError(A.EINVAL, 'sendAsync', `signal must be an AbortSignal, got ${kindOf(signal)}`);
    const keepAlive = optBoolean('sendAsync', 'keepAlive', o.keepAlive);
    const sendOpts: SendOptions = {};
    if (o.cookie !== undefined) sendOpts.cookie = o.cookie;
    if (o.priority !== undefined) sendOpts.priority = o.priority;
    if (o.payloadType !== undefined) sendOpts.payloadType = o.payloadType;
    if (o.flags !== undefined) sendOpts.flags = o.flags;
    const canceled = () => new BusError(A.ECANCELED, 'sendAsync', 'aborted by its signal');
    if (signal?.aborted) throw canceled();
    const deadline = now() + timeout;
    let w: Waiter | null = null;
    let waitIdx = -1;
    const onAbort = () => {
      if (!w || w.error) return;
      w.error = canceled();
      w.cancel?.();
      if (waitIdx >= 0) Atomics.notify(this.engine.i32, waitIdx); // end the waitAsync; other waiters re-check
    };
    let waitStart = 0;
    try {
      for (;;) {
        let err: unknown;
        try {
          const cookie = this.send(dst, payload, sendOpts);
          if (waitStart !== 0) this.spaceSpinner.answered(now() - waitStart);
          return cookie;
        } catch (x) {
          err = x;
        }
        if (!(err instanceof BusError) || (err.errno !== A.ENOBUFS && err.errno !== A.EXFULL) || err.reason === A.R_SEND_NEVER_FITS) throw err;
        // no room: the core left the receiver's space word and its value (read under the
        // receiver's lock) in this thread's slot: any release since then has changed it
        const e = this.engine, t = e.cmd - A.THREAD_CMD;
        const addr = e.u32[(t + A.THREAD_WAIT_ADDR) >>> 2], seen = e.i32[(t + A.THREAD_WAIT_VAL) >>> 2];
        waitIdx = addr >>> 2;
        const sleepers = (addr - A.CONN_SPACE + A.CONN_SPACE_SLEEPERS) >>> 2;
        const left = deadline - now();
        if (left <= 0) throw new BusError(A.ETIMEDOUT, 'sendAsync', `no room in the receiver within ${timeout} ms (${err.message})`);
        if (waitStart === 0) {
          waitStart = now();
          if (this.spaceSpinner.shouldSpin() && this.spaceSpinner.spin(e.i32, waitIdx, seen, left)) continue;
        }
        if (!w) {
          w = { keep: keepAlive, held: false, error: null, cancel: null };
          this.sendWaiters.add(w);
          this.holdFor(w);
          signal?.addEventListener('abort', onAbort, { once: true });
        }
        const cur: Waiter = w;
        await new Promise<void>((resolve) => {
          cur.cancel = resolve;
          waitWord(e.i32, waitIdx, seen, left, sleepers).then(resolve);
        });
        cur.cancel = null;
        if (cur.error) throw cur.error;
      }
    } finally {
      if (w) {
        signal?.removeEventListener('abort', onAbort);
        this.sendWaiters.delete(w);
        if (w.held) { w.held = false; release(); }
      }
    }
  }

  /** close(): pending sendAsync() calls fail with ECONNRESET. */
  private failSendWaiters(): void {
    for (const w of this.sendWaiters) {
      if (w.error) continue;
      w.error = new BusError(A.ECONNRESET, 'sendAsync', 'the connection was closed');
      w.cancel?.();
    }
  }
}

defineDispose(Connection.prototype, function (this: Connection) { if (!this.closed) this.close(); });
defineDispose(Message.prototype, function (this: Message) { if (!this.freedAlready) this.free(); });
