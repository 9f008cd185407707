// iterate: a connection's messages as an async iterator (for await), and Symbol.dispose /
// Symbol.asyncDispose where the runtime has them (feature-detected: nothing is defined on a
// runtime without them).
//
// An iterator without peek or priority takes its messages as conn.listen does: RECV_BATCH_MAX
// at a time by one RECV_BATCH (conn.takeBatched), which also frees the slices of the
// messages it handed over since the batch before (conn.releaseBatched): one hold of the
// receiver's lock per batch, not two per message. The batch's messages not handed over yet
// stay the connection's next messages for every receive path (conn.queued counts them); the
// slices it was done with are freed when it ends (return(), break: conn.batchEnd).
import * as A from './shared/abi.ts';
import { BusError, shutdownError } from './errno.ts';
import { relabel } from './args.ts';
import type { Connection, RecvAsyncOptions, WaitStop, CheckedRecv } from './connection.ts';
import { Message, closedFree } from './message.ts';
import { stepResolved, yieldTurn } from './host/fair.ts';
import { LinkedSet, type Linked } from './linked-set.ts';

/** a step still waiting, and the handle that ends its wait */
interface Waiting extends Linked {
  readonly step: Promise<IteratorResult<Message>>;
  readonly stop: WaitStop;
}

/** conn.messages() options: those of recvAsync, applied to every wait. */
export type MessagesOptions = RecvAsyncOptions;

const DISPOSE = (Symbol as unknown as { dispose?: symbol }).dispose;
const ASYNC_DISPOSE = (Symbol as unknown as { asyncDispose?: symbol }).asyncDispose;

/** what return() ends a step still waiting with (the step then resolves done: never seen by the user) */
const ENDED = new BusError(A.ECANCELED, 'messages', 'the iterator was ended by return()');

/**
 * What conn.messages() and `for await (… of conn)` iterate with: its `Symbol.asyncDispose`
 * (→ `return()`) is defined where the runtime has the symbol (Node 20.4+, Deno, recent browsers).
 */
export interface MessageIterator extends AsyncIterableIterator<Message> {
  /** ends the iterator (what `break` calls): always there, not optional as on AsyncIterator */
  return(value?: unknown): Promise<IteratorResult<Message>>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function iterate(conn: Connection, opts: MessagesOptions | undefined): MessageIterator {
  /** the message the last step handed out, and any more since the step before began (manual next() calls that waited together) */
  let prev: Message | null = null;
  let more: Message[] | null = null;
  let done = false;
  /** the options, checked at the first step (a bad one rejects it) and used as they were then by every step */
  let checked: CheckedRecv | null = null;
  /** steps take batches (no peek, no priority: a plain receive), known from the first step on */
  let batched = false;
  /** the steps still waiting (a manual next() not awaited yet), each with the handle that ends its wait (a LinkedSet, not a Map: one joins and leaves per parked step; linked-set.ts says why) */
  const waiting = new LinkedSet<Waiting>();
  /** a handle no step holds, for the next one (a queued message's step allocates nothing) */
  let spare: WaitStop | null = null;
  /**
   * the steps handed over at once have held the event loop past FAIR_MS (host/fair.ts): the
   * next step lets a macrotask run before it takes its message (a flood of queued messages
   * held a page's timers for seconds before stop 30: an outside audit)
   */
  let owed = false;
  /** that macrotask: the steps asked for meanwhile (manual next() calls) wait for it too, in call order */
  let yielding: Promise<void> | null = null;
  const free = (m: Message) => {
    if (m.kept || m.freedAlready) return;
    // (a closed connection: its slice went with the pool; the message reads as freed, ENXIO, as
    // free() marks it: it read as neither freed nor kept before stop 48, an outside audit)
    if (conn.closed) closedFree(m);
    else if (batched) conn.releaseBatched(m); // (its slice freed by the next batch, or at the end)
    else conn.freeSoon(m.detach()); // (a lock taken: deferred, not waited for LOCK_WAIT_MS)
  };
  const drop = () => {
    if (prev !== null) { free(prev); prev = null; }
    if (more !== null) { for (const m of more) free(m); more = null; }
  };
  const end = (): IteratorResult<Message> => {
    done = true;
    return { done: true, value: undefined };
  };
  // closing the connection ends its iterators, and return() the steps still waiting; any
  // other failure ends this iterator and rejects
  /** the connection was closed by bus.shutdown() (the creator's): a failure, as to a wait, not an end */
  const SHUT = () => shutdownError('messages');
  const failed = (err: unknown): IteratorResult<Message> => {
    if (err === ENDED || (conn.closed && !conn.busShutDown && err instanceof BusError && err.errno === A.ECONNRESET)) return end();
    if (conn.closed && conn.busShutDown && err instanceof BusError && err.errno === A.ECONNRESET) err = SHUT();
    // the steps' own failures (their options, ETIMEDOUT, ECANCELED, ESHUTDOWN, the batch's
    // receive) are told as op messages, as a listener's are told as op listen: they said
    // recvAsync, which a for await loop never called, before stop 49. The engine's
    // ECONNRESET of a thread declared dead (op engine, the object every later command throws)
    // stays as it is.
    else if (err instanceof BusError && err.message.startsWith('recvAsync: ')) err = relabel('messages', err);
    done = true;
    // (the slices of the messages handed over: freed now, as return() frees them)
    if (batched && !conn.closed) { try { conn.batchEnd(); } catch { /* the step's own failure is what it rejects with */ } }
    throw err;
  };
  const got = (m: Message): IteratorResult<Message> => {
    if (prev === null) prev = m;
    else (more ??= []).push(m);
    return { done: false, value: m };
  };
  /**
   * One step: `fresh` when it is a next() call (the messages of the step before are freed),
   * not when it goes on after its macrotask (the steps that waited for it together keep
   * each other's messages, as steps that waited together do)
   */
  const step = (fresh: boolean): Promise<IteratorResult<Message>> => {
    try {
      if (fresh) drop();
      if (done) return Promise.resolve(end());
      if (owed || yielding !== null) {
        // (nothing taken yet: a return() meanwhile ends it as it ends a waiting step)
        owed = false;
        const y = yielding ??= yieldTurn().then(() => { yielding = null; });
        conn.yieldingReceives++; // (a pending receive meanwhile: pendingReceives)
        return y.then(() => { conn.yieldingReceives--; return step(false); });
      }
      // the options, checked at the first step, before anything else (on a closed connection
      // the iterator ended quietly with options recvAsync refuses: an outside audit, stop 39)
      if (checked === null) {
        try {
          checked = conn.checkRecvAsync(opts);
          batched = (checked.o.peek === undefined || checked.o.peek === false) && checked.o.priority === undefined;
        } catch (err) {
          return Promise.resolve(failed(err));
        }
      }
      // closed by bus.shutdown() (the creator's connections) while the loop's body ran: the
      // loop ends with ESHUTDOWN, as a listener's done rejects (third audit, stop 19: it ended quietly)
      if (conn.closed) return conn.busShutDown ? Promise.resolve().then(() => failed(SHUT())) : Promise.resolve(end());
      const stop: WaitStop = spare ?? { cancel: null };
      spare = null;
      let r: Message | Promise<Message>;
      try {
        // a queued message (or one of the batch): handed over with no wait (an aborted
        // signal still rejects first, as recvAsync does)
        // (the wake word first: the wait after a look that found the queue empty needs no second look)
        const look = batched && checked.signal?.aborted !== true;
        const seen = look ? conn.wakeSeen() : 0;
        const m = look ? conn.takeBatched('messages') : null;
        if (m !== null) {
          spare = stop;
          owed = stepResolved();
          return Promise.resolve(got(m));
        }
        r = conn.recvChecked(checked.o, checked.timeout, checked.signal, checked.keepAlive, stop, false, look ? seen : undefined);
      } catch (err) {
        spare = stop;
        return Promise.resolve(failed(err));
      }
      if (r instanceof Message) {
        spare = stop;
        owed = stepResolved();
        return Promise.resolve(got(r));
      }
      const waited = r.then(got, failed);
      const entry: Waiting = { linkPrev: null, linkNext: null, linkIn: null, step: waited, stop };
      waiting.add(entry);
      const forget = () => { waiting.delete(entry); spare = stop; };
      waited.then(forget, forget);
      return waited;
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const it: AsyncIterableIterator<Message> = {
    // not an async function: a message already queued is handed over in one settled promise
    // (no generator, no second await), as recvAsync does
    next(): Promise<IteratorResult<Message>> {
      return step(true);
    },
    // ends the steps still waiting (they resolve done), lets them settle, then frees the last
    // message handed out unless it was kept (a step that had taken a message before the end
    // hands it over first: it is that last one)
    async return(): Promise<IteratorResult<Message>> {
      done = true;
      if (waiting.size > 0) {
        const steps = waiting.toArray();
        for (const { stop } of steps) stop.cancel?.(ENDED);
        await Promise.allSettled(steps.map(({ step }) => step));
      }
      drop();
      // the slices of the messages handed over are freed now (the batch's others stay queued)
      if (batched && !conn.closed) conn.batchEnd();
      return end();
    },
    [Symbol.asyncIterator]() { return it; },
  };
  if (ASYNC_DISPOSE) Object.defineProperty(it, ASYNC_DISPOSE, { value: () => it.return!().then(() => undefined), configurable: true, writable: true });
  return it as MessageIterator;
}

/** Define `fn` under Symbol.dispose on `proto`, when the runtime has the symbol. */
export function defineDispose(proto: object, fn: (this: never) => void): void {
  if (DISPOSE) Object.defineProperty(proto, DISPOSE, { value: fn, configurable: true, writable: true });
}
