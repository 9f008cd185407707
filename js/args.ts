// args: the checks of the public API's arguments (options objects, their keys and types), and
// the one place a payload's bytes are read from whatever object the caller handed us. Every
// failure is a BusError EINVAL that names the argument and the rule.
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import { BUSY_POLL_MAX_US } from './host/spin.ts';

/** How a value is described in an error message: 'null', 'array', 'typed array', 'DataView' or its typeof. */
export function kindOf(v: unknown): string {
  // (a view by its kind, read without running the caller's code: "an object like {...}, got
  // object" said nothing of a Uint8Array passed as options)
  return v === null ? 'null' : isRevoked(v) ? 'revoked Proxy' : Array.isArray(v) ? 'array' : ArrayBuffer.isView(v) ? (v instanceof DataView ? 'DataView' : 'typed array') : typeof v;
}

/**
 * A revoked Proxy: every operation on it throws a TypeError, Array.isArray's included (the one
 * check that runs none of the caller's code). Arguments are refused as one (EINVAL, "got
 * revoked Proxy") before anything else reads them: before stop 43 they escaped as TypeErrors
 * from the checks themselves (an outside audit).
 */
export function isRevoked(v: unknown): boolean {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return false;
  try { Array.isArray(v); return false; } catch { return true; }
}

/**
 * `v instanceof C` that does not throw: false for a revoked Proxy (kindOf names it) or a Proxy
 * whose getPrototypeOf trap throws (the checks of a module or a memory threw a TypeError for
 * one before stop 48: an outside audit).
 */
export function instanceOf<T>(v: unknown, C: abstract new (...args: never[]) => T): v is T {
  try { return v instanceof C; } catch { return false; }
}

/** Array.isArray that does not throw: false for a revoked Proxy (kindOf names it). */
export function isList(v: unknown): v is unknown[] {
  try { return Array.isArray(v); } catch { return false; }
}

/**
 * An argument list's first `len` entries (its length read once by the caller), each read once,
 * into a plain array the method then checks and uses (a getter's or a Proxy's later answer is
 * never seen). `stop(v, i)` is asked after each entry is taken, and may throw (a bad entry:
 * a length of 2^32 fails at its first missing entry, not after 2^32 reads) or answer true to
 * end the copy there.
 */
export function listOnce(a: ArrayLike<unknown>, len: number, stop: (v: unknown, i: number) => boolean | void): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < len; i++) {
    const v = a[i];
    out.push(v);
    if (stop(v, i) === true) break;
  }
  return out;
}

/** What a message says was passed: a number or bigint as its value, anything else as its kind. */
export function shown(v: unknown): string {
  // (a bigint with its n: "got 1" for 1n read as a valid number, before stop 41: an outside audit)
  return typeof v === 'number' ? String(v) : typeof v === 'bigint' ? `${v}n` : kindOf(v);
}

/**
 * An options argument: undefined (→ {}) or an object (not null, an array or a function) whose
 * own enumerable keys are all in `known`. `example` shows the expected form in the message.
 */
const NONE = Object.freeze({});
/** an object options can be read from: not an array, a view or a revoked Proxy */
const isPlainish = (o: object): boolean => !isRevoked(o) && !Array.isArray(o) && !ArrayBuffer.isView(o);
const hasOwn = Object.prototype.hasOwnProperty;

export function options<T extends object>(op: string, opts: unknown, known: readonly string[], example: string, what = 'options'): Partial<T> {
  if (opts === undefined) return NONE as Partial<T>;
  // (a typed array or DataView is refused here, by its kind: for-in over the bus memory's 74
  // million indices, to report the first as an unknown option, blocked the thread for a
  // minute and took 3 GB: an outside audit, stop 35)
  if (opts === null || typeof opts !== 'object' || !isPlainish(opts)) {
    throw new BusError(A.EINVAL, op, `${what} must be an object like ${example}, got ${kindOf(opts)}`);
  }
  // for-in and an own-property test, not Object.keys: no array per call (options objects are
  // passed per message: recvAsync({ timeout }) in a receive loop)
  for (const k in opts) {
    if (!hasOwn.call(opts, k)) continue; // inherited (what for-in yields is enumerable)
    if (!known.includes(k)) {
      const name = what === 'options' ? k : `${what}.${k}`;
      throw new BusError(A.EINVAL, op, `unknown option "${name}" (known: ${known.join(', ')})`);
    }
  }
  return opts as Partial<T>;
}

/** `v` is undefined or a boolean. */
export function optBoolean(op: string, name: string, v: unknown): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') throw new BusError(A.EINVAL, op, `${name} must be a boolean, got ${kindOf(v)}`);
  return v as boolean | undefined;
}

/**
 * A failure of the D-Bus codec (op `dbus.header`, `dbus.encode`) met while a method encoded
 * its caller's arguments, told as that method's: the same errno, reason and detail, with `op`
 * (callMethod, emit, ...). Anything else is returned as it is.
 */
export function asArgError(op: string, err: unknown): unknown {
  if (!(err instanceof BusError) || !err.message.startsWith('dbus.')) return err;
  return relabel(op, err);
}

/** `err` told as `op`'s: the same errno, reason, detail and `cause` (a BusError of a step that is `op`'s business). */
export function relabel(op: string, err: BusError, inner?: string): BusError {
  const at = typeof err.message === 'string' && typeof err.code === 'string' ? err.message.indexOf(`: ${err.code}: `) : -1;
  let detail = at < 0 ? undefined : err.message.slice(at + err.code.length + 4);
  // `inner`: the op of the step that failed, quoted in the detail too, as a wait for room quotes
  // its last try ("no room … (call: ENOBUFS: …)"): told as `op` there as well (since stop 49:
  // callText's said call there, an outside audit)
  if (inner !== undefined && detail !== undefined) detail = detail.split(`(${inner}: `).join(`(${op}: `);
  // (the cause too: an ECANCELED's abort reason, an EINVAL's addEventListener throw; it was
  // dropped before stop 44, bus.waitForName's: an outside audit)
  return new BusError(err.errno, op, detail, err.reason, 'cause' in err ? { cause: err.cause } : undefined);
}

/** the ops of the steps callMethod, sendMethod, callMethodSync, callText and callJSON take */
const OWN_STEPS = /^(call|send|callSync): /;

/**
 * `err`, a failure of the call() or send() that `op` (callMethod, sendMethod, callText,
 * callJSON) makes, told as `op`'s, as callMethodSync's callSync() errors are its own: the same errno, reason, detail and
 * cause (an ECANCELED's: its signal's reason). Before stop 41 they said `call:` / `send:` (an
 * outside audit). The engine's ECONNRESET of a thread declared dead (the same object every
 * later command throws, op engine) stays as it is.
 */
export function asOwn(op: string, err: unknown): unknown {
  // (only the errors of the call() / send() / callSync() it made: a BusError that the caller's
  // own code threw, from a getter say, passes as it is; before stop 43 it was relabelled too,
  // an outside audit)
  if (!(err instanceof BusError) || !OWN_STEPS.test(err.message)) return err;
  const own = relabel(op, err, err.message.slice(0, err.message.indexOf(': ')));
  if (err.cause !== undefined) Object.defineProperty(own, 'cause', { value: err.cause, writable: true, configurable: true });
  return own;
}

/** Duck-typed, so that a signal from another realm works too. */
export function isAbortSignal(s: unknown): s is AbortSignal {
  const x = s as AbortSignal | null;
  // (a revoked Proxy first: reading `aborted` threw a TypeError out of every wait's option
  // check before stop 48, an outside audit; the caller's EINVAL then names it by kindOf)
  if (isRevoked(x)) return false;
  return typeof x === 'object' && x !== null && typeof x.aborted === 'boolean'
    && typeof x.addEventListener === 'function' && typeof x.removeEventListener === 'function';
}

/** A u32 (an integer in 0 … 2^32 − 1), or the default when undefined. */
export function u32Arg(op: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new BusError(A.EINVAL, op, `${name} must be an integer in 0 … 2^32 − 1, got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
  }
  return v;
}

// ---- payload bytes ----
// A payload may be any object: a Uint8Array subclass can override `length`, `byteOffset` or
// `buffer`, or give the instance own getters that lie. So the view's true extent is read once
// through the intrinsic getters (internal slots, not properties), and the copy goes through a
// plain Uint8Array made from them: what is copied is exactly what was measured.
const getter = (proto: object, key: PropertyKey): (this: unknown) => unknown => {
  const g = Object.getOwnPropertyDescriptor(proto, key)?.get;
  if (!g) throw new Error(`wasmbus: no intrinsic ${String(key)} getter`);
  return g as (this: unknown) => unknown;
};
const TA = Object.getPrototypeOf(Uint8Array.prototype) as object;
const taTag = getter(TA, Symbol.toStringTag);
const taBuffer = getter(TA, 'buffer'), taOffset = getter(TA, 'byteOffset'), taLength = getter(TA, 'byteLength');
const dvBuffer = getter(DataView.prototype, 'buffer'), dvOffset = getter(DataView.prototype, 'byteOffset'), dvLength = getter(DataView.prototype, 'byteLength');
const abLength = getter(ArrayBuffer.prototype, 'byteLength');
const sabLength = typeof SharedArrayBuffer === 'function' ? getter(SharedArrayBuffer.prototype, 'byteLength') : null;
const fnCall = Function.prototype.call;
/** an intrinsic getter applied to `self` (Function.prototype.call captured at load: no array per call) */
const call = <R>(f: (this: unknown) => unknown, self: unknown): R => fnCall.call(f, self) as R;

/** byteLength of an ArrayBuffer or SharedArrayBuffer (its internal slot), or -1 when it is neither. */
function bufferLength(b: unknown): number {
  try { return call<number>(abLength, b); } catch { /* not an ArrayBuffer */ }
  if (sabLength) try { return call<number>(sabLength, b); } catch { /* not a SharedArrayBuffer */ }
  return -1;
}

/**
 * The bytes of a payload, as something `Uint8Array.prototype.set` copies exactly: a Uint8Array
 * (any subclass) is returned as it is, since `set` reads a typed-array source through its
 * internal slots (what the intrinsic getters report), whatever its own getters say: no object
 * is made per send (its `buffer` is not read either: for a small array V8 would make one). The
 * copy is bounded by its destination instead (Connection.send). Another typed array or a DataView (its viewed bytes), an ArrayBuffer or
 * SharedArrayBuffer (all of it) becomes a plain Uint8Array over the same bytes. null for
 * anything else. Measure the result with `payloadLength`.
 */
export function payloadBytes(payload: unknown): Uint8Array | null {
  if (payload === null || typeof payload !== 'object') return null;
  let buffer: ArrayBufferLike, offset: number, length: number;
  const tag = call<string | undefined>(taTag, payload);
  if (tag === 'Uint8Array') return payload as Uint8Array;
  if (tag !== undefined) {
    length = call<number>(taLength, payload); // byteLength: the viewed bytes
    if (length === 0) return EMPTY;
    buffer = call<ArrayBufferLike>(taBuffer, payload);
    offset = call<number>(taOffset, payload);
  } else if (ArrayBuffer.isView(payload)) { // a DataView
    try { length = call<number>(dvLength, payload); } catch { return EMPTY; } // detached
    if (length === 0) return EMPTY;
    buffer = call<ArrayBufferLike>(dvBuffer, payload);
    offset = call<number>(dvOffset, payload);
  } else {
    length = bufferLength(payload);
    if (length < 0) return null;
    if (length === 0) return EMPTY;
    buffer = payload as ArrayBufferLike;
    offset = 0;
  }
  return new Uint8Array(buffer, offset, length);
}

const EMPTY = new Uint8Array(0);

/**
 * Where the bytes of `bytes` (what payloadBytes returned) start in `buffer` when they are a
 * view of it, else -1: a payload already in the bus memory is copied by the core
 * (Engine.copyIn). Read through the intrinsic getters; for a view of more than
 * SEND_INLINE_MAX bytes only (reading `buffer` of a small on-heap array makes one).
 */
export function offsetIn(bytes: Uint8Array, buffer: ArrayBufferLike): number {
  return call<ArrayBufferLike>(taBuffer, bytes) === buffer ? call<number>(taOffset, bytes) : -1;
}

/**
 * Do the `len` bytes of `bytes` (from payloadBytes) overlap [lo, hi) of `buffer`? Its offset
 * is compared first, and its buffer read only when that offset falls in the range: reading
 * the buffer of a small typed array that V8 keeps on its heap (64 bytes or fewer, offset 0)
 * makes one (1.1 µs and an allocation, measured on this VM, stop 34); such an array is never
 * in the bus memory's range here, since `lo` is above 0.
 */
export function overlapsIn(bytes: Uint8Array, len: number, buffer: ArrayBufferLike, lo: number, hi: number): boolean {
  const off = call<number>(taOffset, bytes);
  return off < hi && off + len > lo && call<ArrayBufferLike>(taBuffer, bytes) === buffer;
}

/** The true byte offset of what payloadBytes returned in its buffer (its internal slot). */
export function payloadOffset(bytes: Uint8Array): number {
  return call<number>(taOffset, bytes);
}

/** The true byte length of what payloadBytes returned (its internal slot, not a property). */
export function payloadLength(bytes: Uint8Array): number {
  return call<number>(taLength, bytes);
}

/** A busy-poll length (µs): an integer from 0 (off) to BUSY_POLL_MAX_US; `op` names the call that was given it. */
export function busyPollArg(op: string, v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= BUSY_POLL_MAX_US) return v + 0; // (-0 read back as 0)
  throw new BusError(A.EINVAL, op, `busyPoll must be a whole number of microseconds from 0 (off: the adaptive spin) to ${BUSY_POLL_MAX_US} (the longest one spin may block the event loop), got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
}
