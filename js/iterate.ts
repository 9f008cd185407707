// iterate: a connection's messages as an async iterator (for await), and Symbol.dispose /
// Symbol.asyncDispose where the runtime has them (feature-detected: nothing is defined on a
// runtime without them).
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import type { Connection, RecvAsyncOptions } from './connection.ts';
import { Message } from './message.ts';

/** conn.messages() options: those of recvAsync, applied to every wait. */
export type MessagesOptions = RecvAsyncOptions;

const DISPOSE = (Symbol as unknown as { dispose?: symbol }).dispose;
const ASYNC_DISPOSE = (Symbol as unknown as { asyncDispose?: symbol }).asyncDispose;

export function iterate(conn: Connection, opts: MessagesOptions | undefined): AsyncIterableIterator<Message> {
  let prev: Message | null = null;
  let done = false;
  const drop = () => {
    const m = prev;
    prev = null;
    if (m && !m.kept && !m.freedAlready && !conn.closed) m.free();
  };
  const end = (): IteratorResult<Message> => {
    done = true;
    return { done: true, value: undefined };
  };
  // closing the connection ends its iterators; any other failure ends this one and rejects
  const failed = (err: unknown): IteratorResult<Message> => {
    if (conn.closed && err instanceof BusError && err.errno === A.ECONNRESET) return end();
    done = true;
    throw err;
  };
  const got = (m: Message): IteratorResult<Message> => {
    prev = m;
    return { done: false, value: m };
  };
  const it: AsyncIterableIterator<Message> = {
    // not an async function: a message already queued is handed over in one settled promise
    // (no generator, no second await), as recvAsync does
    next(): Promise<IteratorResult<Message>> {
      try {
        drop();
        if (done || conn.closed) return Promise.resolve(end());
        let r: Message | Promise<Message>;
        try {
          r = conn.recvNow(opts);
        } catch (err) {
          return Promise.resolve(failed(err));
        }
        return r instanceof Message ? Promise.resolve(got(r)) : r.then(got, failed);
      } catch (err) {
        return Promise.reject(err);
      }
    },
    async return(): Promise<IteratorResult<Message>> {
      drop();
      return end();
    },
    [Symbol.asyncIterator]() { return it; },
  };
  if (ASYNC_DISPOSE) Object.defineProperty(it, ASYNC_DISPOSE, { value: () => it.return!().then(() => undefined), configurable: true, writable: true });
  return it;
}

/** Define `fn` under Symbol.dispose on `proto`, when the runtime has the symbol. */
export function defineDispose(proto: object, fn: (this: never) => void): void {
  if (DISPOSE) Object.defineProperty(proto, DISPOSE, { value: fn, configurable: true, writable: true });
}
