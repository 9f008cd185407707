// objects: exported objects and D-Bus method calls on the public API (issue 8 items 10-11).
//   conn.export(path, iface, methods, opts?)  method handlers on an object path and interface
//                                            (sd-bus's vtables, GDBus's exported objects);
//                                            returns the unexport function
//   conn.dispatch(msg)                        answers a D-Bus method call: the handler's reply,
//                                            or an error reply at once (the rule below)
//   conn.callMethod(spec, opts?)              a D-Bus method call: resolves with the reply's
//                                            body, rejects with DBusError for an error reply
//   conn.callMethodSync / conn.sendMethod     the blocking call, and a call without a reply
//
// The rule of dispatch (docs/API.md, "Exported objects and method calls"), for a received
// message of payload type DBusDBus whose D-Bus type is method_call:
//   1. org.freedesktop.DBus.Peer Ping / GetMachineId: answered at every path;
//      org.freedesktop.DBus.Introspectable.Introspect: at every exported path and its parents
//      (each takes no arguments: a signature other than '' -> InvalidArgs)
//   2. no interface exported at the path          -> UnknownObject
//   3. an interface given, not exported there      -> UnknownInterface
//   4. no such member (in that interface; without an interface: in any at the path) -> UnknownMethod
//   5. the call's signature is not the method's `in`                               -> InvalidArgs
//   6. the handler throws / rejects: a DBusError -> its name and message; anything else -> Failed
//      with the error's message; a return value its `out` cannot encode -> Failed
//   7. otherwise the handler's return value, encoded by `out`, is the method_return (a bare
//      handler's, a function given without a spec: empty, whatever it returned).
// A call without EXPECT_REPLY (NO_REPLY_EXPECTED) runs its handler and gets no reply, ever.
// The core stays payload-opaque: all of this is the host's, on top of call/reply.
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import type { Connection, Destination } from './connection.ts';
import type { Message } from './message.ts';
import type { CallOptions, CallSyncOptions } from './calls.ts';
import { kindOf, options, asArgError, asOwn, relabel, isList, isRevoked } from './args.ts';
import { callOptionsCopy } from './call-run.ts';
import { encodeMsg, encodeTransient, readPayload, checkKdbusEnvelope, withKdbusAddresses, PAYLOAD_DBUS, FLAG_NO_REPLY_EXPECTED, type DBusHeader, type DBusMessage } from './dbus/header.ts';
import { objectPathError, interfaceNameError, memberNameError } from './dbus/names.ts';
import { signatureError } from './dbus/signature.ts';
import { DBusError, DBUS_ERROR } from './dbus/error.ts';

/** What a handler is told about the call it answers. */
export interface MethodCall {
  readonly path: string;
  /** absent when the caller named none (D-Bus allows it; the member is then looked up in every interface of the path) */
  readonly interface: string | undefined;
  readonly member: string;
  /** the call's body signature ('' for none) */
  readonly signature: string;
  /** the caller's unique name ':1.<id>' and id */
  readonly sender: string;
  readonly senderId: number;
  /** the decoded header (sender / destination from the kdbus message) */
  readonly header: DBusHeader;
  /** the received message: valid until the receive loop frees it (an async handler's await may outlive it) */
  readonly msg: Message;
  /** the caller expects no reply (no EXPECT_REPLY): whatever the handler returns or throws is not sent */
  readonly noReply: boolean;
}

/** A handler: the call's body values in, the reply's body values (by `out`) out, or nothing when `out` is ''. */
export type MethodHandler = (args: unknown[], call: MethodCall) => readonly unknown[] | void | Promise<readonly unknown[] | void>;

/** One method: its signatures (sd-bus's SD_BUS_METHOD(member, in, out, handler)). */
export interface MethodSpec {
  /** the input signature; a call with another one gets InvalidArgs. Absent: any arguments are passed on */
  in?: string | undefined;
  /** the output signature of the reply body (default ''): the handler returns an array of its values */
  out?: string | undefined;
  handler: MethodHandler;
}

/**
 * A bare handler (a function in place of a MethodSpec): any arguments; its reply is empty
 * whatever it returns (a promise it returns is awaited: a rejection is the error reply). Its
 * return type is `unknown`, so that `(_, c) => seen.push(c.sender)` type-checks (it was
 * MethodHandler's, which refused it: an outside audit, stop 49).
 */
export type BareMethodHandler = (args: unknown[], call: MethodCall) => unknown;

/** An interface's methods by member name: a MethodSpec, or a bare handler (no input check, empty reply). */
export type Methods = Record<string, MethodSpec | BareMethodHandler>;

export interface ExportOptions {
  /**
   * Told of a reply that could not be sent (other than EBADSLT: the caller stopped waiting).
   * Without it, such an error is thrown by dispatch() for a synchronous handler and dropped
   * for an async one.
   */
  onError?: ((err: unknown, call: MethodCall) => void) | undefined;
}

/** A D-Bus method call to make (conn.callMethod, callMethodSync, sendMethod). */
export interface MethodCallSpec {
  /** a connection id, ':1.<id>' or a well-known name */
  destination: Destination;
  path: string;
  /** recommended; absent: the callee looks the member up in every interface of the path */
  interface?: string | undefined;
  member: string;
  /** the body's signature ('' or absent: no body) */
  signature?: string | undefined;
  body?: readonly unknown[] | undefined;
}

/** `bare`: given as a bare function (no spec): its reply is empty whatever it returns (its promise still awaited) */
interface Method { in: string | undefined; out: string; handler: MethodHandler; onError: ExportOptions['onError']; bare: boolean }
/** path -> interface -> member -> method */
type Tree = Map<string, Map<string, Map<string, Method>>>;
const trees = new WeakMap<Connection, Tree>();

const PEER = 'org.freedesktop.DBus.Peer';
const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable';
const SPEC_KEYS = ['destination', 'path', 'interface', 'member', 'signature', 'body'] as const;
const EXPORT_KEYS = ['onError'] as const;
const METHOD_KEYS = ['in', 'out', 'handler'] as const;

function nameArg(op: string, what: string, v: unknown, rule: (s: string) => string | null): string {
  if (typeof v !== 'string') throw new BusError(A.EINVAL, op, `${what} must be a string, got ${kindOf(v)}`);
  const e = rule(v);
  if (e !== null) throw new BusError(A.EINVAL, op, `invalid ${what} ${JSON.stringify(v)}: ${e}`);
  return v;
}

/**
 * What kind of connection `c` is when it cannot send, so cannot answer a call (a monitor, an
 * activator: its HELLO flags), else null.
 */
export function cannotAnswer(c: Connection): string | null {
  const e = c.engine, f = e.u32[(e.connAddr(c.slot) + A.CONN_FLAGS) >>> 2];
  return (f & A.HELLO_MONITOR) !== 0 ? 'a monitor' : (f & A.HELLO_ACTIVATOR) !== 0 ? 'an activator' : null;
}

/**
 * What a connection that cannot send cannot do, by op: dispatch refuses every message, a
 * signal or a notification too (it said "cannot answer method calls" for those before stop 41:
 * an outside audit).
 */
const CANNOT: Readonly<Record<string, string>> = {
  export: 'cannot answer method calls (it cannot send)',
  dispatch: 'cannot dispatch messages (it cannot send, so it could answer no method call; a signal or a notification is refused too)',
};

/** EOPNOTSUPP for `op` (export, dispatch) on a connection that cannot answer calls. */
export function checkCanAnswer(c: Connection, op: 'export' | 'dispatch'): void {
  const k = cannotAnswer(c);
  if (k !== null) throw new BusError(A.EOPNOTSUPP, op, `${k} ${CANNOT[op]}: ${op} on an ordinary connection`);
}

/** conn.export: register `methods` on `path` / `iface`; returns the unexport function (idempotent). */
export function exportObject(c: Connection, path: string, iface: string, methods: Methods, opts?: ExportOptions): () => void {
  const op = 'export';
  if (c.closed) throw new BusError(A.ECONNRESET, op);
  checkCanAnswer(c, op);
  nameArg(op, 'path', path, objectPathError);
  nameArg(op, 'interface', iface, interfaceNameError);
  if (iface === PEER || iface === INTROSPECTABLE) throw new BusError(A.EEXIST, op, `${iface} is answered by dispatch itself at every path`);
  const o = options<ExportOptions>(op, opts, EXPORT_KEYS, '{ onError(err, call) {} }');
  // (every option and method field read once: onError, in, out and handler were read twice
  // before stop 35, an outside audit)
  const onError = o.onError;
  if (onError !== undefined && typeof onError !== 'function') throw new BusError(A.EINVAL, op, `onError must be a function, got ${kindOf(onError)}`);
  if (typeof methods !== 'object' || methods === null || isRevoked(methods) || isList(methods)) throw new BusError(A.EINVAL, op, `methods must be an object of member: handler or { in, out, handler }, got ${kindOf(methods)}`);
  const table = new Map<string, Method>();
  for (const [member, m] of Object.entries(methods)) {
    nameArg(op, 'member', member, memberNameError);
    let spec: MethodSpec;
    if (typeof m === 'function') spec = { handler: m as MethodHandler }; // (bare: its return value is not read, only awaited)
    else {
      const given = options<MethodSpec>(op, m, METHOD_KEYS, "{ in: 's', out: 's', handler(args, call) { return [args[0]] } }", member);
      spec = { in: given.in, out: given.out, handler: given.handler } as MethodSpec;
    }
    if (typeof spec.handler !== 'function') throw new BusError(A.EINVAL, op, `${member}.handler must be a function, got ${kindOf(spec.handler)}`);
    for (const k of ['in', 'out'] as const) {
      const s = spec[k];
      if (s === undefined) continue;
      if (typeof s !== 'string') throw new BusError(A.EINVAL, op, `${member}.${k} must be a signature string, got ${kindOf(s)}`);
      const e = signatureError(s);
      if (e !== null) throw new BusError(A.EINVAL, op, `${member}.${k}: invalid signature ${JSON.stringify(s)}: ${e}`);
      // 'h' (a unix fd) is valid D-Bus, but no fd crosses this bus (EOPNOTSUPP in every codec):
      // such a method could never be called, or never answer
      if (s.includes('h')) throw new BusError(A.EINVAL, op, `${member}.${k}: ${JSON.stringify(s)} has 'h' (a unix fd), which this bus cannot carry`);
    }
    table.set(member, { in: spec.in, out: spec.out ?? '', handler: spec.handler, onError, bare: typeof m === 'function' });
  }
  let tree = trees.get(c);
  if (!tree) { tree = new Map(); trees.set(c, tree); }
  let ifaces = tree.get(path);
  if (!ifaces) { ifaces = new Map(); tree.set(path, ifaces); }
  if (ifaces.has(iface)) throw new BusError(A.EEXIST, op, `${iface} is exported at ${path} already (unexport it first)`);
  ifaces.set(iface, table);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const t = trees.get(c), i = t?.get(path);
    if (i?.get(iface) !== table) return;
    i.delete(iface);
    if (i.size === 0) t!.delete(path);
  };
}

/** The paths with objects exported on `c`, sorted (for tests and Introspect). */
export function exportedPaths(c: Connection): string[] {
  return [...(trees.get(c)?.keys() ?? [])].sort();
}

/** Is `msg` a D-Bus method call? (payload type and the D-Bus type byte: nothing decoded) */
export function isMethodCall(msg: Message): boolean {
  if (!msg.isDBus) return false;
  const at = msg.payloadSpan();
  if (at < 0) { const p = msg.payload; return p.length >= 16 && p[1] === 1; }
  return msg.spanLength >= 16 && msg.conn.engine.u8[at + 1] === 1;
}

function encodeBody(sig: string, body: readonly unknown[] | void): readonly unknown[] {
  if (body === undefined) {
    if (sig !== '') throw new Error(`the handler returned nothing; its output signature is '${sig}'`);
    return NO_VALUES;
  }
  if (!isList(body)) throw new Error(`the handler must return an array of the values of '${sig}', got ${kindOf(body)}`);
  return body;
}
const NO_VALUES: readonly unknown[] = Object.freeze([]);

/**
 * Send the reply to the call: a method_return of signature `sig` ('' none), or, when
 * `errorName` is given, an error of signature `sig`; errors go where ExportOptions says.
 */
function answer(c: Connection, call: MethodCall, cookie: number, serial: number, errorName: string | undefined, sig: string, body: readonly unknown[], onError: ExportOptions['onError'], sync: boolean): void {
  if (call.noReply || c.closed) return;
  let bytes: Uint8Array | null = null, rc = 0;
  try {
    rc = c.takeCookie();
    if (rc > 0xffffffff) throw new BusError(A.EINVAL, 'dispatch', `the cookie ${rc} does not fit a D-Bus serial (u32)`);
    const signature = sig === '' ? undefined : sig;
    try {
      // (replyTo copies the bytes into the pool at once: a transient buffer does)
      bytes = errorName === undefined
        ? encodeTransient({ type: 'method_return', serial: rc, replySerial: serial, signature }, body)
        : encodeTransient({ type: 'error', serial: rc, replySerial: serial, errorName, signature }, body);
    } catch (err) {
      // what the handler returned does not fit its output signature, or what it threw cannot
      // be sent: the caller gets Failed (never a wait for its timeout)
      const why = sendable(err instanceof Error ? err.message : String(err));
      bytes = failedBytes(rc, serial, errorName === undefined
        ? `${call.interface ?? ''}.${call.member}: the reply does not match its signature: ${why}`
        : `${call.interface ?? ''}.${call.member}: the handler's error could not be sent: ${why}`);
    }
    // earlier sends of this connection to the caller still wait for room: the reply goes
    // behind them, not ahead (an outside audit, stop 22: it was sent at once, first)
    if (c.replyWaitsTo(call.senderId) && replyLater(c, call, cookie, serial, errorName, bytes, rc, onError)) return;
    // (an async handler's reply, sent from a promise callback, with an event-loop send's lock
    // wait: a caller's lock that stays taken, a stuck or dead thread's, is left to the wait
    // below, which lets the event loop run; it blocked the thread LOCK_WAIT_MS before stop 66,
    // an outside audit. A synchronous handler's, from dispatch's own call, keeps a synchronous
    // send's wait: its service loop may be a recvWait loop that never lets the event loop
    // run, where a reply left to a wait would never go, a review of stop 66's first version)
    const e = c.engine;
    e.lockWaitMs = sync ? e.syncLockWaitMs : c.sendLockWait();
    try {
      c.replyTo(call.senderId, cookie, bytes, { cookie: rc, payloadType: PAYLOAD_DBUS });
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
  } catch (err) {
    if (callerGone(err)) return; // the caller stopped waiting, or is gone
    // no room in the caller for now (its quota for this user, or its pool), or its lock
    // taken (EDEADLK: a synchronous handler's dispatch threw it out of the service's loop
    // before stop 66): the reply waits for room (and the lock) as replyAsync does
    const made = bytes as Uint8Array | null; // (assigned in the try)
    const locked = err instanceof BusError && err.errno === A.EDEADLK;
    if (locked) {
      c.sendLockSeen(true);
      // (the wait for the lock, or nothing: a synchronous handler's try that waited past the
      // call's deadline finds nobody waiting any more, as EBADSLT says; it was thrown out of
      // dispatch, a review of stop 66)
      if (made !== null) replyLater(c, call, cookie, serial, errorName, made, rc, onError);
      return;
    }
    if (made !== null && roomFor(err) && replyLater(c, call, cookie, serial, errorName, made, rc, onError)) return;
    replyFailed(c, call, cookie, serial, errorName, err, onError, sync);
  }
}

/**
 * The reply `bytes` waits for room in the caller as replyAsync does (behind this connection's
 * earlier waiting sends to it), until the call's deadline (after it the caller no longer
 * waits: EBADSLT, ignored); what ends that wait goes where a failed reply goes. False when
 * the deadline has passed already.
 */
function replyLater(c: Connection, call: MethodCall, cookie: number, serial: number, errorName: string | undefined, bytes: Uint8Array, rc: number, onError: ExportOptions['onError']): boolean {
  const left = (deadlines.get(call) ?? 0) / 1e6 - c.engine.monotonicNs() / 1e6;
  if (left <= 0) return false;
  // (whole ms: its ETIMEDOUT names them)
  c.replyToAsync(call.senderId, cookie, bytes.slice(), { cookie: rc, payloadType: PAYLOAD_DBUS }, Math.ceil(left)).then(undefined, (e2: unknown) => {
    if (callerGone(e2)) return;
    replyFailed(c, call, cookie, serial, errorName, e2, onError, false);
  });
  return true;
}

/**
 * Did the reply fail because nobody waits for it any more: the call is no longer pending
 * (EBADSLT: it timed out, was aborted or answered), or its caller's connection is gone
 * (ENXIO: closed, or its thread recovered)? Nobody is left to tell (sd-bus drops such a reply
 * too). Before stop 45 an ENXIO was thrown by dispatch, out of the service's receive loop, so
 * one client that closed with a call queued stopped the service (an outside audit).
 */
function callerGone(err: unknown): boolean {
  return err instanceof BusError && (err.errno === A.EBADSLT || err.errno === A.ENXIO);
}

/** Is `err` a send's lack of room that a wait can end (ENOBUFS / EXFULL, but a message that never fits)? */
function roomFor(err: unknown): boolean {
  return err instanceof BusError && (err.errno === A.ENOBUFS || err.errno === A.EXFULL) && err.reason !== A.R_SEND_NEVER_FITS;
}

/**
 * The reply could not be sent (`err`): a reply that does not fit (too large, or no room in
 * the caller's pool) tells the caller at once with a short error, if that fits, instead of
 * letting it wait out its timeout; then `err` goes to onError, or is thrown (a synchronous
 * handler) or dropped.
 */
function replyFailed(c: Connection, call: MethodCall, cookie: number, serial: number, errorName: string | undefined, err: unknown, onError: ExportOptions['onError'], sync: boolean): void {
  if (tooBig(err)) {
    // the Failed naming the method and the whole error, else a short one (a caller whose pool
    // share cannot hold the first, a 4 KiB pool's 682 bytes with a long member name: before
    // stop 65 it was left to its timeout); neither fits: the caller times out
    const what = errorName === undefined ? 'the reply' : `the error reply ${errorName}`;
    const texts = [`${call.interface ?? ''}.${call.member}: ${what} could not be sent: ${err.message}`, `${what} could not be sent (${err.code})`];
    // (from a promise callback, a wait's end, with an event-loop send's lock wait: a wait for
    // room that ended at a lock still taken blocked the thread LOCK_WAIT_MS here, a review of
    // stop 66)
    const e = c.engine;
    e.lockWaitMs = sync ? e.syncLockWaitMs : c.sendLockWait();
    try {
      for (const text of texts) {
        let rc = -1;
        try {
          rc = c.takeCookie();
          if (rc > 0xffffffff) break;
          c.replyTo(call.senderId, cookie, failedBytes(rc, serial, text), { cookie: rc, payloadType: PAYLOAD_DBUS });
          break;
        } catch (x) {
          if (rc >= 0) c.untakeCookie(rc);
          if (!tooBig(x)) break;
        }
      }
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
  }
  // (named as dispatch's, which the service called, not as the reply it made: API.md, reply())
  const e = err instanceof BusError ? relabel('dispatch', err) : err;
  if (onError === BUILT_IN) {
    // a reply of dispatch's own: one that did not fit this caller (its Failed tried above) is
    // this caller's matter, not the service's
    if (sync && !tooBig(err)) throw e;
    return;
  }
  if (onError) { onError(e, call); return; }
  if (sync) throw e;
}

/** The reply did not fit the caller: too large, no room in its pool or quota, or the wait for room ended (replyFailed tells the caller Failed). */
function tooBig(err: unknown): err is BusError {
  return err instanceof BusError && (err.errno === A.EMSGSIZE || err.errno === A.ENOBUFS || err.errno === A.EXFULL || err.errno === A.ETIMEDOUT);
}

/**
 * The onError of the replies dispatch makes itself, where no export's onError applies (no
 * such object, interface or method; Ping, GetMachineId, Introspect): a reply that does not
 * fit the caller is dropped once the caller is told (Failed, if that fits), any other error
 * is thrown as without an onError. Never called: replyFailed knows it. (Such a reply was
 * thrown before stop 65, so one client whose pool could not hold an Introspect, or an
 * UnknownObject of a long path, ended the service's receive loop: an outside reading.)
 */
const BUILT_IN: NonNullable<ExportOptions['onError']> = () => {};

/** The deadline of each call being dispatched (ns, the provider's clock: its msg.timeout_ns), for a reply that waits for room. */
const deadlines = new WeakMap<MethodCall, number>();

/** A Failed error reply (serial `rc`) to the call with serial `serial`, with the message `text`. */
function failedBytes(rc: number, serial: number, text: string): Uint8Array {
  return encodeTransient({ type: 'error', serial: rc, replySerial: serial, errorName: DBUS_ERROR.Failed, signature: 's' }, [text]);
}

/** Answer with the error reply `name` and the message `text` (`onError`: the method's, for its InvalidArgs; else dispatch's own rule, BUILT_IN). */
function fail(c: Connection, call: MethodCall, cookie: number, serial: number, name: string, text: string, onError: ExportOptions['onError'] = BUILT_IN): void {
  answer(c, call, cookie, serial, name, 's', [text], onError, true);
}

/**
 * The longest message an error reply carries (UTF-16 units); a longer one is cut, with '…'.
 * An error message is for people, and 4096 units (at most 12 KiB of UTF-8) fit any caller's
 * share of a default pool, and of much smaller ones.
 */
const ERROR_TEXT_MAX = 4096;

/**
 * An error message the codec can carry: each NUL and lone surrogate replaced by U+FFFD, at
 * most ERROR_TEXT_MAX units (an error's message is the handler's text: `new Error('a\0b')`,
 * a 3 MiB message, must still reach the caller as an error, not leave it waiting).
 */
function sendable(text: string): string {
  const t = text.length > ERROR_TEXT_MAX ? `${text.slice(0, ERROR_TEXT_MAX)}…` : text;
  return t.replace(/\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Answer with the error reply of what a handler threw or rejected with. */
function answerError(c: Connection, call: MethodCall, cookie: number, serial: number, err: unknown, onError: ExportOptions['onError'], sync: boolean): void {
  let name: string = DBUS_ERROR.Failed, text: string;
  try {
    if (err instanceof DBusError) {
      name = err.errorName;
      // the body's one string (the message, by convention), else the message
      const b = err.body;
      text = b.length === 1 && typeof b[0] === 'string' ? b[0] : String(err.message);
    } else text = err instanceof Error ? String(err.message) : String(err);
  } catch {
    name = DBUS_ERROR.Failed;
    text = 'the handler failed with an error that could not be read';
  }
  answer(c, call, cookie, serial, name, 's', [sendable(text)], onError, sync);
}

/** Answer with the handler's return value `v` (encoded by `out`), or Failed when it is not an array of out's values. */
function answerValue(c: Connection, call: MethodCall, cookie: number, serial: number, method: Method, v: readonly unknown[] | void, sync: boolean): void {
  // a bare handler's reply is empty: what it returns (an arrow function's incidental value,
  // push()'s count) is not a reply body (it made the reply Failed before stop 44: an outside audit)
  if (method.bare) v = undefined;
  let body: readonly unknown[];
  try { body = encodeBody(method.out, v); } catch (err) {
    answerError(c, call, cookie, serial, err, method.onError, sync);
    return;
  }
  answer(c, call, cookie, serial, undefined, method.out, body, method.onError, sync);
}

/**
 * Answer the D-Bus method call `msg` (see the rule at the top). Returns false when it is not
 * one (or is malformed: nothing is sent), true when it was answered or handed to its handler.
 * Does not free `msg`.
 */
export function dispatchCall(c: Connection, msg: Message): boolean {
  if (!isMethodCall(msg)) return false;
  let d: DBusMessage;
  try {
    // read in place from the pool; `ay` values copied: the values outlive the message (async handlers)
    const at = msg.payloadSpan();
    d = at >= 0 ? readPayload(msg.conn.engine.u8, at, msg.spanLength, true) : readPayload(msg.payload.slice());
    checkKdbusEnvelope(d.header, msg.kdbusEnvelope()); // (sd-bus dropped an inconsistent one)
  } catch {
    return false;
  }
  const senderId = msg.src, cookie = msg.cookie;
  // sender and destination from the kdbus message, as m.dbus has them (the destination was
  // missing before stop 35: an outside audit)
  const h = withKdbusAddresses(d.header, { src: senderId, dst: msg.dst, dstName: msg.dstName ?? undefined }, c.uniqueName);
  if (h.type !== 'method_call' || h.path === undefined || h.member === undefined) return false;
  const serial = h.serial;
  const call: MethodCall = {
    path: h.path, interface: h.interface, member: h.member, signature: h.signature ?? '',
    sender: h.sender!, senderId, header: h, msg, noReply: !msg.expectsReply,
  };
  // (a call's timeout_ns is its absolute deadline; the field is a reply's cookie_reply)
  if (msg.expectsReply) deadlines.set(call, msg.cookieReply);
  const tree = trees.get(c);
  const ifaces = tree?.get(h.path);
  // 1. the standard interfaces (named, or a call without an interface whose member no exported
  // interface of the path has: the introspection XML lists them at every object)
  const standard = h.interface === undefined && !exportedMember(ifaces, h.member);
  // (the built-in methods take no arguments: a call with some is InvalidArgs, as rule 5 answers
  // an exported method's; they were ignored before stop 44, an outside audit)
  const noArgs = (): boolean => {
    if (call.signature === '') return true;
    fail(c, call, cookie, serial, DBUS_ERROR.InvalidArgs, `Invalid arguments for ${h.member}: signature '${call.signature}', expected ''`);
    return false;
  };
  if (h.interface === PEER || (standard && (h.member === 'Ping' || h.member === 'GetMachineId'))) {
    if ((h.member === 'Ping' || h.member === 'GetMachineId') && !noArgs()) return true;
    if (h.member === 'Ping') { answer(c, call, cookie, serial, undefined, '', [], BUILT_IN, true); return true; }
    if (h.member === 'GetMachineId') { answer(c, call, cookie, serial, undefined, 's', [machineId(c)], BUILT_IN, true); return true; }
    fail(c, call, cookie, serial, DBUS_ERROR.UnknownMethod, `No such method '${h.member}' in interface '${PEER}'`);
    return true;
  }
  if (h.interface === INTROSPECTABLE || (standard && h.member === 'Introspect')) {
    const xml = h.member === 'Introspect' ? introspect(tree, h.path) : null;
    // (the object first, then the arguments, as sd-bus checks: UnknownObject at a path with
    // nothing at or below it whatever the arguments; a second look, stop 44)
    if (xml !== null && !noArgs()) return true;
    if (xml !== null) answer(c, call, cookie, serial, undefined, 's', [xml], BUILT_IN, true);
    else if (h.member !== 'Introspect') fail(c, call, cookie, serial, DBUS_ERROR.UnknownMethod, `No such method '${h.member}' in interface '${INTROSPECTABLE}'`);
    else fail(c, call, cookie, serial, DBUS_ERROR.UnknownObject, `No such object path '${h.path}'`);
    return true;
  }
  // 2.-4. the object, the interface, the member
  if (!ifaces) { fail(c, call, cookie, serial, DBUS_ERROR.UnknownObject, `No such object path '${h.path}'`); return true; }
  let m: Method | undefined;
  if (h.interface !== undefined) {
    const t = ifaces.get(h.interface);
    if (!t) { fail(c, call, cookie, serial, DBUS_ERROR.UnknownInterface, `No such interface '${h.interface}' at object path '${h.path}'`); return true; }
    m = t.get(h.member);
  } else {
    for (const t of ifaces.values()) if ((m = t.get(h.member)) !== undefined) break;
  }
  if (!m) {
    fail(c, call, cookie, serial, DBUS_ERROR.UnknownMethod, `No such method '${h.member}' in ${h.interface !== undefined ? `interface '${h.interface}'` : 'any interface'} at object path '${h.path}' (signature '${call.signature}')`);
    return true;
  }
  // 5. the arguments
  if (m.in !== undefined && m.in !== call.signature) {
    fail(c, call, cookie, serial, DBUS_ERROR.InvalidArgs, `Invalid arguments for ${h.member}: signature '${call.signature}', expected '${m.in}'`, m.onError);
    return true;
  }
  // 6.-7. the handler
  const method = m;
  let r: ReturnType<MethodHandler>;
  try {
    r = method.handler(d.body, call);
  } catch (err) {
    answerError(c, call, cookie, serial, err, method.onError, true);
    return true;
  }
  // a promise (or any thenable): answered once it settles; a `then` that throws (a getter, or
  // the call) is the handler's failure; a thenable that calls back twice is answered once
  let then: unknown = undefined;
  if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
    try { then = (r as { then?: unknown }).then; } catch (err) {
      answerError(c, call, cookie, serial, err, method.onError, true);
      return true;
    }
  }
  if (typeof then === 'function') {
    let settled = false;
    try {
      (then as (ok: (v: readonly unknown[] | void) => void, no: (err: unknown) => void) => unknown).call(r,
        (v) => { if (settled) return; settled = true; answerValue(c, call, cookie, serial, method, v, false); },
        (err) => { if (settled) return; settled = true; answerError(c, call, cookie, serial, err, method.onError, false); });
    } catch (err) {
      if (!settled) { settled = true; answerError(c, call, cookie, serial, err, method.onError, false); }
    }
    return true;
  }
  answerValue(c, call, cookie, serial, method, r as readonly unknown[] | void, true);
  return true;
}

/** Does an exported interface of this path (export order) have `member`? */
function exportedMember(ifaces: Map<string, Map<string, Method>> | undefined, member: string): boolean {
  if (!ifaces) return false;
  for (const t of ifaces.values()) if (t.has(member)) return true;
  return false;
}

/** The bus's 128-bit id as 32 hex digits: the "machine id" of Peer.GetMachineId (every connection of a bus shares it). */
function machineId(c: Connection): string {
  const u8 = c.engine.u8;
  let s = '';
  for (let i = 0; i < 16; i++) s += u8[A.BUS_BASE + A.BUS_ID128 + i].toString(16).padStart(2, '0');
  return s;
}

const XML_HEAD = '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n';
const STANDARD = `  <interface name="${PEER}">\n    <method name="Ping"/>\n    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>\n  </interface>\n`
  + `  <interface name="${INTROSPECTABLE}">\n    <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>\n  </interface>\n`;

/** Each complete type of a signature (for the <arg> elements). */
function splitSignature(sig: string): string[] {
  const out: string[] = [];
  let i = 0;
  const one = (): void => {
    const ch = sig[i++];
    if (ch === 'a') one();
    else if (ch === '(' || ch === '{') { const close = ch === '(' ? ')' : '}'; while (sig[i] !== close) one(); i++; }
  };
  while (i < sig.length) { const s = i; one(); out.push(sig.slice(s, i)); }
  return out;
}

/** Introspection XML of `path`: its interfaces and methods and its direct children; null when nothing is exported at or below it. */
function introspect(tree: Tree | undefined, path: string): string | null {
  const paths = [...(tree?.keys() ?? [])];
  const prefix = path === '/' ? '/' : path + '/';
  const children = new Set<string>();
  for (const p of paths) if (p.startsWith(prefix) && p !== path) children.add(p.slice(prefix.length).split('/')[0]);
  const ifaces = tree?.get(path);
  if (!ifaces && children.size === 0) return null;
  let xml = XML_HEAD + '<node>\n' + STANDARD;
  for (const [name, methods] of ifaces ?? []) {
    xml += `  <interface name="${name}">\n`;
    for (const [member, m] of methods) {
      const args = [
        ...(m.in === undefined ? [] : splitSignature(m.in).map((t) => `<arg type="${t}" direction="in"/>`)),
        ...splitSignature(m.out).map((t) => `<arg type="${t}" direction="out"/>`),
      ];
      xml += args.length === 0 ? `    <method name="${member}"/>\n` : `    <method name="${member}">${args.join('')}</method>\n`;
    }
    xml += '  </interface>\n';
  }
  for (const ch of [...children].sort()) xml += `  <node name="${ch}"/>\n`;
  return xml + '</node>\n';
}

// ---- the caller's side ----

/** the destination callBytes() read from the spec (no object per call) */
let callDst: Destination = 0;

/** The bytes of the method call `spec` (its destination in callDst). */
function callBytes(c: Connection, op: string, spec: MethodCallSpec, serial: number, noReply: boolean, transient: boolean): Uint8Array {
  const o = options<MethodCallSpec>(op, spec, SPEC_KEYS, "{ destination: 'org.example.Calc', path: '/org/example/Calc', interface: 'org.example.Calc', member: 'Add', signature: 'ii', body: [1, 2] }", 'call');
  const dst = o.destination; // (read once: twice before stop 35, an outside audit)
  if (dst === undefined) throw new BusError(A.EINVAL, op, 'call.destination is required (an id, \':1.<id>\' or a well-known name)');
  if (serial > 0xffffffff) throw new BusError(A.EINVAL, op, `the cookie ${serial} does not fit a D-Bus serial (u32): this connection has sent 2^32 messages`);
  const oBody = o.body;
  const body = oBody === undefined ? NO_VALUES : oBody; // (null is not absent: EINVAL below)
  if (!isList(body)) throw new BusError(A.EINVAL, op, `call.body must be an array, got ${kindOf(body)}`);
  const path = o.path, member = o.member, iface = o.interface, sig = o.signature;
  // (the codec took null for a field of its own: a TypeError, before stop 25)
  if (sig !== undefined && typeof sig !== 'string') throw new BusError(A.EINVAL, op, `call.signature must be a string, got ${kindOf(sig)}`);
  const header: DBusHeader = {
    type: 'method_call', serial, path, member, interface: iface,
    signature: sig === '' ? undefined : sig, flags: noReply ? FLAG_NO_REPLY_EXPECTED : undefined,
  };
  // validates (EINVAL); a transient buffer only where nothing of the caller's runs before the send copies it
  let bytes: Uint8Array;
  try {
    bytes = transient ? encodeTransient(header, body) : encodeMsg(header, body);
  } catch (err) {
    throw asArgError(op, err); // (the codec's errors are this method's argument errors)
  }
  callDst = dst;
  return bytes;
}

/** The reply message of a D-Bus call: its body (copied out of the pool), or DBusError for an error reply. Frees `m`. */
function replyBody(m: Message, op: string): unknown[] {
  let d: DBusMessage;
  try {
    if (!m.isDBus) throw new BusError(A.EBADMSG, op, `the reply is not a D-Bus message (its payload type is 0x${m.payloadType.toString(16)}, not PAYLOAD_DBUS "DBusDBus")`);
    // read in place from the pool, `ay` values copied (the message is freed below)
    const at = m.payloadSpan();
    d = at >= 0 ? readPayload(m.conn.engine.u8, at, m.spanLength, true) : readPayload(m.payload.slice());
    checkKdbusEnvelope(d.header, m.kdbusEnvelope()); // the reply serial is the call's cookie, ...
  } catch (err) {
    // the codec's rejections of the reply (op dbus.header, dbus.decode) told as this method's,
    // as API.md says (before stop 47 they kept the codec's op: an outside audit)
    throw asArgError(op, err);
  } finally {
    m.free();
  }
  if (d.header.type === 'error') {
    const first = d.body[0];
    throw new DBusError(d.header.errorName!, typeof first === 'string' ? first : '', d.body);
  }
  if (d.header.type !== 'method_return') throw new BusError(A.EBADMSG, op, `the reply is a D-Bus ${d.header.type}, not a method_return or an error`);
  return d.body;
}

/** conn.callMethod: the reply's body; rejects with DBusError (an error reply) or what call() rejects with. */
export function callMethod(c: Connection, spec: MethodCallSpec, opts?: CallOptions): Promise<unknown[]> {
  try {
    // a closed connection first, before the spec and options are read (API.md, "Arguments")
    if (c.closed) throw new BusError(A.ECONNRESET, 'callMethod');
    // without options call() reads nothing of the caller's before its first try copies the
    // bytes: they may be in the reused encode buffer then, which a call that must wait copies
    // first (callWith); options may have getters (the caller's code), so with them, not
    // options are read first, into a plain copy: then none of the caller's code runs between
    // the encoding and the call's copy of the bytes, unless a `signal` is given (the call reads
    // its `aborted`, which a duck-typed signal may answer with code of its own): without one
    // the message goes through the reused buffer (one pass, no buffer of its own per call:
    // before stop 57 any options object, even { timeout }, took the sized path; an outside
    // audit). A faulty options argument is told after the spec's faults, as call() told it.
    let copy = opts, optsErr: unknown = null;
    if (opts !== undefined) {
      try { copy = callOptionsCopy('callMethod', opts); } catch (err) { optsErr = err; }
    }
    // (faulty options: nothing of the caller's runs after the encoding either, which is only sized then)
    const transient = copy === undefined || optsErr !== null || copy.signal === undefined;
    // the cookie is the D-Bus serial written into the bytes: taken now, so that no call made
    // while this one waits (for a slot, for room) takes it too
    const cookie = c.takeCallCookie();
    let bytes: Uint8Array;
    try { bytes = callBytes(c, 'callMethod', spec, cookie, false, transient); } catch (err) { c.untakeCookie(cookie); throw err; }
    if (optsErr !== null) { c.untakeCookie(cookie); throw optsErr; }
    return c.callDBus(callDst, bytes, copy, transient, cookie).then(callMethodReply, callMethodFailed);
  } catch (err) {
    return Promise.reject(err);
  }
}
function callMethodReply(m: Message): unknown[] {
  return replyBody(m, 'callMethod');
}
function callMethodFailed(err: unknown): never {
  throw asOwn('callMethod', err);
}

/** conn.callMethodSync: callMethod blocking the thread (callSync). */
export function callMethodSync(c: Connection, spec: MethodCallSpec, opts?: CallSyncOptions): unknown[] {
  if (c.closed) throw new BusError(A.ECONNRESET, 'callMethodSync'); // (first, as callMethod's)
  const cookie = c.takeCallCookie(); // (as callMethod's: an option getter may make a call meanwhile)
  let bytes: Uint8Array;
  try { bytes = callBytes(c, 'callMethodSync', spec, cookie, false, opts === undefined); } catch (err) { c.untakeCookie(cookie); throw err; }
  return replyBody(c.callSyncDBus(callDst, bytes, opts, cookie), 'callMethodSync');
}

/** conn.sendMethod: a method call with NO_REPLY_EXPECTED (no EXPECT_REPLY): nothing comes back. Returns the cookie. */
export function sendMethod(c: Connection, spec: MethodCallSpec): number {
  // (first, as callMethod's: the spec's getters ran before it, and a throwing one came out
  // instead of ECONNRESET, before stop 49: an outside audit)
  if (c.closed) throw new BusError(A.ECONNRESET, 'sendMethod');
  const cookie = c.takeCookie();
  try {
    const bytes = callBytes(c, 'sendMethod', spec, cookie, true, true);
    return c.send(callDst, bytes, { cookie, payloadType: PAYLOAD_DBUS });
  } catch (err) {
    c.untakeCookie(cookie); // (the counter advances only for a sent message)
    throw asOwn('sendMethod', err);
  }
}
