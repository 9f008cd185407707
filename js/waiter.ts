// waiter: one pending event-loop wait of a connection (recvAsync, call(), and the waits for
// room of sendAsync, replyAsync and call()): what conn.close() ends and conn.ref() / unref()
// move the keep-alive hold of (host/keepalive.ts).
import type { BusError } from './errno.ts';
import type { Linked } from './linked-set.ts';

/** (Linked: a connection's waiters are a LinkedSet, linked-set.ts; initialise the links to null) */
export interface Waiter extends Linked {
  /** the waiting call, named in the error of a close (a wait for room only) */
  op?: string | undefined;
  /** keep the thread alive while waiting (undefined: as the connection, ref() / unref()) */
  keep: boolean | undefined;
  /** holds a keep-alive now */
  held: boolean;
  /** a receive with a `priority` filter (recvAsync, an iterator's step): it takes a call's end only at or below that priority, so the reply pump does not leave an aborted call's late end to it (reply-pump.ts, endsOwed) */
  filtered?: boolean;
  /** what ends the wait (close: ECONNRESET / ESHUTDOWN), once set */
  error: BusError | null;
  /** ends the current wait early (close, abort) */
  cancel: (() => void) | null;
}
