// call-json: conn.callText and conn.callJSON, call() for a request and an answer that are text
// or JSON: the request encoded as sendText / sendJSON encode it, the reply decoded and freed
// (as callMethod gives the reply's body values). A reply that is not JSON rejects with EBADMSG,
// the reply freed all the same. Every failure of the call() made is told as this op's (asOwn).
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import { kindOf, asOwn } from './args.ts';
import type { Connection, Destination } from './connection.ts';
import type { Message } from './message.ts';
import type { CallOptions } from './calls.ts';

const encoder = new TextEncoder();

/** conn.callText: `text` sent as call()'s payload; the reply's text (reply freed). */
export function callText(c: Connection, dst: Destination, text: string, opts?: CallOptions): Promise<string> {
  // (the text first, as sendText checks it first)
  if (typeof text !== 'string') return Promise.reject(new BusError(A.EINVAL, 'callText', `text must be a string, got ${kindOf(text)}`));
  return c.call(dst, encoder.encode(text), opts).then(replyText, textFailed);
}

/** conn.callJSON: JSON.stringify(value) sent as call()'s payload; the reply's JSON.parse (reply freed). */
export function callJSON(c: Connection, dst: Destination, value: unknown, opts?: CallOptions): Promise<unknown> {
  let text: string | undefined;
  try {
    // a closed connection first, before JSON.stringify runs the value's toJSON (the caller's
    // code), as sendJSON does; JSON.stringify's own errors (a BigInt, a cycle) reject as they are
    if (c.closed) throw new BusError(A.ECONNRESET, 'callJSON');
    text = JSON.stringify(value);
    if (text === undefined) throw new BusError(A.EINVAL, 'callJSON', 'the value has no JSON form');
  } catch (err) {
    return Promise.reject(err);
  }
  return c.call(dst, encoder.encode(text), opts).then(replyJSON, jsonFailed);
}

function replyText(m: Message): string {
  try { return m.text(); } finally { m.free(); }
}

function replyJSON(m: Message): unknown {
  let text: string;
  try { text = m.text(); } finally { m.free(); }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BusError(A.EBADMSG, 'callJSON', `the reply is not JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
}

function textFailed(err: unknown): never { throw asOwn('callText', err); }
function jsonFailed(err: unknown): never { throw asOwn('callJSON', err); }
