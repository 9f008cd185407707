// route: where a SEND goes. Today a destination id names one connection (connById of
// conn.ts); the names issue routes a DST_NAME to its owner here, and the matches issue a
// broadcast to the connections whose match entries accept the signal (see
// docs/ARCHITECTURE.md, "Broadcasts and the one reservation per thread").
import * as A from "../js/shared/abi";
import { ld32 } from "./mem";
import { connById } from "./conn";
import { fail } from "./reason";

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

/**
 * The owner of the well-known name at `s` (`len` bytes, valid): none before the names
 * issue, which looks it up in the name registry here.
 */
export function routeByName(s: u32, len: u32): i32 {
  return fail(A.ESRCH, A.R_SEND_NAME_NO_OWNER);
}

/** Is receiver `d` still the connection with id (lo, hi)? (its lock held: it may have closed, or its slot been reused) */
export function routeLive(d: u32, lo: u32, hi: u32): bool {
  return ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && ld32(d + A.CONN_ID) == lo && ld32(d + A.CONN_ID + 4) == hi;
}
