// Differential, calls: seeded random calls, replies, user messages, RECV_REPLY (a call's own
// receive), RECV, RECV_DROP, FREE and BYEBYE (with and without BYEBYE_DROP) among a few connections, through the wasm core and the TS
// twin, each on its own bus; after every command the results and every byte of bus state must
// agree, and what the test knows must hold (a RECV_REPLY takes only the reply of its call, a
// call ends exactly once). Deadlines come from the MockProvider's stepping clock (1 µs per
// read, the same on both): some are due within a few commands (REPLY_TIMEOUT), some never.
// WASMBUS_SEEDS / WASMBUS_STEPS choose the seeds and the commands per seed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { hostVec, type Raw } from '../helpers/raw.ts';
import { checkReplies } from '../helpers/check.ts';
import { prng, seedsFromEnv, stepsFromEnv, enginePair, endClean, exercised } from '../helpers/diffkit.ts';

const LIMITS = { threads: 2, connections: 4, poolMax: 16384, names: 4, matches: 4, replies: 8 };
const N = 4; // connections
const FAR = 1n << 62n;

interface Call { caller: number; callee: number; cookie: number; ended: boolean; /** the callee's id when called (a reopened slot has a new one) */ calleeId: number }

async function run(seed: number, steps: number): Promise<Record<string, number>> {
  // the reply table's lists (each caller's calls, the free list) checked after every command
  const { raws, both } = await enginePair(LIMITS, (e, label) => assert.equal(checkReplies(e), [], `${label}: reply table consistent`));
  const rnd = prng(seed);
  const counts: Record<string, number> = {};
  const conns: { r: number; slot: number; gen: number; id: number; offset: number }[] = [];
  for (let i = 0; i < N; i++) {
    const h = both(`hello ${i}`, (raw) => { const h = raw.hello({ poolSize: 4096 }); return { r: h.r, slot: h.slot, gen: h.gen, id: h.id, offset: h.offset }; });
    assert.ok(h.r >= 0);
    both(`free hello ${i}`, (raw) => raw.free(h.slot, h.gen, h.offset));
    conns.push(h);
  }
  const calls: Call[] = [];
  let cookie = 1;
  /** read a received message (its source, cookie, cookie_reply, first item type) and free it */
  const take = (raw: Raw, c: typeof conns[number], m: { r: number; offset: number }) => {
    if (m.r !== 0) return { r: m.r };
    const s = raw.slice(c.slot, m.offset);
    const out = { r: 0, src: raw.r64(s + A.MSG_SRC_ID), flags: raw.r64(s + A.MSG_FLAGS), cookie: raw.r64(s + A.MSG_COOKIE),
      cookieReply: raw.r64(s + A.MSG_TIMEOUT), item: raw.r64(s + A.MSG_HDR + A.ITEM_TYPE) };
    assert.is(raw.free(c.slot, c.gen, m.offset), 0);
    return out;
  };
  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['call', 'call', 'reply', 'reply', 'user', 'recvReply', 'recvReply', 'recvReply', 'recvAny', 'recvFirst', 'recv', 'drop', 'reopen']);
    const label = `seed ${seed} step ${step} ${op}`;
    counts[op] = (counts[op] ?? 0) + 1;
    const a = rnd.int(N), b = rnd.int(N);
    if (op === 'call') {
      const k = cookie++;
      // a far deadline, or one a few clock reads away (the stepping clock: 1 µs per read)
      const deadline = rnd.int(3) === 0 ? FAR : BigInt(rnd.int(40) * 1000);
      const r = both(label, (raw) => raw.send(conns[a].slot, conns[a].gen, {
        msg: { dst: conns[b].id, cookie: k, flags: A.MSG_EXPECT_REPLY, timeout: deadline === FAR ? FAR : deadline + BigInt(raw.e.monotonicNs()) }, items: [hostVec(8)] }));
      if (r === 0) calls.push({ caller: a, callee: b, cookie: k, ended: false, calleeId: conns[b].id });
      else counts[`call ${r}`] = (counts[`call ${r}`] ?? 0) + 1;
    } else if (op === 'reply' && calls.length > 0) {
      const c = calls[rnd.int(calls.length)];
      const k = cookie++;
      const r = both(label, (raw) => raw.send(conns[c.callee].slot, conns[c.callee].gen, { msg: { dst: conns[c.caller].id, cookie: k, timeout: c.cookie }, items: [hostVec(4)] }));
      counts[`reply ${r}`] = (counts[`reply ${r}`] ?? 0) + 1;
    } else if (op === 'user') {
      const k = cookie++, size = rnd.int(64) + 1;
      both(label, (raw) => raw.send(conns[a].slot, conns[a].gen, { msg: { dst: conns[b].id, cookie: k }, items: [hostVec(size)] }));
    } else if (op === 'recvReply' && calls.length > 0) {
      const c = calls[rnd.int(calls.length)];
      const x = conns[c.caller];
      const got = both(label, (raw) => take(raw, x, raw.recv(x.slot, x.gen, A.RECV_REPLY, c.cookie))) as ReturnType<typeof take> & { src: number; flags: number; cookieReply: number; item: number };
      if (got.r === 0) {
        // only its call's end: a reply from its callee, or the bus's REPLY_TIMEOUT / REPLY_DEAD
        assert.is(got.cookieReply, c.cookie, `${label}: RECV_REPLY took the end of call ${c.cookie}`);
        assert.is(got.flags & A.MSG_EXPECT_REPLY, 0);
        assert.ok(got.src === c.calleeId || (got.src === 0 && (got.item === A.ITEM_REPLY_TIMEOUT || got.item === A.ITEM_REPLY_DEAD)), `${label}: from its callee or the bus`);
        assert.not.ok(c.ended, `${label}: call ${c.cookie} ended twice`);
        c.ended = true;
        counts.replyTaken = (counts.replyTaken ?? 0) + 1;
      } else assert.is(got.r, -A.EAGAIN);
    } else if (op === 'recvFirst' && calls.length > 0) {
      // RECV_REPLY_FIRST (stop 68): its call's end only when nothing is queued before it;
      // behind a message it stays (RECV_RETURN_BEHIND), the queue unchanged
      const c = calls[rnd.int(calls.length)];
      const x = conns[c.caller];
      const cookie = rnd.int(3) === 0 ? 0 : c.cookie;
      const queued = both(`${label} queued`, (raw) => raw.e.queued(x.slot));
      const got = both(label, (raw) => {
        const r = raw.recv(x.slot, x.gen, A.RECV_REPLY | A.RECV_REPLY_FIRST, cookie);
        return r.r === 0 ? take(raw, x, r) : { r: r.r, behind: r.returnFlags & A.RECV_RETURN_BEHIND, queued: raw.e.queued(x.slot) };
      }) as ReturnType<typeof take> & { src: number; flags: number; cookieReply: number; item: number; behind?: number; queued?: number };
      if (got.r === 0) {
        const k = cookie === 0 ? calls.find((y) => y.caller === c.caller && y.cookie === got.cookieReply) : c;
        assert.ok(k && got.cookieReply === k.cookie, `${label}: RECV_REPLY_FIRST took the end of call ${k?.cookie} (cookie_reply ${got.cookieReply})`);
        assert.not.ok(k!.ended, `${label}: call ${k!.cookie} ended twice`);
        k!.ended = true;
        counts.firstTaken = (counts.firstTaken ?? 0) + 1;
      } else {
        assert.is(got.r, -A.EAGAIN);
        // (nothing taken; its tick may have queued a REPLY_TIMEOUT)
        assert.ok(got.queued! >= queued, `${label}: nothing taken (${queued} queued before, ${got.queued} after)`);
        if (got.behind) counts.firstBehind = (counts.firstBehind ?? 0) + 1;
      }
    } else if (op === 'recvAny') {
      // RECV_REPLY with cookie 0: the end of any call of this connection, nothing else
      const x = conns[a];
      const got = both(label, (raw) => take(raw, x, raw.recv(x.slot, x.gen, A.RECV_REPLY, 0))) as ReturnType<typeof take> & { src: number; flags: number; cookieReply: number; item: number };
      if (got.r === 0) {
        const c = calls.find((k) => k.caller === a && k.cookie === got.cookieReply);
        assert.ok(c, `${label}: RECV_REPLY 0 took the end of a call of this connection (cookie_reply ${got.cookieReply})`);
        assert.is(got.flags & A.MSG_EXPECT_REPLY, 0);
        assert.ok(got.src === c!.calleeId || (got.src === 0 && (got.item === A.ITEM_REPLY_TIMEOUT || got.item === A.ITEM_REPLY_DEAD)), `${label}: from its callee or the bus`);
        assert.not.ok(c!.ended, `${label}: call ${got.cookieReply} ended twice`);
        c!.ended = true;
        counts.anyTaken = (counts.anyTaken ?? 0) + 1;
      } else assert.is(got.r, -A.EAGAIN);
    } else if (op === 'reopen' && rnd.int(4) === 0) {
      // a connection closes (its queue dropped first, or with it: BYEBYE_DROP) and a new one
      // takes its slot: the calls it made are forgotten, the calls made to it (queued, or
      // received and not answered) owe their callers REPLY_DEAD
      const x = conns[a];
      const dropIt = rnd.int(2) === 0;
      // (BYEBYE's own deadline tick may queue a REPLY_TIMEOUT of x's first: EBUSY, drop, again)
      const bye = both(label, (raw) => {
        if (dropIt) return raw.byebye(x.slot, x.gen, A.BYEBYE_DROP);
        for (let k = 0; ; k++) {
          while (raw.recv(x.slot, x.gen, A.RECV_DROP).r === 0);
          const r = raw.byebye(x.slot, x.gen);
          if (r !== -A.EBUSY || k > 8) return r;
        }
      });
      if (dropIt) counts.reopenDrop = (counts.reopenDrop ?? 0) + 1;
      assert.is(bye, 0, `${label}: byebye`);
      for (const c of calls) if (c.caller === a) c.ended = true;
      for (let i = calls.length - 1; i >= 0; i--) if (calls[i].caller === a) calls.splice(i, 1);
      const h = both(`${label} hello`, (raw) => { const h = raw.hello({ poolSize: 4096 }); return { r: h.r, slot: h.slot, gen: h.gen, id: h.id, offset: h.offset }; });
      assert.ok(h.r >= 0, `${label}: hello ${h.r}`);
      both(`${label} free hello`, (raw) => raw.free(h.slot, h.gen, h.offset));
      conns[a] = h;
      counts.reopen = (counts.reopen ?? 0) + 1;
    } else if (op === 'recv' || op === 'drop') {
      const x = conns[a];
      const got = both(label, (raw) => op === 'drop' ? { r: raw.recv(x.slot, x.gen, A.RECV_DROP).r } : take(raw, x, raw.recv(x.slot, x.gen))) as { r: number; flags?: number; cookieReply?: number };
      // an end of a call received the ordinary way (the user's receive) ends it too
      if (op === 'recv' && got.r === 0 && got.cookieReply !== 0 && (got.flags! & A.MSG_EXPECT_REPLY) === 0) {
        const c = calls.find((k) => k.caller === a && k.cookie === got.cookieReply);
        assert.ok(c, `${label}: a reply for a call of this connection`);
        assert.not.ok(c!.ended, `${label}: call ${got.cookieReply} ended twice`);
        c!.ended = true;
      }
    }
  }
  // the end: every queue drained until nothing more comes (a dropped call queues its caller's
  // REPLY_DEAD), then every call still pending (received by its callee earlier) gets its reply
  // (EBADSLT for one that ended), and the queues are drained again
  const drainAll = () => {
    for (let n = 1, pass = 0; n > 0; pass++) {
      assert.ok(pass < 10, 'the queues drain');
      n = 0;
      for (const x of conns) n += both('drain', (raw) => { let k = 0; while (raw.recv(x.slot, x.gen, A.RECV_DROP).r === 0) k++; return k; });
    }
  };
  drainAll();
  for (const c of calls) {
    const k = cookie++;
    both('reply at the end', (raw) => raw.send(conns[c.callee].slot, conns[c.callee].gen, { msg: { dst: conns[c.caller].id, cookie: k, timeout: c.cookie } }));
  }
  drainAll();
  endClean(raws, conns, both);
  return counts;
}

const SEEDS = seedsFromEnv([1, 2, 3, 4, 5, 6]);
const STEPS = stepsFromEnv(400);
for (const seed of SEEDS) {
  test(`calls: wasm and twin agree byte for byte, RECV_REPLY takes only its call's end: seed ${seed}`, async () => {
    const counts = await run(seed, STEPS);
    // drawn with fixed weights: call 2/13, reply 2/13, recvReply 3/13 (well below those rates;
    // anyTaken 1/80 until stop 68, whose recvFirst takes some of the ends recvAny took)
    const min = exercised(counts, STEPS);
    min('call', 1 / 8); min('recvReply', 1 / 6); min('replyTaken', 1 / 40); min('anyTaken', 1 / 100); min('reply 0', 1 / 80); min('reopenDrop', 1 / 400);
    min('firstBehind', 1 / 200);
    firstTaken += counts.firstTaken ?? 0;
  });
}
/** RECV_REPLY_FIRST's takes over all seeds (an end first in its queue is rare in this mix: 0-3 a seed) */
let firstTaken = 0;
test('calls: RECV_REPLY_FIRST took an end first in its queue in some seed', () => {
  assert.ok(firstTaken > 0, `${firstTaken} over seeds ${SEEDS.join(',')}`);
});

test.run();
