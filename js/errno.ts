// errno: the one table of error codes and their messages, and BusError.
import { BRAND, brand, hasBrand } from './brand.ts';
import * as A from './shared/abi.ts';

const TABLE: Record<number, [string, string]> = {
  [A.EPERM]: ['EPERM', 'operation not permitted'],
  [A.ESRCH]: ['ESRCH', 'no such owner: the name has no owner, or the thread slot is free or no longer the caller\'s'],
  [A.ENXIO]: ['ENXIO', 'no such connection, or not a published slice'],
  [A.E2BIG]: ['E2BIG', 'too many names for this connection'],
  [A.EBADF]: ['EBADF', 'not a connection handle of this bus, or thread not joined'],
  [A.EAGAIN]: ['EAGAIN', 'no message in the queue'],
  [A.ENOMEM]: ['ENOMEM', 'the bus memory has no room for this'],
  [A.EFAULT]: ['EFAULT', 'address outside the memory the caller may use'],
  [A.EBUSY]: ['EBUSY', 'still in use: messages queued or being sent to it, connections still open, a token joined already, or a command of this thread under way'],
  [A.EEXIST]: ['EEXIST', 'item given twice, or name already owned'],
  [A.EINVAL]: ['EINVAL', 'invalid argument'],
  [A.ENFILE]: ['ENFILE', 'the bus connection table is full'],
  [A.EMFILE]: ['EMFILE', 'too many match entries'],
  [A.EMLINK]: ['EMLINK', 'too many pending calls'],
  [A.EPIPE]: ['EPIPE', 'the peer went away'],
  [A.EDOM]: ['EDOM', 'bloom size does not match the bus'],
  [A.ENAMETOOLONG]: ['ENAMETOOLONG', 'connection description too long (at most 63 bytes)'],
  [A.EXFULL]: ['EXFULL', "no room in the receiver's pool"],
  [A.EBADSLT]: ['EBADSLT', 'no matching call or match entry'],
  [A.EBADMSG]: ['EBADMSG', 'malformed message for its kind (broadcast / signal / bloom)'],
  [A.ENOTUNIQ]: ['ENOTUNIQ', 'a broadcast cannot expect a reply'],
  [A.EREMCHG]: ['EREMCHG', 'the name is owned by another connection'],
  [A.EUSERS]: ['EUSERS', 'the thread table is full'],
  [A.EDESTADDRREQ]: ['EDESTADDRREQ', 'no destination id or name'],
  [A.EMSGSIZE]: ['EMSGSIZE', 'message or command too large'],
  [A.EOPNOTSUPP]: ['EOPNOTSUPP', 'operation not supported'],
  [A.EADDRINUSE]: ['EADDRINUSE', 'name not owned by the caller'],
  [A.EADDRNOTAVAIL]: ['EADDRNOTAVAIL', 'the name is only held by an activator'],
  [A.ENOBUFS]: ['ENOBUFS', "the sender's quota in the receiver's pool is used up"],
  [A.ECONNRESET]: ['ECONNRESET', 'the connection is closed'],
  [A.ETIMEDOUT]: ['ETIMEDOUT', 'the call timed out'],
  [A.EALREADY]: ['EALREADY', 'this thread already joined the bus'],
  [A.EINPROGRESS]: ['EINPROGRESS', 'a send of this thread is still pending'],
  [A.ECANCELED]: ['ECANCELED', 'the call was canceled'],
  [A.ENOSPC]: ['ENOSPC', "the bus's reply table is full"],
  [A.ESHUTDOWN]: ['ESHUTDOWN', 'the bus was shut down'],
  [A.EDEADLK]: ['EDEADLK', 'a lock is held by a thread that is dead or stuck: the command gave up, having changed nothing'],
};

/** Symbolic code of an errno (positive), e.g. 'ENOBUFS'. */
export function errnoCode(errno: number): string {
  return TABLE[errno]?.[0] ?? `E${errno}`;
}

/** Human-readable message of an errno (positive). */
export function errnoMessage(errno: number): string {
  return TABLE[errno]?.[1] ?? `error ${errno}`;
}

/**
 * An error from the bus: `errno` (positive, Linux numbering), `code` ('ENOBUFS'), message,
 * and, for a failure the core reported, `reason`: the R_* constant (abi) naming the rule
 * that failed (0 when the host found the error, or the core could not say).
 */
export class BusError extends Error {
  /**
   * `instanceof BusError` holds for a BusError of any copy of the package in the program
   * (js/brand.ts); a subclass of it keeps the prototype chain's rule (inherited, the brand
   * alone made every BusError an instance of every subclass: a second look, stop 44)
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return this === BusError ? hasBrand(x, BRAND.BusError) : Function.prototype[Symbol.hasInstance].call(this, x);
  }
  readonly errno: number;
  readonly code: string;
  readonly reason: number;
  constructor(errno: number, op: string, detail?: string, reason = 0, opts?: { cause?: unknown }) {
    const code = errnoCode(errno);
    super(`${op}: ${code}: ${detail ?? errnoMessage(errno)}`, opts);
    this.name = 'BusError';
    this.errno = errno;
    this.code = code;
    this.reason = reason;
  }
}
brand(BusError, BRAND.BusError);

/**
 * What a wait of `op` aborted by `signal` rejects with: ECANCELED, whose `cause` is the
 * signal's reason (an `AbortSignal.timeout()`'s TimeoutError tells a timeout from a cancel).
 */
export function canceled(op: string, signal: AbortSignal | undefined): BusError {
  // (a duck-typed signal whose reason getter throws: that error is the cause; before stop 42
  // it escaped from the abort listener and the wait never settled, an outside audit)
  let cause: unknown;
  try { cause = signal?.reason; } catch (err) { cause = err; }
  return new BusError(A.ECANCELED, op, 'aborted by its signal', 0, { cause });
}

/**
 * What an operation `op` gets once the bus was shut down (bus.shutdown()): ESHUTDOWN with
 * the reason R_BUS_SHUTDOWN, whichever thread or wait it reaches; `detail` replaces the
 * default message where the operation says more.
 */
export function shutdownError(op: string, detail = 'the bus was shut down'): BusError {
  return new BusError(A.ESHUTDOWN, op, detail, A.R_BUS_SHUTDOWN);
}

/** Throw a BusError when a core result is negative; returns the result otherwise. */
export function check(r: number, op: string): number {
  if (r < 0) throw new BusError(-r, op);
  return r;
}
