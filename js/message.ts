// message: a received message, read in place from its receiver's pool slice. Its views
// are valid until free(); after that every accessor throws (the bytes may already hold
// the next message).
import { INSPECT, inspected } from './inspect.ts';
import { BRAND, brand } from './brand.ts';
import * as A from './shared/abi.ts';
import { BusError, shutdownError } from './errno.ts';
import { isShutdown } from './engine.ts';
import { get64, getS64, get64big } from './wire.ts';
import { itemSize, itemType, vecSize, vecAddress, align8 } from './cmd/items.ts';
import type { Audit, Caps, Creds, Pids } from './host/provider.ts';
import { decode, type OwnedName, type Timestamp } from './metadata.ts';
import { PAYLOAD_DBUS, readPayload, withKdbusAddresses, checkKdbusEnvelope, type DBusMessage, type KdbusEnvelope } from './dbus/header.ts';
import { ruleMatches, matchRuleOf, type MatchRule } from './dbus/match.ts';
import { decodeNotification, type Notification } from './notification.ts';

export type { Timestamp } from './metadata.ts';
import type { Connection } from './connection.ts';
import './host/disposable.ts'; // (types only: Symbol.dispose in our declarations, for consumers without esnext.disposable)

const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // (a leading U+FEFF kept: the default drops it)
/** PAYLOAD_DBUS as its two little-endian u32 halves */
const DBUS_LO = Number(PAYLOAD_DBUS & 0xffffffffn), DBUS_HI = Number(PAYLOAD_DBUS >> 32n);

export class Message {
  /** offset of the slice in the receiver's pool (what FREE takes) */
  readonly offset: number;
  /** kdbus msg.size: header and items, without the payload bytes */
  readonly size: number;
  readonly conn: Connection;
  private freed = false;
  private readonly base: number;
  /** set by the constructor only: what isMessage() checks (an object made from the prototype has none) */
  readonly #received = true;

  /** @internal Is `x` a Message the bus made (not an object built on Message.prototype)? */
  static isMessage(x: unknown): x is Message {
    return typeof x === 'object' && x !== null && #received in x;
  }

  /** @internal */
  constructor(conn: Connection, offset: number, size: number, peeked = false) {
    this.conn = conn;
    this.offset = offset;
    this.size = size;
    this.base = conn.poolBase + offset;
    const ep = conn.sliceEpochs;
    this.epoch = ep === null ? 0 : ep[offset >>> 6];
    this.peeked = peeked;
  }

  /**
   * The messages the bus dropped for this connection that its receive was told of with this
   * one (kdbus DROPPED_MSGS): the `conn.lastDropped` that receive set, kept with the message,
   * so that receives pending at once each read their own (since stop 69). A number of the
   * receive, not of the slice: readable after free(). 0 for a call's reply.
   */
  get dropped(): number { return this.droppedN; }
  /** @internal set by the receive that hands the message out (Connection.told) */
  droppedN = 0;

  /** handed out by a peek (RECV_PEEK): the message stayed queued */
  private readonly peeked: boolean;

  /**
   * A peek's Message lets go of itself only, and not of the slice, when a batch (a
   * listener's, an iterator's) has taken its message off the queue since and not handed it
   * over yet: that hand-over is the message's receive, whose Message frees the slice. (Before
   * stop 63 the free gave the slice back and the batch skipped the message: a peek lost it.)
   */
  private batchOwns(): boolean {
    return this.peeked && this.conn.takenHolds(this.offset);
  }

  /** its slice's epoch when it was handed out (Connection.sliceEpochs) */
  private readonly epoch: number;

  /** its slice was given back through another Message of it (a peek's, or the receive's after a peek) */
  private stale(): boolean {
    const ep = this.conn.sliceEpochs;
    return ep !== null && ep[this.offset >>> 6] !== this.epoch;
  }

  private at(): number {
    if (this.freed) throw new BusError(A.ENXIO, 'message', 'message already freed');
    if (this.stale()) throw new BusError(A.ENXIO, 'message', 'message already freed (through another Message of the same slice: a peek and a receive of one message)');
    if (this.conn.gone) {
      // (its slice went with the pool: after bus.shutdown() say so, not only "closed": an outside audit, stop 24)
      if (isShutdown(this.conn.engine.u32)) throw shutdownError('message', 'the bus was shut down, and its connection closed with it');
      // (a recovery closed it under this thread: the pool may hold another connection's
      // messages by now, read as this one's before: an outside audit, stop 29)
      if (!this.conn.closed) throw new BusError(A.ECONNRESET, 'message', 'its connection was closed by a recovery (this thread was declared dead)');
      throw new BusError(A.ECONNRESET, 'message', 'its connection is closed');
    }
    return this.base;
  }

  /** its slice is given back: every other Message of it reads as freed from now on */
  private retire(): void {
    this.freed = true;
    const ep = this.conn.sliceEpochs;
    if (ep !== null) ep[this.offset >>> 6]++;
  }

  get freedAlready(): boolean { return this.freed || this.stale(); }
  get flags(): number { return get64(this.conn.engine.u32, this.at() + A.MSG_FLAGS); }
  get priority(): number { return getS64(this.conn.engine.u32, this.at() + A.MSG_PRIORITY); }
  /** sender id (0: the bus itself) */
  get src(): number { return get64(this.conn.engine.u32, this.at() + A.MSG_SRC_ID); }
  get dst(): number { return get64(this.conn.engine.u32, this.at() + A.MSG_DST_ID); }
  get cookie(): number { return get64(this.conn.engine.u32, this.at() + A.MSG_COOKIE); }
  get cookieReply(): number { return get64(this.conn.engine.u32, this.at() + A.MSG_TIMEOUT); }
  get payloadType(): bigint { return get64big(this.conn.engine.u32, this.at() + A.MSG_PAYLOAD_TYPE); }

  /** Call `fn(type, itemAddress, itemSize)` for each item; stops when fn returns true. */
  private items(fn: (type: number, p: number, size: number) => boolean | void): void {
    const m = this.at();
    const u32 = this.conn.engine.u32;
    const end = m + this.size;
    for (let p = m + A.MSG_HDR, size = 0; (size = itemSize(u32, p, end)) !== 0; p += align8(size)) {
      if (fn(itemType(u32, p), p, size) === true) return;
    }
  }

  /** Zero-copy views of each payload vector (padding vectors excluded). */
  get vecs(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const m = this.at();
    const { u8, u32 } = this.conn.engine;
    this.items((type, p) => {
      if (type !== A.ITEM_PAYLOAD_OFF) return;
      const off = vecAddress(u32, p);
      if (off < 0) return; // padding
      out.push(u8.subarray(m + off, m + off + vecSize(u32, p)));
    });
    return out;
  }

  /**
   * The payload: a zero-copy view into the pool when the message has one vector (what
   * Connection.send makes), empty when none, and a copy of them joined when several.
   */
  get payload(): Uint8Array {
    // one vector (what Connection.send makes): its view, with no array or closure on the way
    const at = this.payloadSpan();
    if (at >= 0) return this.conn.engine.u8.subarray(at, at + this.spanLength);
    const v = this.vecs;
    if (v.length === 1) return v[0];
    if (v.length === 0) return new Uint8Array(0);
    const out = new Uint8Array(v.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const x of v) { out.set(x, o); o += x.length; }
    return out;
  }

  /** @internal the length of the payload found by payloadSpan() */
  spanLength = 0;
  /**
   * @internal Where the payload lies in the engine's memory when it is one vector (what
   * Connection.send makes): its address, its length in spanLength; -1 otherwise (none, or
   * several: use `payload`). No view, array or closure made.
   */
  payloadSpan(): number {
    const m = this.at();
    const u32 = this.conn.engine.u32;
    const end = m + this.size;
    let at = -1;
    for (let p = m + A.MSG_HDR, size = 0; (size = itemSize(u32, p, end)) !== 0; p += align8(size)) {
      if (itemType(u32, p) !== A.ITEM_PAYLOAD_OFF) continue;
      const off = vecAddress(u32, p);
      if (off < 0) continue; // padding
      if (at >= 0) return -1;
      at = m + off;
      this.spanLength = vecSize(u32, p);
    }
    return at;
  }

  /** @internal the payload type is DBusDBus (PAYLOAD_DBUS), read without a BigInt */
  get isDBus(): boolean {
    const u32 = this.conn.engine.u32, m = this.at();
    return u32[(m + A.MSG_PAYLOAD_TYPE) >>> 2] === DBUS_LO && u32[(m + A.MSG_PAYLOAD_TYPE + 4) >>> 2] === DBUS_HI;
  }

  /** The payload decoded as UTF-8 (copied first: decoders refuse shared memory views). */
  text(): string {
    return decoder.decode(this.payload.slice());
  }

  json(): unknown {
    return JSON.parse(this.text());
  }

  /** the item run [start, end) of the message's header items (metadata among them) */
  private get itemsStart(): number { return this.at() + A.MSG_HDR; }
  private get itemsEnd(): number { return this.at() + this.size; }

  // Metadata (docs/API.md, "Metadata"): each accessor decodes its item when read (nothing
  // is decoded or allocated otherwise); null (ownedNames: []) when the item is not attached:
  // a mask left it out, or the sender's provider could not tell, or it was over its cap.
  /** TIMESTAMP: the bus's sequence number and the sender's clocks at SEND. */
  get timestamp(): Timestamp | null { const { u8, u32 } = this.conn.engine; return decode.timestamp(u8, u32, this.itemsStart, this.itemsEnd); }
  /** CREDS: the sending thread's ids at SEND (live). */
  get creds(): Creds | null { const { u8, u32 } = this.conn.engine; return decode.creds(u8, u32, this.itemsStart, this.itemsEnd); }
  /** PIDS: the sender's pid, tid and ppid at SEND. */
  get pids(): Pids | null { const { u8, u32 } = this.conn.engine; return decode.pids(u8, u32, this.itemsStart, this.itemsEnd); }
  /** AUXGROUPS: the sender's supplementary groups at SEND. */
  get groups(): number[] | null { const { u8, u32 } = this.conn.engine; return decode.groups(u8, u32, this.itemsStart, this.itemsEnd); }
  /**
   * OWNED_NAME: the well-known names the sending connection owned as primary owner when its
   * message was routed (queued names are not listed), in the order it asked for them.
   */
  get ownedNames(): OwnedName[] { const { u8, u32 } = this.conn.engine; return decode.ownedNames(u8, u32, this.itemsStart, this.itemsEnd); }
  /** TID_COMM: the sending thread's name. */
  get tidComm(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_TID_COMM); }
  /** PID_COMM: the sending process's name. */
  get pidComm(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_PID_COMM); }
  /** EXE: the sender's executable path. */
  get exe(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_EXE); }
  /** CMDLINE: the sender's arguments (capped to whole arguments, docs/API.md "Metadata limits"). */
  get cmdline(): string[] | null { const { u8, u32 } = this.conn.engine; return decode.cmdline(u8, u32, this.itemsStart, this.itemsEnd); }
  /** The attach bits (ATTACH) of the items that were cut to fit their cap (the TRUNCATED item); 0: none. */
  get truncated(): number { const { u8, u32 } = this.conn.engine; return decode.truncated(u8, u32, this.itemsStart, this.itemsEnd); }
  /** CMDLINE was cut to whole arguments: the sender's command line is longer. */
  get cmdlineTruncated(): boolean { return (this.truncated & A.ATTACH_CMDLINE) !== 0; }
  /** OWNED_NAME was cut to the names asked for first: the sender owns more (META_NAMES_MAX). */
  get ownedNamesTruncated(): boolean { return (this.truncated & A.ATTACH_NAMES) !== 0; }
  /** CGROUP: the sending thread's cgroup path. */
  get cgroup(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_CGROUP); }
  /** CAPS: the sending thread's capability sets. */
  get caps(): Caps | null { const { u8, u32 } = this.conn.engine; return decode.caps(u8, u32, this.itemsStart, this.itemsEnd); }
  /** SECLABEL: the sending thread's LSM label. */
  get seclabel(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_SECLABEL); }
  /** AUDIT: the sender's audit session id and login uid. */
  get audit(): Audit | null { const { u8, u32 } = this.conn.engine; return decode.audit(u8, u32, this.itemsStart, this.itemsEnd); }
  /** the DST_NAME item: the well-known name the message was sent to (null: sent by id); what a monitor or an activator sees it by */
  get dstName(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_DST_NAME); }
  /** CONN_DESCRIPTION: the sending connection's description. */
  get description(): string | null { const { u8, u32 } = this.conn.engine; return decode.string(u8, u32, this.itemsStart, this.itemsEnd, A.ITEM_CONN_DESCRIPTION); }

  /**
   * What JSON.stringify shows: the header's fields and the payload's length (payloadType as a
   * hex string: JSON has no BigInt), or `{ offset, size, freed: true }` once the message was
   * freed or its connection closed. Without it JSON.stringify walked the connection into the
   * engine and serialized the whole bus memory, byte by byte (an outside audit, stop 38).
   */
  toJSON(): Record<string, unknown> {
    if (this.freedAlready || this.conn.gone) return { offset: this.offset, size: this.size, freed: true };
    const at = this.payloadSpan();
    const payloadLength = at >= 0 ? this.spanLength : this.payload.length;
    return {
      src: this.src, dst: this.dst, cookie: this.cookie, cookieReply: this.cookieReply, flags: this.flags,
      priority: this.priority, payloadType: '0x' + this.payloadType.toString(16), payloadLength,
      offset: this.offset, size: this.size,
    };
  }

  /** What console.log / util.inspect show: the class name and toJSON()'s fields (js/inspect.ts). */
  [INSPECT](depth: number, options: unknown, inspect: unknown): string | Record<string, unknown> {
    return inspected('Message', this.toJSON(), depth, options, inspect);
  }

  /** Item types in the message, in order (for inspection and tests). */
  get itemTypes(): number[] {
    const t: number[] = [];
    this.items((type) => { t.push(type); });
    return t;
  }

  /** Give the slice back to the pool. Every accessor throws afterwards. */
  free(): void {
    // its connection is closed (close(), bus.shutdown(), a recovery): the slice went with the
    // pool and there is nothing to give back; a free() in cleanup code (finally, using) does
    // not throw then (it threw ECONNRESET: an outside audit, stop 24); nor when a recovery
    // closed it under this thread (an outside audit, stop 29)
    if (!this.freed && !this.stale() && this.conn.gone) { this.freed = true; return; }
    this.at();
    if (this.batchOwns()) { this.freed = true; return; }
    this.conn.freeOffset(this.offset);
    this.retire();
  }

  /**
   * @internal Freed as far as the user can tell; its slice is freed by the caller later
   * (conn.listen's next RECV_BATCH). Returns its offset, or -1 when its connection is gone
   * (closed, or by a recovery: the slice went with the pool, nothing to free, as free() says).
   */
  detach(): number {
    if (!this.freed && !this.stale() && this.conn.gone) { this.freed = true; return -1; }
    this.at();
    if (this.batchOwns()) { this.freed = true; return -1; }
    this.retire();
    return this.offset;
  }

  // --- iteration (evloop issue) ---
  private isKept = false;
  /**
   * Keep this message past the next step of the iterator that gave it (conn.messages(),
   * for await): it stays valid until you free() it yourself.
   */
  keep(): this {
    this.isKept = true;
    return this;
  }
  /** keep() was called */
  get kept(): boolean { return this.isKept; }
  /** `using msg = …` (where the runtime has Symbol.dispose): free() unless freed. */
  declare [Symbol.dispose]: () => void;

  // --- calls issue ---
  /** a call: EXPECT_REPLY is set (answer it with conn.reply(msg, ...)) */
  get expectsReply(): boolean { return (this.flags & A.MSG_EXPECT_REPLY) !== 0; }
  /**
   * For the bus's own messages about calls (src 0, payload type 0): REPLY_TIMEOUT or
   * REPLY_DEAD and the call's cookie; null for any other message. (A pending call() or
   * callSync() takes these itself: recv() only shows those of calls made with send().)
   */
  get kernel(): { kind: 'reply-timeout' | 'reply-dead'; cookie: number } | null {
    const u32 = this.conn.engine.u32, m = this.at();
    if (get64(u32, m + A.MSG_SRC_ID) !== 0 || u32[(m + A.MSG_PAYLOAD_TYPE) >>> 2] !== 0 || u32[(m + A.MSG_PAYLOAD_TYPE + 4) >>> 2] !== 0) return null;
    if (this.size < A.MSG_HDR + A.ITEM_HDR) return null;
    const t = u32[(m + A.MSG_HDR + A.ITEM_TYPE) >>> 2];
    if (t === A.ITEM_REPLY_TIMEOUT) return { kind: 'reply-timeout', cookie: this.cookieReply };
    if (t === A.ITEM_REPLY_DEAD) return { kind: 'reply-dead', cookie: this.cookieReply };
    return null;
  }

  // --- signals issue (js/signals.ts, js/notification.ts) ---
  private dbusDecoded: DBusMessage | null | undefined = undefined;
  /** @internal the kdbus side of this message, for checkKdbusEnvelope (addresses left out) */
  kdbusEnvelope(): KdbusEnvelope {
    const flags = this.flags;
    return { src: this.src, dst: 0, cookie: this.cookie, flags, cookieReply: (flags & A.MSG_EXPECT_REPLY) !== 0 ? undefined : this.cookieReply };
  }

  /**
   * The D-Bus message (header and body) of a DBusDBus payload, decoded on first use, with
   * sender and destination from the kdbus message (withKdbusAddresses); null for any other
   * payload type. Throws EBADMSG for a malformed one. `ay` values are views of the pool:
   * valid until free().
   */
  get dbus(): DBusMessage | null {
    this.at();
    if (this.dbusDecoded !== undefined) return this.dbusDecoded;
    if (this.payloadType !== PAYLOAD_DBUS) return (this.dbusDecoded = null);
    const d = readPayload(this.payload);
    // sd-bus's consistency checks between the header and the kdbus message (the serial is the
    // cookie, the reply serial the cookie_reply, EXPECT_REPLY / SIGNAL / NO_AUTO_START agree)
    checkKdbusEnvelope(d.header, this.kdbusEnvelope());
    let dstName: string | undefined;
    const { u8, u32 } = this.conn.engine;
    this.items((type, p, size) => {
      if (type !== A.ITEM_DST_NAME) return;
      let e = p + A.ITEM_HDR;
      while (e < p + size && u8[e] !== 0) e++;
      dstName = decoder.decode(u8.slice(p + A.ITEM_HDR, e));
      return true;
    });
    d.header = withKdbusAddresses(d.header, { src: this.src, dst: get64big(u32, this.at() + A.MSG_DST_ID), dstName }, this.conn.uniqueName);
    return (this.dbusDecoded = d);
  }

  /**
   * Does this message pass a D-Bus match rule (a match string or a parsed rule) in full?
   * The bus delivers by bloom filter, which has false positives: re-check with this. A
   * well-known `sender` in the rule is judged by the names the sender owned when it sent the
   * message, when the message says (its OWNED_NAME items: this connection's attachRecv has
   * 'names' and the sender's attachSend allows them); otherwise by the name's owner now
   * (getNameOwner), which misses a signal sent just before the name changed hands.
   * false for a message that is not D-Bus, or is malformed.
   */
  matches(rule: string | MatchRule): boolean {
    return this.matchesRule(matchRuleOf('matches', rule));
  }

  /** @internal matches() with a rule already checked (dispatch's handlers) */
  matchesRule(r: MatchRule): boolean {
    let d: DBusMessage | null;
    try { d = this.dbus; } catch (err) {
      // a malformed payload, or a well-formed one that carries unix fds (a 'h' value, a
      // UNIX_FDS header field: EOPNOTSUPP, not readable here), matches nothing, as dispatch
      // ignores it (EOPNOTSUPP escaped before stop 44 and ended a filtering loop: an outside audit)
      if (err instanceof BusError && (err.errno === A.EBADMSG || err.errno === A.EOPNOTSUPP)) return false;
      throw err;
    }
    if (!d) return false;
    let names: string[] | undefined;
    if (r.sender !== undefined && !r.sender.startsWith(':')) {
      // the sender's names when it sent this (OWNED_NAME), when attached and complete; else
      // (not attached, cut, or it owned none: no item tells) the name's owner now
      const owned = this.ownedNames;
      if (owned.some((n) => n.name === r.sender)) names = [r.sender];
      else if (owned.length > 0 && !this.ownedNamesTruncated) names = [];
      else names = this.conn.getNameOwner(r.sender) === this.src ? [r.sender] : [];
    }
    // a unique destination in the rule, a signal sent to a well-known name: judged by the id
    // the bus delivered it to, as the bus judged its DST_ID rule (the header's destination,
    // the name, never equals a unique name: before stop 65 dispatch ran no handler for such a
    // signal, which the handler's own rule had let in: an outside reading)
    const dst = d.header.destination;
    if (r.destination !== undefined && r.destination.startsWith(':') && dst !== undefined && !dst.startsWith(':')) {
      return ruleMatches(r, { ...d.header, destination: `:1.${this.dst}` }, d.body, names);
    }
    return ruleMatches(r, d.header, d.body, names);
  }

  /** A bus notification (src 0, payload type 0) decoded, or null for any other message. */
  get notification(): Notification | null {
    const m = this.at();
    const u32 = this.conn.engine.u32;
    if (u32[(m + A.MSG_SRC_ID) >>> 2] !== 0 || u32[(m + A.MSG_SRC_ID + 4) >>> 2] !== 0) return null;
    if (u32[(m + A.MSG_PAYLOAD_TYPE) >>> 2] !== 0 || u32[(m + A.MSG_PAYLOAD_TYPE + 4) >>> 2] !== 0) return null;
    return decodeNotification(this.conn.engine.u8, u32, m, this.size);
  }
}

// (a Message of another copy of the package is told apart by this brand: js/brand.ts)
brand(Message, BRAND.Message);

/**
 * The implicit free of a message whose connection is closed (a for-await step, a listener's
 * handler that returned): marked freed, as free() marks it, so that it reads as freed (ENXIO),
 * not as neither freed nor kept (before stop 48: an outside audit); the slice went with the pool.
 */
export function closedFree(m: Message): void {
  try { m.free(); } catch { /* (a message already unreadable: nothing to mark) */ }
}
