// Seeded random: staged broadcasts set aside, resumed and abandoned (send_aside, send_resume,
// send_abandon: assembly/aside.ts), their slices left to free when the sender's lock is taken,
// among receives, frees, closes and locks taken and let go, through both engines on two buses.
// Every step's result must agree between the engines, and so must every byte of bus state;
// the bus is consistent after every step (checkBus: each kept staging slice a reserved block
// of its pool, counted in n_resv), and at the end every slice is freed.
// WASMBUS_SEEDS / WASMBUS_STEPS choose the seeds and the steps per seed (README, "Tests").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A, WasmEngine, TwinEngine, MockProvider, loadCore, type Engine } from '../../js/index.ts';
import { makeBus, closeAll } from '../helpers/harness.ts';
import { Raw, ALL, hostVec, type Item } from '../helpers/raw.ts';
import { checkBus } from '../helpers/check.ts';
import { prng, seedsFromEnv, stepsFromEnv, busDiff, where } from '../helpers/diffkit.ts';

const LIMITS = { threads: 2, connections: 6, poolMax: 65536 };
const SEEDS = seedsFromEnv([0xa51de, 0xa51df, 0xa51e0]);
const STEPS = stepsFromEnv(300);
const filter = (): Item => ({ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + 64) });
const OPS = Object.entries({ stage: 8, resume: 8, abandon: 2, hold: 6, release: 6, recv: 6, aside: 1, byebye: 1, xclose: 1 }).flatMap(([op, n]) => new Array<string>(n).fill(op));

async function run(seed: number, steps: number): Promise<Record<string, number>> {
  const W = await makeBus({ limits: LIMITS, hooks: true }, 'wasm');
  const T = await makeBus({ limits: LIMITS, hooks: true }, 'twin');
  const raws = [new Raw(W.bus.engine), new Raw(T.bus.engine)];
  // a second thread on each bus, only the holder of the locks taken (its id in the word: LIVE)
  const t2 = W.bus.handle().token;
  assert.is(T.bus.handle().token, t2);
  const holders: Engine[] = [];
  for (const [i, kind] of (['wasm', 'twin'] as const).entries()) {
    const mem = [W, T][i]!.bus.memory, m = new MockProvider({ seed: 77 });
    const e = kind === 'wasm' ? await WasmEngine.create(await loadCore(true), mem, m, true) : new TwinEngine(mem, m, true);
    assert.is(e.threadJoin(t2), 1);
    holders.push(e);
  }
  const rnd = prng(seed);
  const tally: Record<string, number> = {};
  const same = (label: string) => {
    const d = busDiff(raws[0]!.e, raws[1]!.e);
    if (d >= 0) assert.unreachable(`${label}: bus bytes differ at ${d}, ${where(raws[0]!.e, d)}`);
  };
  // the sender (a pool that holds a few staging slices) and three subscribers
  type H = { slot: number; gen: number; id: number };
  const openOn = (raw: Raw, poolSize: number, match: boolean): H => {
    const h = raw.hello({ poolSize, attachSend: 0, attachRecv: 0 });
    assert.ok(h.r >= 0);
    assert.is(raw.free(h.slot, h.gen, h.offset), 0);
    if (match) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
    return { slot: h.slot, gen: h.gen, id: h.id };
  };
  const both = <X>(fn: (raw: Raw, i: number) => X): X[] => raws.map(fn);
  let sender = both((raw) => openOn(raw, 32768, false))[0]!;
  const subs = [0, 1, 2].map(() => both((raw) => openOn(raw, 16384, true))[0]!);
  const conns = () => [sender, ...subs];
  const held = new Set<number>(); // conn slots whose lock the holder has
  const lockWord = (e: Engine, slot: number) => (e.connAddr(slot) + A.CONN_LOCK) >>> 2;
  const drain = (raw: Raw, h: H): number => {
    let n = 0;
    for (;;) {
      const m = raw.recv(h.slot, h.gen);
      if (m.r !== 0) return n;
      n++;
      assert.is(raw.free(h.slot, h.gen, m.offset), 0);
    }
  };
  same('setup');
  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(OPS);
    const c = rnd.pick(conns());
    const size = 50 + rnd.int(1500), skip = rnd.int(3) === 0;
    const label = `seed ${seed} step ${step} ${op}`;
    const results = both((raw, i): number[] => {
      const e = raw.e;
      switch (op) {
        case 'stage': {
          // as emitAsync's try: set aside at a held subscriber (no lock wait: deterministic)
          e.parkBroadcast = true; e.lockWaitMs = 0;
          try {
            return [raw.send(sender.slot, sender.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(size), filter()] })];
          } finally {
            e.parkBroadcast = false; e.lockWaitMs = e.syncLockWaitMs; e.parked = null;
          }
        }
        case 'resume': {
          const r = e.sendResume(sender.slot, sender.gen);
          if (r !== 0) return [r];
          e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_BCAST_SKIP) >>> 2] = skip ? A.BCAST_SKIP : A.BCAST_WAITING;
          e.parkBroadcast = true; e.lockWaitMs = 0;
          try { return [r, e.sendCommit()]; } finally { e.parkBroadcast = false; e.lockWaitMs = e.syncLockWaitMs; e.parked = null; }
        }
        case 'abandon': return [e.sendAbandon(sender.slot, sender.gen)];
        case 'aside': return [e.sendAside()];
        case 'hold': {
          if (held.has(c.slot)) return [1];
          assert.is(Atomics.compareExchange(e.u32, lockWord(e, c.slot), 0, holders[i]!.threadSlot + 1), 0);
          return [0];
        }
        case 'release': {
          if (!held.has(c.slot)) return [1];
          Atomics.store(e.i32, lockWord(e, c.slot), 0);
          return [0];
        }
        case 'recv': {
          if (held.has(c.slot)) return [2];
          return [drain(raw, c)];
        }
        case 'byebye': {
          if (held.has(sender.slot) || held.size > 0) return [2]; // (its ID_REMOVE would wait for a held subscriber)
          drain(raw, sender);
          return [raw.byebye(sender.slot, sender.gen)];
        }
        case 'xclose': {
          // the other thread closes the sender with its handle (raw ABI): the sender's kept
          // slices stay, counted, for its owner; then the owner's receive on the closed handle,
          // or its send_abandon, or nothing yet, settles them (the slot left CLOSING)
          if (held.size > 0) return [2];
          const x = new Raw(holders[i]!);
          const r = x.byebye(sender.slot, sender.gen, A.BYEBYE_DROP);
          const then = skip ? raw.recv(sender.slot, sender.gen).r : size % 2 === 0 ? e.sendAbandon(sender.slot, sender.gen) : 0;
          return [r, then, e.u32[(e.connAddr(sender.slot) + A.CONN_STATE) >>> 2]!];
        }
      }
      return [];
    });
    assert.equal(results[1], results[0], `${label}: both engines agree`);
    const r = results[0]!;
    if (op === 'hold' && r[0] === 0) held.add(c.slot);
    if (op === 'release' && r[0] === 0) held.delete(c.slot);
    if ((op === 'byebye' || op === 'xclose') && r[0] === 0) sender = both((raw) => openOn(raw, 32768, false))[0]!;
    const key = `${op} ${r.join(',')}`;
    tally[key] = (tally[key] ?? 0) + 1;
    same(label);
    for (const raw of raws) assert.equal(checkBus(raw.e, { locksFree: false }), [], `${label}: consistent`);
  }
  // the end: every lock let go, the broadcast set aside (if any) abandoned, every queue drained;
  // then each pool empty but for nothing
  for (const raw of raws) {
    for (const s of held) Atomics.store(raw.e.i32, lockWord(raw.e, s), 0);
    raw.e.sendAbandon(sender.slot, sender.gen);
    for (const h of conns()) drain(raw, h);
    for (const h of conns()) assert.is(raw.e.poolUsed(h.slot), 0, `seed ${seed}: conn ${h.slot}'s pool empty at the end`);
    assert.equal(checkBus(raw.e), []);
  }
  same('end');
  for (const e of holders) assert.is(e.threadLeave(), 0);
  closeAll(W.bus.engine, raws[0]!);
  closeAll(T.bus.engine, raws[1]!);
  return tally;
}

for (const seed of SEEDS) {
  test(`staged broadcasts set aside, resumed, abandoned at random: both engines agree byte for byte, every slice freed (seed ${seed})`, async () => {
    const tally = await run(seed, STEPS);
    console.log(`  aside seed ${seed}, ${STEPS} steps: ` + Object.entries(tally).sort().map(([k, v]) => `${k} ${v}`).join(', '));
    if (STEPS >= 200) {
      assert.ok((tally[`stage ${A.WOULDBLOCK}`] ?? 0) >= 3, 'some broadcasts were set aside');
      assert.ok(Object.keys(tally).some((k) => k.startsWith('resume 0,0')), 'some resumed broadcasts went');
      assert.ok(Object.keys(tally).some((k) => k === `resume 0,${A.WOULDBLOCK}`), 'some resumed broadcasts stopped again');
    }
  });
}

test.run();
