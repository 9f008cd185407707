// Call order per destination, seeded and random (stop 23): one connection's sendAsync()s and
// call()s to one receiver (its id written as a number and as ':1.<id>', one destination),
// in bursts, some calls aborted at random, while the receiver takes them at random moments,
// answers its calls late (reply or replyAsync) so that more than MAX_PENDING_REPLIES calls pile
// up and later ones wait for a pending-call slot, and has a pool small enough that sends wait
// for room. What arrives must be in the order it was made (an aborted call arrives or not,
// in its place); every promise settles; nothing is left pending or queued.
// WASMBUS_SEEDS chooses the seeds (default 1-8). With stop 22's code, 6 of these 8 seeds delivered a message after a later one.
import * as assert from 'uvu/assert';
import { BusError, type Connection, type Message } from '../../js/index.ts';
import { busSuite, SMALL } from '../helpers/harness.ts';
import { prng, seedsFromEnv } from '../helpers/diffkit.ts';

const t = busSuite('call order, seeded', { limits: { ...SMALL, replies: 400 } });
const u16 = (i: number) => new Uint8Array([i & 0xff, i >> 8]);
const v16 = (m: Message) => m.payload[0] | (m.payload[1] << 8);
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

for (const seed of seedsFromEnv([1, 2, 3, 4, 5, 6, 7, 8])) {
  t(`seed ${seed}: sendAsync and call() to one receiver arrive in the order made, through room waits, slot waits and aborts`, async ({ bus }) => {
    const rnd = prng(seed);
    // (a small pool: sends wait for room first; a large one: calls pile up past MAX_PENDING_REPLIES while there is room)
    const a = bus.connect(), b = bus.connect({ poolSize: rnd.pick([65536, 262144]) });
    const dst = (): number | string => (rnd.int(2) === 0 ? b.id : `:1.${b.id}`);
    const settled: Promise<string>[] = [];
    const aborters: AbortController[] = [];
    const aborted = new Set<number>();
    let n = 0;
    const seen: number[] = [];
    /** received calls b has not answered yet (their messages kept: reply needs them) */
    const unanswered: Message[] = [];
    const issue = (k: number) => {
      for (let i = 0; i < k; i++, n++) {
        const seq = n, kind = rnd.int(5);
        if (kind < 2) settled.push(a.sendAsync(dst(), u16(seq), { timeout: 20000 }).then(() => 'sent', (e: BusError) => `send ${seq}: ${e.code}`));
        else {
          const ac = new AbortController();
          if (kind === 4) aborters.push(ac);
          (ac as unknown as { seq: number }).seq = seq;
          settled.push(a.call(dst(), u16(seq), { timeout: 20000, signal: ac.signal }).then((r) => { r.free(); return 'answered'; },
            (e: BusError) => (e.code === 'ECANCELED' && aborted.has(seq) ? 'aborted' : `call ${seq}: ${e.code}`)));
        }
      }
    };
    const answer = async (k: number) => {
      for (let i = 0; i < k && unanswered.length > 0; i++) {
        const m = unanswered.splice(rnd.int(Math.min(unanswered.length, 4)), 1)[0];
        if (rnd.int(2) === 0) b.reply(m, null); else await b.replyAsync(m, null, { timeout: 5000 }).catch(() => {}); // (EBADSLT: its call was aborted meanwhile)
        m.free();
      }
    };
    const take = (k: number) => {
      for (let i = 0; i < k; i++) {
        const m = b.recv();
        if (m === null) return;
        seen.push(v16(m));
        if (m.expectsReply) unanswered.push(m); else m.free();
      }
    };
    let maxWaiting = 0, maxRoom = 0;
    for (let step = 0; step < 120; step++) {
      maxWaiting = Math.max(maxWaiting, a.waitingCalls);
      maxRoom = Math.max(maxRoom, a.pendingSends);
      const op = rnd.int(6);
      if (op === 0 || op === 1) issue(1 + rnd.int(op === 0 ? 8 : 80));
      else if (op === 2) take(1 + rnd.int(40));
      else if (op === 3) await answer(1 + rnd.int(30));
      else if (op === 4 && aborters.length > 0) {
        const ac = aborters.splice(rnd.int(aborters.length), 1)[0];
        aborted.add((ac as unknown as { seq: number }).seq);
        ac.abort();
      } else await tick();
    }
    // the end: b takes and answers everything until every promise has settled
    let done = false;
    const all = Promise.all(settled).finally(() => { done = true; });
    const end = performance.now() + 15000;
    while (!done) {
      assert.ok(performance.now() < end, `every send and call settled within 15 s (${seen.length} of ${n} arrived)`);
      take(64);
      await answer(unanswered.length);
      await tick();
    }
    const results = await all;
    console.log(`  seed ${seed}: ${n} made, ${aborted.size} aborted; at most ${maxWaiting} calls waiting for a slot, ${maxRoom} waits for room`);
    assert.equal(results.filter((r) => r !== 'sent' && r !== 'answered' && r !== 'aborted'), [], 'no send or call failed');
    for (let i = 1; i < seen.length; i++) if (seen[i] <= seen[i - 1]) assert.unreachable(`seed ${seed}: ${seen[i]} arrived after ${seen[i - 1]}`);
    const missing = [...Array(n).keys()].filter((s) => !seen.includes(s) && !aborted.has(s));
    assert.equal(missing, [], 'every send and call that was not aborted arrived');
    assert.ok(maxWaiting > 0 && maxRoom > 0, `calls waited for a slot (${maxWaiting} at most) and sends for room (${maxRoom})`);
    take(1 << 16);
    await answer(unanswered.length);
    a.recv(); // (the late answers of aborted calls are freed by a's next receive)
    assert.equal([a.pendingCalls, a.pendingSends, a.waitingCalls], [0, 0, 0], 'nothing left pending');
    assert.is(b.queued, 0);
    assert.equal(bus.check(), []);
    close(a, b);
  });
}

function close(...cs: Connection[]): void {
  for (const c of cs) c.close({ drop: true });
}

t.run();
