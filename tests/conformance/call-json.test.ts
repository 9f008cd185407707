// conn.callText / conn.callJSON (js/call-json.ts): call() with a text or JSON request, resolving
// with the reply's text or parsed value, the reply freed (the leak check after every test finds
// no slice in use). Every failure is told as the op's own, errno, reason and cause kept. And
// their replier's side: replyAsyncText / replyAsyncJSON, replyJSON on a closed connection.
import * as assert from 'uvu/assert';
import { BusError } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('callText / callJSON / replyAsyncJSON');

async function failure(p: Promise<unknown>): Promise<BusError> {
  try { await p; } catch (e) { return e as BusError; }
  throw new Error('resolved');
}

t('callJSON: the value as JSON text, the reply parsed and freed; callText: the reply\'s text', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = a.callJSON(b.id, { op: 'add', args: [2, 3] });
  const m = b.recv()!;
  assert.ok(m.expectsReply);
  assert.is(m.text(), '{"op":"add","args":[2,3]}');
  const { args } = m.json() as { args: number[] };
  b.replyJSON(m, { sum: args[0] + args[1], at: [null, true, 'ü'] });
  m.free();
  assert.equal(await p, { sum: 5, at: [null, true, 'ü'] });
  assert.is(a.pendingCalls, 0);
  assert.is(a.stats().poolUsed, 0, 'the reply freed');
  const q = a.callText(b.id, 'héllo');
  const n = b.recv()!;
  assert.is(n.text(), 'héllo');
  b.replyText(n, 'wörld');
  n.free();
  assert.is(await q, 'wörld');
  assert.is(a.stats().poolUsed, 0, 'the reply freed');
  // a JSON value that is not an object, and an empty reply to callText
  const r = a.callJSON(b.id, 'just a string');
  const o = b.recv()!;
  assert.is(o.json(), 'just a string');
  b.replyJSON(o, 42);
  o.free();
  assert.is(await r, 42);
  const s = a.callText(b.id, '');
  const e = b.recv()!;
  assert.is(e.payload.byteLength, 0);
  b.reply(e, null);
  e.free();
  assert.is(await s, '');
});

t('callJSON: a reply that is not JSON rejects with EBADMSG naming the rule, the reply freed', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = a.callJSON(b.id, [1]);
  const m = b.recv()!;
  b.replyText(m, '{not json');
  m.free();
  const err = await failure(p);
  assert.instance(err, BusError);
  assert.is(err.code, 'EBADMSG');
  assert.match(err.message, /^callJSON: EBADMSG: the reply is not JSON: /);
  assert.instance(err.cause, SyntaxError);
  assert.is(a.stats().poolUsed, 0, 'the reply freed');
  assert.is(a.pendingCalls, 0);
  assert.is(a.recv(), null, 'nothing handed to the user');
});

t('callJSON: a value with no JSON form is EINVAL, JSON.stringify\'s own errors reject as they are; nothing sent', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (const v of [undefined, () => 1, Symbol('s')]) {
    const err = await failure(a.callJSON(b.id, v));
    assert.is(err.code, 'EINVAL');
    assert.is(err.message, 'callJSON: EINVAL: the value has no JSON form');
  }
  const cyc: Record<string, unknown> = {}; cyc.self = cyc;
  assert.instance(await failure(a.callJSON(b.id, cyc)), TypeError);
  assert.instance(await failure(a.callJSON(b.id, 1n)), TypeError);
  const bad = (await failure(a.callText(b.id, 5 as unknown as string)));
  assert.is(bad.message, 'callText: EINVAL: text must be a string, got number');
  assert.is(b.recv(), null, 'nothing sent');
  assert.is(a.pendingCalls, 0);
});

t('callText / callJSON: call()\'s failures told as their own op (options, ESRCH, ETIMEDOUT, EPIPE, ECANCELED, a closed connection)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  let err = await failure(a.callJSON(b.id, 1, { timeout: -1 }));
  assert.is(err.code, 'EINVAL');
  assert.match(err.message, /^callJSON: EINVAL: timeout/);
  err = await failure(a.callText(b.id, 'x', { bogus: 1 } as object));
  assert.is(err.code, 'EINVAL');
  assert.match(err.message, /^callText: EINVAL: /);
  err = await failure(a.callJSON('org.nobody.Here', 1));
  assert.is(err.code, 'ESRCH');
  assert.match(err.message, /^callJSON: ESRCH: /);
  assert.ok(err.reason !== 0, 'the reason kept');
  err = await failure(a.callText(b.id, 'late', { timeout: 0.02 }));
  assert.is(err.code, 'ETIMEDOUT');
  assert.match(err.message, /^callText: ETIMEDOUT: /);
  b.recv()!.free();
  const ac = new AbortController();
  const c = a.callJSON(b.id, 2, { signal: ac.signal });
  ac.abort(new Error('no longer needed'));
  err = await failure(c);
  assert.is(err.code, 'ECANCELED');
  assert.match(err.message, /^callJSON: ECANCELED/);
  assert.is((err.cause as Error).message, 'no longer needed', 'the signal\'s reason kept');
  b.recv()!.free();
  const d = a.callJSON(b.id, 3);
  b.recv()!.free();
  b.close();
  err = await failure(d);
  assert.is(err.code, 'EPIPE');
  assert.match(err.message, /^callJSON: EPIPE/);
  a.close();
  let ran = false;
  err = await failure(a.callJSON(b.id, { toJSON() { ran = true; return 1; } }));
  assert.is(err.code, 'ECONNRESET');
  assert.match(err.message, /^callJSON: ECONNRESET/);
  assert.not.ok(ran, 'the value\'s toJSON not run on a closed connection');
  err = await failure(a.callText(b.id, 'x'));
  assert.is(err.code, 'ECONNRESET');
  assert.match(err.message, /^callText: ECONNRESET/);
});

t('replyAsyncJSON / replyAsyncText: the reply waits for room in the caller\'s pool, then goes; their own checks', async ({ bus }) => {
  // the caller's pool filled by another sender's messages, so that the reply finds no room
  const a = bus.connect({ poolSize: 8192 }), b = bus.connect(), f = bus.connect();
  const p = a.callJSON(b.id, { q: 1 });
  const m = b.recv()!;
  const filler: number[] = [];
  for (const size of [1024, 128, 16, 0]) for (;;) { try { f.send(a.id, new Uint8Array(size)); filler.push(size); } catch { break; } }
  assert.ok(filler.length > 0);
  assert.throws(() => b.replyJSON(m, { a: 1 }), (e: BusError) => e.code === 'ENOBUFS' || e.code === 'EXFULL', 'no room for the reply now');
  const r = b.replyAsyncJSON(m, { a: 1 }, { timeout: 5000 });
  await null;
  // the caller takes the filler (its user receives), which makes room: the reply goes and the call resolves
  for (let x; (x = a.recv()) !== null;) x.free();
  assert.type(await r, 'number');
  m.free();
  assert.equal(await p, { a: 1 });
  // replyAsyncText
  const q = a.callText(b.id, 'q');
  const n = b.recv()!;
  await b.replyAsyncText(n, 'answer');
  n.free();
  assert.is(await q, 'answer');
  // their own checks: a text that is not a string, a value with no JSON form; nothing sent
  const w = a.callJSON(b.id, 0, { timeout: 0.02 });
  const o = b.recv()!;
  let err = await failure(b.replyAsyncText(o, 1 as unknown as string));
  assert.is(err.message, 'replyAsyncText: EINVAL: text must be a string, got number');
  err = await failure(b.replyAsyncJSON(o, undefined));
  assert.is(err.message, 'replyAsyncJSON: EINVAL: the value has no JSON form');
  assert.is((await failure(w)).code, 'ETIMEDOUT');
  err = await failure(b.replyAsyncJSON(o, 1));
  assert.is(err.code, 'EBADSLT', 'the call timed out meanwhile: as replyAsync says');
  o.free();
});

t('replyJSON / replyAsyncJSON on a closed connection: ECONNRESET before the value\'s toJSON runs', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = a.call(b.id, null, { timeout: 0.02 });
  const m = b.recv()!;
  m.keep();
  b.close();
  let ran = 0;
  const v = { toJSON() { ran++; return 1; } };
  assert.throws(() => b.replyJSON(m, v), (e: BusError) => e.code === 'ECONNRESET' && e.message.startsWith('replyJSON: '));
  const err = await failure(b.replyAsyncJSON(m, v));
  assert.is(err.code, 'ECONNRESET');
  assert.match(err.message, /^replyAsyncJSON: ECONNRESET/);
  assert.is(ran, 0, 'toJSON not run');
  assert.is((await failure(p)).code, 'EPIPE');
});

t('replyText / replyJSON / replyAsyncText / replyAsyncJSON name themselves in every error: EBADSLT, ENXIO, options, a freed call, no room (stop 49)', async ({ bus }) => {
  // (they said reply / replyAsync for all but their own checks: an outside audit)
  const a = bus.connect(), b = bus.connect();
  const sync = (f: () => unknown): BusError => { try { f(); } catch (e) { return e as BusError; } throw new Error('no error'); };
  // EBADSLT: the call timed out meanwhile
  const w = a.call(b.id, null, { timeout: 0.02 });
  const o = b.recv()!;
  assert.is((await failure(w)).code, 'ETIMEDOUT');
  assert.match(sync(() => b.replyText(o, 'x')).message, /^replyText: EBADSLT: /);
  assert.match(sync(() => b.replyJSON(o, 1)).message, /^replyJSON: EBADSLT: /);
  assert.match((await failure(b.replyAsyncText(o, 'x'))).message, /^replyAsyncText: EBADSLT: /);
  assert.match((await failure(b.replyAsyncJSON(o, 1))).message, /^replyAsyncJSON: EBADSLT: /);
  // options
  assert.match(sync(() => b.replyText(o, 'x', { bogus: 1 } as never)).message, /^replyText: EINVAL: unknown option "bogus"/);
  assert.match((await failure(b.replyAsyncJSON(o, 1, { timeout: -1 }))).message, /^replyAsyncJSON: EINVAL: timeout/);
  // a freed call
  o.free();
  assert.match(sync(() => b.replyJSON(o, 1)).message, /^replyJSON: ENXIO: /);
  assert.match((await failure(b.replyAsyncText(o, 'x'))).message, /^replyAsyncText: ENXIO: /);
  // ENXIO: the caller is gone
  const c = bus.connect();
  void c.call(b.id, null, { timeout: 5000 }).catch(() => {});
  const m = b.recv()!;
  c.close();
  assert.match(sync(() => b.replyText(m, 'x')).message, /^replyText: ENXIO: /);
  assert.match((await failure(b.replyAsyncJSON(m, 1))).message, /^replyAsyncJSON: ENXIO: /);
  m.free();
  assert.is(b.poolUsed, 0);
});

t.run();
