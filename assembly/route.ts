// route: where a SEND goes. Today a destination id names one connection (connById of
// conn.ts); the names issue routes a DST_NAME to its owner here, and the matches issue a
// broadcast to the connections whose match entries accept the signal (see
// docs/ARCHITECTURE.md, "Broadcasts and the one reservation per thread").
import * as A from "../js/shared/abi";
import { ld32 } from "./mem";
import { connById } from "./conn";
import { fail } from "./reason";
import { nameLookup, namePrimary, ownerConn, ownerIsActivator } from "./registry";

const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

/**
 * The receiver of a message to connection id (lo, hi): its connection address, or -ENXIO.
 * An unlocked look: the caller checks routeLive once it holds the receiver's lock.
 * (Connection addresses lie below 2 GiB: BUS_MAKE's bounds keep the table there.)
 */
export function routeById(lo: u32, hi: u32): i32 {
  const d = connById(lo, hi);
  if (d == 0) return fail(A.ENXIO, A.R_SEND_NO_RECEIVER);
  if ((ld32(d + A.CONN_FLAGS) & KINDS) != 0) return fail(A.ENXIO, A.R_SEND_RECEIVER_KIND);
  return i32(d);
}

// the id of routeByName's receiver, read under the bus lock (scratch results: set before
// they are read, in the same command)
export let routeIdLo: u32 = 0;
export let routeIdHi: u32 = 0;

/**
 * The primary owner of the well-known name at `s` (`len` bytes, valid): its connection
 * address, its id in routeIdLo / routeIdHi; or -ESRCH (no owner), -EREMCHG (dst_id given and
 * not the owner's). The caller holds the bus lock (the registry's) and decides whether to keep
 * it (send.ts: for a call, a reply or owned names) or give it back at once; either way it
 * checks routeLive(d, id) under the receiver's lock, so a message goes to a connection that
 * owned the name at the look-up. A name whose primary owner is its activator routes to the
 * activator (its messages wait there for the real owner: activator.ts), unless the message
 * says NO_AUTO_START (-EADDRNOTAVAIL).
 */
export function routeByName(s: u32, len: u32, dstLo: u32, dstHi: u32, noAutoStart: bool): i32 {
  const e = nameLookup(s, len);
  let r: i32 = 0;
  if (e == 0) r = fail(A.ESRCH, A.R_SEND_NAME_NO_OWNER);
  else {
    const p = namePrimary(e);
    const d = ownerConn(p);
    routeIdLo = ld32(d + A.CONN_ID);
    routeIdHi = ld32(d + A.CONN_ID + 4);
    if ((dstLo != 0 || dstHi != 0) && (dstLo != routeIdLo || dstHi != routeIdHi)) r = fail(A.EREMCHG, A.R_SEND_NAME_DST_ID);
    else if (noAutoStart && ownerIsActivator(p)) r = fail(A.EADDRNOTAVAIL, A.R_SEND_NAME_ACTIVATOR);
    else r = i32(d);
  }
  return r;
}

/** Is receiver `d` still the connection with id (lo, hi)? (its lock held: it may have closed, or its slot been reused) */
export function routeLive(d: u32, lo: u32, hi: u32): bool {
  return ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && ld32(d + A.CONN_ID) == lo && ld32(d + A.CONN_ID + 4) == hi;
}
