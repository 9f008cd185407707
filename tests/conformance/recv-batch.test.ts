// RECV_BATCH (wasmbus): the slices handed over since the last batch freed, then up to n queued
// messages received, under one hold of the lock. Through the ABI: what lands in the entries
// (the same offsets and sizes as RECVs one by one), the frees, the rules (each EINVAL,
// nothing changed), a bad offset among the frees, the dropped count, a shutdown. Through the
// API: conn.listen receives with it, and a listener that stops in the middle of a batch leaves
// the rest to the next receives (recv, drop, close's EBUSY).
import * as assert from 'uvu/assert';
import { Bus, BusError, abi as A } from '../../js/index.ts';
import { RECV_BATCH_MAX } from '../../js/connection.ts';
import { busSuite, open, ENGINE } from '../helpers/harness.ts';
import { vec } from '../helpers/raw.ts';
import type { Raw } from '../helpers/raw.ts';

const t = busSuite('RECV_BATCH');

/** RECV_BATCH with `n` entries, freeing `free` first: the result, the entries taken, free_count after */
function recvBatch(raw: Raw, c: { slot: number; gen: number }, n: number, free: number[] = [], o: { flags?: number; size?: number; freeCount?: number; takenBefore?: number } = {}) {
  const e = raw.e, cmd = raw.cmd, u32 = e.u32;
  e.u8.fill(0, cmd, cmd + A.RECV_BATCH_ENTRIES + 8 * n);
  u32[(cmd + A.CMD_SIZE) >>> 2] = o.size ?? A.RECV_BATCH_ENTRIES + 8 * n;
  u32[(cmd + A.CMD_FLAGS) >>> 2] = o.flags ?? A.RECV_BATCH;
  u32[(cmd + A.RECV_BATCH_FREE) >>> 2] = o.freeCount ?? free.length;
  u32[(cmd + A.RECV_BATCH_TAKEN) >>> 2] = o.takenBefore ?? 0;
  free.forEach((off, i) => { u32[(cmd + A.RECV_BATCH_ENTRIES + 8 * i) >>> 2] = off; });
  const r = e.recv(c.slot, c.gen);
  const taken = u32[(cmd + A.RECV_BATCH_TAKEN) >>> 2];
  const entries = Array.from({ length: r === 0 ? taken : 0 }, (_, i) => [u32[(cmd + A.RECV_BATCH_ENTRIES + 8 * i) >>> 2], u32[(cmd + A.RECV_BATCH_ENTRIES + 8 * i + 4) >>> 2]]);
  return { r, taken, entries, freed: u32[(cmd + A.RECV_BATCH_FREE) >>> 2], offset: raw.r64(cmd + A.RECV_MSG_OFFSET), size: raw.r64(cmd + A.RECV_MSG_SIZE), dropped: raw.r64(cmd + A.RECV_DROPPED_MSGS) };
}
const reason = (raw: Raw) => raw.e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2];
const cookieAt = (raw: Raw, c: { slot: number }, off: number) => raw.r64(raw.slice(c.slot, off) + A.MSG_COOKIE);

t('up to n messages taken in queue order, as RECVs one by one would report them; the next batch frees them first', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  const src = e.cmd + 8192;
  for (let i = 1; i <= 5; i++) assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: i }, items: [vec(i * 8, src)] }), 0);
  const one = recvBatch(raw, b, 3);
  assert.is(one.r, 0);
  assert.is(one.taken, 3);
  assert.equal(one.entries.map(([off]) => cookieAt(raw, b, off)), [1, 2, 3]);
  assert.equal([one.offset, one.size], one.entries[0], 'the first also in msg.offset / msg_size');
  for (const [off, size] of one.entries) assert.is(size, raw.r64(raw.slice(b.slot, off) + A.MSG_SIZE));
  const used = e.poolUsed(b.slot);
  const two = recvBatch(raw, b, 3, one.entries.map(([off]) => off));
  assert.is(two.r, 0);
  assert.equal(two.entries.map(([off]) => cookieAt(raw, b, off)), [4, 5]);
  assert.ok(e.poolUsed(b.slot) < used, 'the first three freed');
  // an empty queue: EAGAIN, the frees done all the same
  const three = recvBatch(raw, b, 3, two.entries.map(([off]) => off));
  assert.is(three.r, -A.EAGAIN);
  assert.is(reason(raw), A.R_RECV_EMPTY);
  assert.is(three.taken, 0);
  assert.is(e.poolUsed(b.slot), 0, 'all freed');
  // the same five through plain RECVs land at the same offsets (the pool is empty again)
  for (let i = 1; i <= 5; i++) assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: i }, items: [vec(i * 8, src)] }), 0);
  const plain = Array.from({ length: 5 }, () => { const m = raw.recv(b.slot, b.gen); return [m.offset, m.size]; });
  assert.equal(plain.slice(0, 3), one.entries);
  for (const [off] of plain) assert.is(raw.free(b.slot, b.gen, off), 0);
});

t('the rules: other flags, a size that is not 72 + 8n (n >= 1), free_count over n: EINVAL, nothing changed', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(8, e.cmd + 8192)] }), 0);
  for (const [what, n, o, why] of [
    ['with PEEK', 2, { flags: A.RECV_BATCH | A.RECV_PEEK }, A.R_RECV_BATCH_FLAGS],
    ['with DROP', 2, { flags: A.RECV_BATCH | A.RECV_DROP }, A.R_RECV_BATCH_FLAGS],
    ['with REPLY', 2, { flags: A.RECV_BATCH | A.RECV_REPLY }, A.R_RECV_BATCH_FLAGS],
    ['no entries', 0, { size: A.RECV_BATCH_ENTRIES }, A.R_RECV_BATCH_SIZE],
    ['half an entry', 1, { size: A.RECV_BATCH_ENTRIES + 12 }, A.R_RECV_BATCH_SIZE],
    ['free_count over n', 2, { freeCount: 3 }, A.R_RECV_BATCH_FREE],
  ] as const) {
    const x = recvBatch(raw, b, n, [], { takenBefore: 0xabab, ...o });
    assert.is(x.r, -A.EINVAL, what);
    assert.is(reason(raw), why, `${what}: its reason`);
    assert.is(e.queued(b.slot), 1, `${what}: still queued`);
    // (API.md: the batch's own checks leave free_count and taken as they were; RECV's outputs are set)
    assert.is(x.taken, 0xabab, `${what}: taken as it was`);
    assert.is(x.freed, 'freeCount' in o ? o.freeCount : 0, `${what}: free_count as it was`);
    assert.is(x.offset, raw.e.u32[(raw.e.connAddr(b.slot) + A.CONN_POOL_SIZE) >>> 2], `${what}: msg.offset = pool_size`);
  }
  // a plain RECV is still exactly 64 bytes
  assert.is(raw.recv(b.slot, b.gen, 0, 0, A.RECV_CMD_SIZE + 8).r, -A.EINVAL);
  const m = raw.recv(b.slot, b.gen);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
});

t('a free offset that is not a published slice: ENXIO, the ones before it freed (free_count says how many), nothing received', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  for (let i = 0; i < 3; i++) assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: i + 1 }, items: [vec(8, e.cmd + 8192)] }), 0);
  const one = recvBatch(raw, b, 2);
  assert.is(one.taken, 2);
  const [o1, o2] = one.entries.map(([off]) => off);
  const x = recvBatch(raw, b, 4, [o1, o1 + 8, o2]);
  assert.is(x.r, -A.ENXIO);
  assert.is(reason(raw), A.R_FREE_OFFSET);
  assert.is(x.freed, 1, 'the first was freed');
  assert.is(e.queued(b.slot), 1, 'nothing received');
  assert.is(raw.free(b.slot, b.gen, o1), -A.ENXIO, 'o1 is free already');
  const y = recvBatch(raw, b, 4, [o2]);
  assert.is(y.r, 0);
  assert.equal(y.entries.map(([off]) => cookieAt(raw, b, off)), [3]);
  assert.is(raw.free(b.slot, b.gen, y.offset), 0);
});

t('the dropped count is reported once, with the batch', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [vec(8, e.cmd + 8192)] }), 0);
  // the count of messages lost to a contended lock (an atomic counter the core drains at each RECV)
  Atomics.add(e.u32, (e.connAddr(b.slot) + A.CONN_KMSG_LOST) >>> 2, 2);
  const x = recvBatch(raw, b, 4);
  assert.is(x.r, 0);
  assert.is(x.dropped, 2);
  assert.is(raw.r64(raw.cmd + A.CMD_RETURN_FLAGS), A.RECV_RETURN_DROPPED_MSGS);
  const y = recvBatch(raw, b, 4, [x.offset]);
  assert.is(y.r, -A.EAGAIN);
  assert.is(y.dropped, 0, 'once');
});

t('after a shutdown: the frees done, the receive refused (ESHUTDOWN)', async ({ bus, raw, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const a = bus.connect(), b = j.connect();
  a.sendText(b.id, 'one'); a.sendText(b.id, 'two');
  const jr = new (raw.constructor as typeof Raw)(j.engine);
  const x = recvBatch(jr, b, 1);
  assert.is(x.r, 0);
  bus.shutdown();
  const y = recvBatch(jr, b, 1, [x.offset]);
  assert.is(y.r, -A.ESHUTDOWN);
  assert.is(b.stats().published, 0, 'freed');
  assert.is(b.stats().queued, 1, 'not received');
  b.close();
  j.close();
});

t('conn.listen: a listener stopped in the middle of a batch leaves the rest to the next receives, in order; close() says EBUSY until they are taken', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const n = 10;
  assert.ok(n < RECV_BATCH_MAX);
  for (let i = 0; i < n; i++) a.sendText(b.id, `m${i}`);
  const seen: string[] = [];
  let held: import('../../js/index.ts').Message | null = null;
  const l = b.listen((m) => { seen.push(m.text()); if (seen.length === 3) { held = m; l.stop(); } });
  await l.done;
  assert.equal(seen, ['m0', 'm1', 'm2']);
  assert.throws(() => held!.text(), (e: BusError) => e.code === 'ENXIO', 'a handed-over message reads as freed once its handler returned');
  assert.is(b.queued, n - 3, 'the rest count as queued');
  assert.is(b.stats().queued, 0, "the core's queue is empty: they were taken");
  assert.is(b.stats().published, n - 3, 'their slices are published (taken), the three handed over freed');
  assert.throws(() => b.close(), (e: BusError) => e.code === 'EBUSY' && /taken by a batched receive \(a listener's, an iterator's\)/.test(e.message));
  assert.ok(!b.closed);
  // a peek hands the first of them out and leaves it first (stop 65: it took it, and the
  // peek's free() lost it: an outside reading); a priority does not pass them by
  const m3 = b.recv({ peek: true })!;
  assert.is(m3.text(), 'm3', 'returned first');
  m3.free();
  assert.is(b.queued, n - 3, 'the peek left it');
  const again = b.recv({ peek: true, priority: -5 })!;
  assert.is(again.text(), 'm3', 'the same one, whatever the priority');
  const m3r = b.recv()!;
  assert.is(m3r.text(), 'm3', 'then received');
  m3r.free();
  assert.ok(again.freedAlready, 'the peek\'s Message of the slice reads as freed');
  assert.throws(() => again.free(), (e: BusError) => e.code === 'ENXIO');
  assert.is(b.queued, n - 4);
  assert.ok(b.drop(), 'drop() takes the next of them');
  const rest: string[] = [];
  for (let m; (m = b.recv());) { rest.push(m.text()); m.free(); }
  assert.equal(rest, ['m5', 'm6', 'm7', 'm8', 'm9']);
  // a listener started again takes the leftovers first, then the queue
  for (let i = 0; i < 4; i++) a.sendText(b.id, `n${i}`);
  const l2 = b.listen((m) => { seen.push(m.text()); if (m.text() === 'n1') l2.stop(); });
  await l2.done;
  const l3 = b.listen((m) => { seen.push(m.text()); if (m.text() === 'n3') l3.stop(); });
  await l3.done;
  assert.equal(seen.slice(3), ['n0', 'n1', 'n2', 'n3']);
  assert.is(b.poolUsed, 0);
});

t('conn.listen: a receive, drop() or close() from inside a handler sees the rest of the batch first, in order (as with one message per receive)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 12; i++) a.sendText(b.id, `m${i}`);
  const seen: string[] = [];
  let closeErr: BusError | null = null, queuedIn = -1;
  const l = b.listen((m) => {
    seen.push(`L${m.text()}`);
    if (m.text() === 'm2') { const r = b.recv()!; seen.push(`R${r.text()}`); r.free(); }
    if (m.text() === 'm4') { assert.ok(b.drop()); seen.push('D'); }
    if (m.text() === 'm6') { queuedIn = b.queued; try { b.close(); } catch (err) { closeErr = err as BusError; } }
    if (m.text() === 'm8') l.stop();
  });
  await l.done;
  assert.equal(seen, ['Lm0', 'Lm1', 'Lm2', 'Rm3', 'Lm4', 'D', 'Lm6', 'Lm7', 'Lm8']);
  assert.is(queuedIn, 5, 'inside the handler of m6: m7 to m11 are still to come');
  assert.ok(closeErr !== null && (closeErr as BusError).code === 'EBUSY', 'close() in a handler says EBUSY while the batch has messages to hand over');
  const rest: string[] = [];
  for (let m; (m = b.recv());) { rest.push(m.text()); m.free(); }
  assert.equal(rest, ['m9', 'm10', 'm11']);
});

t("conn.listen: a call's reply among a batch goes to the call, also when the listener stops before it", async ({ bus }) => {
  const svc = bus.connect(), c = bus.connect();
  svc.sendMany(c.id, [new Uint8Array([0]), new Uint8Array([1])]);
  const seen: number[] = [];
  // (the listener first: its first turn comes after the call below was made and answered)
  const l = c.listen((m) => { seen.push(m.payload[0]); if (m.payload[0] === 1) l.stop(); });
  const p = c.call(svc.id, new Uint8Array([99]), { timeout: 5000 });
  const q = svc.recv()!;
  svc.reply(q, new Uint8Array([0xee]));
  q.free();
  await l.done;
  const reply = await p;
  assert.is(reply.payload[0], 0xee);
  reply.free();
  assert.equal(seen, [0, 1]);
  assert.is(c.queued, 0);
  assert.is(c.recv(), null, 'the reply is not left to recv()');
});

t('conn.listen: a thread recovered while its handler runs gets no more of its batch (ECONNRESET), nor the pool of the connection that takes its slot', async ({ bus, mock }) => {
  // (outside audit, stop 18: a handler that blocked while another thread recovered it handed
  // over 31 more messages, read from the replacement connection's pool)
  const h = bus.handle();
  const j = await Bus.join(h, { provider: mock, engine: ENGINE });
  const a = bus.connect(), c = j.connect();
  for (let i = 0; i < 20; i++) a.sendText(c.id, `m${i}`);
  const seen: string[] = [];
  let replacement: import('../../js/index.ts').Connection | null = null;
  const l = c.listen((m) => {
    seen.push(m.text());
    if (seen.length === 1) {
      // declared dead meanwhile: its connection closed, its slot taken by a new connection with messages of its own
      bus.recoverThread(h.token, { stopped: true });
      for (let k = 0; k < 8 && (replacement === null || replacement.slot !== c.slot); k++) {
        const x = bus.connect();
        if (x.slot === c.slot) replacement = x; else x.close();
      }
      if (replacement) for (let i = 0; i < 5; i++) a.sendText(replacement.id, `new${i}`);
    }
  });
  const err = await l.done.then(() => null, (e: BusError) => e);
  assert.equal(seen, ['m0'], 'nothing more of the batch after the recovery');
  assert.ok(err !== null && err.code === 'ECONNRESET', `done rejects with ECONNRESET (${err?.message})`);
  assert.match(err!.message, /^listen: ECONNRESET: this thread was recovered/, 'op listen, as API.md says of its waits (op engine before stop 28: an outside audit)');
  if (replacement) {
    const got: string[] = [];
    for (let m; (m = (replacement as import('../../js/index.ts').Connection).recv());) { got.push(m.text()); m.free(); }
    assert.equal(got, ['new0', 'new1', 'new2', 'new3', 'new4'], "the new connection's messages untouched");
    (replacement as import('../../js/index.ts').Connection).close();
  }
  c.close(); // (a recovered thread closes what it had without an error)
  j.close();
  assert.equal(bus.check(), []);
});

t('conn.listen: a thread recovered while its listener is parked: done rejects with ECONNRESET, op listen', async ({ bus, mock }) => {
  // (outside audit, stop 28: "engine: ECONNRESET", where API.md says its waits' failures are op listen's)
  const h = bus.handle();
  const j = await Bus.join(h, { provider: mock, engine: ENGINE });
  const c = j.connect();
  const seen: string[] = [];
  const l = c.listen((m) => { seen.push(m.text()); });
  await new Promise((r) => setTimeout(r, 5)); // (parked)
  assert.ok(bus.recoverThread(h.token, { stopped: true }) >= 0);
  const err = await Promise.race([l.done.then(() => null, (e: BusError) => e), new Promise<'hang'>((r) => setTimeout(() => r('hang'), 5000))]);
  assert.ok(err !== 'hang', 'done settles once the thread is recovered');
  assert.ok(err !== null && err.code === 'ECONNRESET', `done rejects with ECONNRESET (${err?.message})`);
  assert.match(err!.message, /^listen: ECONNRESET: this thread was recovered/);
  assert.equal(seen, []);
  c.close(); // (a recovered thread closes what it had without an error)
  j.close();
  assert.equal(bus.check(), []);
});

t('conn.listen: a handled message whose slice the user freed through a peeked Message of it: the listener skips that free, frees the others, and goes on', async ({ bus }) => {
  // (outside audit, stop 18: the batch's free failed with ENXIO, the listener died and the slices after it stayed published)
  const a = bus.connect(), b = bus.connect();
  a.sendMany(b.id, [1, 2, 3, 4].map((i) => new Uint8Array([i])));
  const m0 = b.recv({ peek: true })!;
  const seen: number[] = [];
  // (once m0 is freed, m, the same slice, reads as freed too: its byte is read first)
  const l = b.listen((m) => { const v = m.payload[0]; seen.push(v); if (v === 1) m0.free(); if (v === 4) l.stop(); });
  await l.done;
  assert.equal(seen, [1, 2, 3, 4]);
  assert.is(b.stats().published, 0, 'every slice freed');
  assert.is(b.poolUsed, 0);
});

t('a slice handed out twice (a peek, then a receive) and freed through one of its Messages: the other reads as freed, and its free frees nothing else, also after the block was reused (recv, for await)', async ({ bus }) => {
  // (outside audit, stop 19: the other Message's free, or the iterator's deferred one, freed
  // the block's next occupant: q read the message after it)
  const a = bus.connect(), b = bus.connect({ poolSize: 4096 });
  // recv
  a.send(b.id, new Uint8Array([1]));
  const p = b.recv({ peek: true })!, m1 = b.recv()!;
  assert.is(p.offset, m1.offset, 'one slice, two Messages');
  p.free();
  assert.ok(m1.freedAlready, 'the other reads as freed');
  assert.throws(() => m1.payload, (e: BusError) => e.code === 'ENXIO');
  a.send(b.id, new Uint8Array([2]));
  const q = b.recv()!;
  assert.is(q.offset, m1.offset, 'the block reused');
  assert.throws(() => m1.free(), (e: BusError) => e.code === 'ENXIO');
  assert.equal([...q.payload], [2], "q's own bytes");
  q.free();
  // for await: the iterator's deferred free of its Message skips a slice freed through a peek
  a.send(b.id, new Uint8Array([3]));
  const p2 = b.recv({ peek: true })!;
  const it = b[Symbol.asyncIterator]();
  const m3 = (await it.next()).value as import('../../js/index.ts').Message;
  assert.is(m3.offset, p2.offset);
  p2.free();
  a.send(b.id, new Uint8Array([4]));
  const q2 = b.recv()!;
  const step = it.next();
  a.send(b.id, new Uint8Array([5]));
  const m5 = (await step).value as import('../../js/index.ts').Message;
  assert.equal([...m5.payload], [5]);
  assert.equal([...q2.payload], [4], "q2's own bytes, after the iterator's batch free");
  await it.return!();
  q2.free();
  assert.is(b.poolUsed, 0);
});

t('a message peeked by priority (not the head), then taken by a batch, the peek freed before the batch hands it over: the free lets go of the peek only, and the batch hands the message over once (for await, listen)', async ({ bus }) => {
  // (stop 19 made the batch skip it, its slice freed through the peek; a peek lost it so. Since
  // stop 63 a peek's free leaves a slice that a batch holds: an outside reading)
  const enc = (x: string) => new TextEncoder().encode(x);
  for (const how of ['iterate', 'listen'] as const) {
    const a = bus.connect(), b = bus.connect();
    a.send(b.id, enc('A'), { priority: 5 });
    a.send(b.id, enc('B'), { priority: -1 });
    const P = b.recv({ peek: true, priority: 0 })!;
    assert.is(P.text(), 'B');
    const seen: string[] = [];
    const onFirst = () => {
      P.free();
      assert.ok(P.freedAlready, 'the peek reads as freed');
      assert.throws(() => P.text(), (e: BusError) => e.code === 'ENXIO');
      a.send(b.id, enc('N'));
    };
    if (how === 'iterate') {
      const it = b.messages({ timeout: 200 });
      for (;;) {
        let r: IteratorResult<import('../../js/index.ts').Message>;
        try { r = await it.next(); } catch (e) { assert.is((e as BusError).code, 'ETIMEDOUT'); break; }
        seen.push(r.value.text());
        if (seen.length === 1) onFirst();
      }
    } else {
      const l = b.listen((m) => { seen.push(m.text()); if (seen.length === 1) onFirst(); if (m.text() === 'N') l.stop(); });
      await l.done;
    }
    assert.equal(seen, ['A', 'B', 'N'], `${how}: each message once, B too`);
    assert.is(b.poolUsed, 0, `${how}: nothing held`);
    assert.is(b.queued, 0);
    assert.equal(bus.check(), []);
    a.close(); b.close();
  }
});

t('conn.listen: close({ drop: true }) takes a stopped listener\'s leftovers with it', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 5; i++) a.sendText(b.id, `m${i}`);
  const l = b.listen(() => { l.stop(); });
  await l.done;
  assert.is(b.queued, 4);
  b.close({ drop: true });
  assert.ok(b.closed);
});

t.run();

// a trap (a core bug; here fault injection) in the middle of a batch undoes only the step it
// hit: free_count and taken say what was done before it
const h = busSuite('RECV_BATCH, trapped', { hooks: true });

h('a trap part way: free_count counts the frees that committed, taken the messages received', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  const src = e.cmd + 8192;
  let partial = 0;
  for (let n = 1; n < 400; n++) {
    for (let i = 0; i < 6; i++) assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: i + 1 }, items: [vec(8, src)] }), 0);
    const first = recvBatch(raw, b, 3);
    assert.is(first.taken, 3);
    const held = first.entries.map(([off]) => off);
    e.setFault(n);
    let trapped = false;
    try { recvBatch(raw, b, 4, held); } catch { trapped = true; }
    e.setFault(0);
    const u32 = e.u32, cmd = raw.cmd;
    const freed = u32[(cmd + A.RECV_BATCH_FREE) >>> 2], taken = u32[(cmd + A.RECV_BATCH_TAKEN) >>> 2];
    assert.ok(freed <= 3 && taken <= 4);
    assert.is(e.queued(b.slot), 3 - taken, `step ${n}: taken says what left the queue`);
    // the slices still published: the held ones not freed, and those taken
    const published = [...held.slice(freed), ...Array.from({ length: taken }, (_, k) => u32[(cmd + A.RECV_BATCH_ENTRIES + 8 * k) >>> 2])];
    for (const off of held.slice(0, freed)) assert.is(raw.free(b.slot, b.gen, off), -A.ENXIO, `step ${n}: freed`);
    for (const off of published) assert.is(raw.free(b.slot, b.gen, off), 0, `step ${n}: still published`);
    for (let m; (m = raw.recv(b.slot, b.gen)).r === 0;) assert.is(raw.free(b.slot, b.gen, m.offset), 0);
    assert.is(e.poolUsed(b.slot), 0);
    if (trapped && (freed > 0 || taken > 0)) partial++;
    if (!trapped) break;
  }
  assert.ok(partial >= 3, `traps after some steps committed: ${partial}`);
});

h.run();
