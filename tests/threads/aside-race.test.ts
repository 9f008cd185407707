// aside-race: another thread's close of a connection (a raw BYEBYE with its handle) racing its
// owner's send_abandon, or its owner's next staging, while the connection keeps one of its
// staging slices on its unfreed list (assembly/aside.ts). Whoever goes first, the slot must end
// free once the owner looks again: never CLOSING with nothing reserved (stuck for good), never
// a slice counted twice. Stop 70's third review found both looks (send_abandon's and the
// staging's, before their lock) racing such a close: 3 slots stuck in 585 trials. A race test:
// it can only fail when the two threads meet in that window, so it runs many timed trials
// (each side spins a random few µs first) and reports how the trials fell.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME } from '../helpers/worker.ts';
import { Raw, ALL, hostVec, type Item } from '../helpers/raw.ts';
import { open } from '../helpers/harness.ts';
import { checkBus } from '../helpers/check.ts';
import { ENGINE, threadBus, READY_MS, MSG_MS } from './common.ts';
import { GO, SLOT, GEN, SPIN, DONE, RESULT, FLAGS, CTL_WORDS } from './aside-race.ctl.ts';
import type { RaceIn } from './aside-race.worker.ts'; // types only: importing it would run it

const s = suite(`threads: another thread's close against the owner's kept staging slices [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

/** Trials per mode: at most TRIALS, within TRIAL_MS (2 busy cores: a trial takes 0.1-2 ms). */
const TRIALS = 2000, TRIAL_MS = 4000;
const filter = (): Item => ({ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + 64) });

for (const mode of ['send_abandon', 'staging'] as const) {
  s(`${mode} against another thread's BYEBYE: every slot ends free`, async () => {
    const bus = await threadBus(ENGINE, { threads: 4, connections: 64, poolMax: 1 << 20, names: 4, matches: 4, replies: 4 });
    const e = bus.engine, raw = new Raw(e);
    const c32 = new Int32Array(new SharedArrayBuffer(CTL_WORDS * 4));
    const w = spawn(new URL('./aside-race.worker.ts', import.meta.url), { handle: bus.handle(), ctl: c32.buffer as SharedArrayBuffer } satisfies RaceIn, { kind: 'thread' });
    const ready = await w.next<{ ready?: true; slot?: number; error?: string }>(READY_MS, 'the closer to join');
    assert.is(ready.error, undefined, ready.error);
    const holder = ready.slot! + 1; // a lock word names its holder's slot + 1
    const word = (slot: number, off: number) => Atomics.load(e.u32, (e.connAddr(slot) + off) >>> 2);
    const tally = { closedFirst: 0, ownerFirst: 0, econnreset: 0 };
    const stuck: string[] = [];
    const end = performance.now() + TRIAL_MS;
    let k = 0;
    try {
      while (k < TRIALS && performance.now() < end && stuck.length === 0) {
        k++;
        const h = open(raw, { poolSize: 65536 });
        // one staging slice on h's unfreed list: its commit found h's own lock taken (held here for the closer's slot)
        raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100), filter()] });
        assert.is(e.send(h.slot, h.gen), A.SEND_PENDING);
        const lw = (e.connAddr(h.slot) + A.CONN_LOCK) >>> 2;
        assert.is(Atomics.compareExchange(e.u32, lw, 0, holder), 0);
        assert.is(e.sendCommit(), 0);
        Atomics.store(e.i32, lw, 0);
        assert.ok(word(h.slot, A.CONN_UNFREED) !== 0, 'a slice left to free');
        c32[FLAGS] = mode === 'staging' ? A.BYEBYE_DROP : 0;
        c32[SLOT] = h.slot; c32[GEN] = h.gen; c32[SPIN] = Math.floor(Math.random() * 40000);
        const mine = Math.random() * 0.04; // ms
        Atomics.store(c32, GO, k);
        const until = performance.now() + mine;
        while (performance.now() < until);
        let r: number;
        if (mode === 'staging') {
          raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100), filter()] });
          r = e.send(h.slot, h.gen);
          if (r === A.SEND_PENDING) assert.is(e.sendCancel(), 0);
        } else r = e.sendAbandon(h.slot, h.gen);
        const t0 = performance.now();
        while (Atomics.load(c32, DONE) !== k) if (performance.now() - t0 > MSG_MS) throw new Error(`trial ${k}: the closer did not answer`);
        assert.is(c32[RESULT], 0, `trial ${k}: the closer's BYEBYE`);
        if (r === -A.ECONNRESET) tally.econnreset++;
        const st = word(h.slot, A.CONN_STATE), resv = word(h.slot, A.CONN_N_RESV), unf = word(h.slot, A.CONN_UNFREED);
        if (st === A.CONN_CLOSING && resv === 0) stuck.push(`trial ${k}: slot ${h.slot} CLOSING with nothing reserved (unfreed ${unf}, ${mode} gave ${r})`);
        else if (st === A.CONN_CLOSING) {
          // closed first: the owner's slices stay counted until its next look at the handle
          tally.closedFirst++;
          assert.is(raw.recv(h.slot, h.gen).r, -A.ECONNRESET);
          assert.is(word(h.slot, A.CONN_STATE), A.CONN_FREE_SLOT, `trial ${k}: the owner's RECV settles the closed slot`);
        } else {
          tally.ownerFirst++;
          assert.is(st, A.CONN_FREE_SLOT, `trial ${k}: the slot's state`);
        }
      }
    } finally {
      Atomics.store(c32, GO, -1);
    }
    console.log(`  ${mode} (${ENGINE}, ${RUNTIME}): ${k} trials, closed first ${tally.closedFirst}, owner first ${tally.ownerFirst}, ECONNRESET ${tally.econnreset}`);
    assert.equal(stuck, [], 'slots left CLOSING for good');
    assert.ok(k >= 50, `too few trials to mean anything: ${k}`);
    await w.next(MSG_MS, 'the closer to leave');
    assert.equal(checkBus(bus.engine), []);
    bus.close();
  });
}

s.run();
