// Differential: the same seeded random commands through the wasm core and the TS twin, each
// on its own bus; after every command the results (or what was thrown: see thrown() in
// tests/helpers/diffkit.ts) and every byte of bus state must agree.
//
// Each seed runs twice: once from a fresh bus, once with the bus's counters started just
// below 2^32 (see nearWrap), so that every wrap-around path runs on both engines.
// WASMBUS_SEEDS / WASMBUS_STEPS choose the seeds and the commands per seed (README, "Tests").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A, WasmEngine, TwinEngine, MockProvider, loadCore, type Bus } from '../../js/index.ts';
import { makeBus, leaks, closeAll } from '../helpers/harness.ts';
import { Raw, ALL, vec, hostVec, str, type Item } from '../helpers/raw.ts';
import { checkBus, checkNames } from '../helpers/check.ts';
import { FULL } from '../helpers/identity.ts';
import { prng, seedsFromEnv, stepsFromEnv, thrown, isThrown, isTrap, busDiff, where, type Thrown } from '../helpers/diffkit.ts';

const LIMITS = { threads: 2, connections: 6, poolMax: 32768, names: 4, matches: 4, replies: 4 };
const U32_MAX = 0xffffffff;

/**
 * Start the bus's counters just below 2^32: connection ids (BUS_NEXT_ID's low word: the 3rd
 * HELLO gets id 2^32), the seqnum (BUS_SEQNUM's low word: the 6th message carries 2^32), the
 * thread-token counter (BUS_NEXT_TOKEN: the first handle's token is 2^32 - 1, the next ones
 * wrap past 0 and skip the reserved tokens 0 and 1), and every connection slot's generation
 * (slot s at 2^32 - 1 - s: slot 0's first HELLO makes generation 0).
 *
 * Written straight into the bus header and the (still free) connection slots, right after
 * BUS_MAKE (and the creator's thread_join, which reads none of them) and before any other
 * command, identically on both buses. That is legitimate for this test: each of these words
 * is a plain counter that the core only ever increments (wrapping), and every value is
 * reachable through the ABI by running enough commands (2^32 - 3 HELLOs, messages, handles,
 * or HELLO/BYEBYE pairs on one slot: a slot keeps its generation while free). Writing the
 * value instead reaches the same state in microseconds instead of days. (Message cookies
 * near 2^32 and 2^64 are chosen by the sends below.)
 */
function nearWrap(bus: Bus): void {
  const u32 = bus.engine.u32, H = A.BUS_BASE;
  u32[(H + A.BUS_NEXT_ID) >>> 2] = U32_MAX - 2;
  u32[(H + A.BUS_SEQNUM) >>> 2] = U32_MAX - 5;
  u32[(H + A.BUS_NEXT_TOKEN) >>> 2] = U32_MAX - 2;
  for (let s = 0; s < LIMITS.connections; s++) u32[(bus.engine.connAddr(s) + A.CONN_GEN) >>> 2] = U32_MAX - s;
}

/** deep equality, as uvu's assert.equal decides it */
function sameOutcome(a: unknown, b: unknown): boolean {
  try { assert.equal(a, b); return true; } catch { return false; }
}
const show = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v));

async function run(seed: number, steps: number, wrap: boolean) {
  const W = await makeBus({ limits: LIMITS, hooks: true }, 'wasm');
  const T = await makeBus({ limits: LIMITS, hooks: true }, 'twin');
  if (wrap) { nearWrap(W.bus); nearWrap(T.bus); }
  const raws = [new Raw(W.bus.engine), new Raw(T.bus.engine)];
  const mocks = [W.mock, T.mock];
  // a second thread on each bus (its own engine instance), which the 'kill' op lets die
  // mid-command for the first thread to recover; its token comes from the bus (handle())
  const tokens: number[] = [];
  const second = async (): Promise<Raw[]> => {
    const t = W.bus.handle().token;
    assert.is(T.bus.handle().token, t, 'both buses hand out the same token');
    tokens.push(t);
    const out = [];
    for (const [i, kind] of (['wasm', 'twin'] as const).entries()) {
      const m = new MockProvider({ seed: 1000 + tokens.length });
      mocks.push(m);
      const mem = [W, T][i].bus.memory;
      const e = kind === 'wasm' ? await WasmEngine.create(await loadCore(true), mem, m, true) : new TwinEngine(mem, m, true);
      assert.is(e.threadJoin(t), 1, 'the second thread takes slot 1');
      out.push(new Raw(e));
    }
    return out;
  };
  let raws2 = await second();
  const rnd = prng(seed);
  // what the test knows of the bus, from the (equal) results
  const conns: { slot: number; gen: number; id: number; th: number; kind: number }[] = [];
  // mostly an ordinary connection (monitors and activators cannot send or own names)
  const pickActor = () => {
    const ord = conns.filter((c) => c.kind === 0);
    return ord.length && rnd.int(6) !== 0 ? rnd.pick(ord) : rnd.pick(conns);
  };
  const published = new Map<number, number[]>(); // slot -> offsets
  const counts: Record<string, number> = {};

  /**
   * A HELLO that trapped while delivering its ID_ADD / NAME_ADD (after the connection was
   * committed: notify.ts commits before each receiver) made a connection all the same: track
   * it (its HELLO slice is the first block of its fresh pool).
   */
  const adopt = (flags: number) => {
    const e = raws[0].e;
    for (let s = 0; s < LIMITS.connections; s++) {
      const c = e.connAddr(s);
      if (e.u32[(c + A.CONN_STATE) >>> 2] !== A.CONN_ACTIVE || conns.some((x) => x.slot === s)) continue;
      conns.push({ slot: s, gen: e.connGen(s), id: e.u32[(c + A.CONN_ID) >>> 2] + e.u32[(c + A.CONN_ID + 4) >>> 2] * 2 ** 32, th, kind: flags & (A.HELLO_MONITOR | A.HELLO_ACTIVATOR) });
      published.set(s, [A.BLOCK_HDR]);
      counts.adopted = (counts.adopted ?? 0) + 1;
    }
  };
  let th = 0; // which thread acts: 0 the bus's creator, 1 the second thread
  const actor = (i: number) => (th === 0 ? raws : raws2)[i];
  // a call's outcome: its result, or what it threw (a core trap compares as { threw: 'trap' }
  // only when it is the engine's own trap; anything else by class, errno and message)
  const attempt = <R>(f: (raw: Raw, i: number) => R, i: number): R | Thrown => {
    const raw = actor(i);
    try { return f(raw, i); } catch (err) { raw.e.setFault(0); return thrown(err, raw.e.kind); }
  };
  const both = <R>(label: string, f: (raw: Raw, i: number) => R): R | Thrown => {
    const rw = attempt(f, 0), rt = attempt(f, 1);
    if (!sameOutcome(rw, rt)) assert.unreachable(`${label}: outcomes differ: wasm ${show(rw)}, twin ${show(rt)}`);
    const d = busDiff(raws[0].e, raws[1].e);
    if (d >= 0) assert.unreachable(`${label}: bus state differs at ${d}, ${where(raws[0].e, d)} (wasm ${raws[0].e.u32[d >>> 2]}, twin ${raws[1].e.u32[d >>> 2]})`);
    return rw;
  };

  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['hello', 'send', 'send', 'send', 'send', 'recv', 'recv', 'recv', 'free', 'free', 'byebye', 'creds', 'fault', 'kill', 'acquire', 'release', 'list']);
    const label = `seed ${seed} step ${step} ${op}`;
    counts[op] = (counts[op] ?? 0) + 1;
    th = rnd.int(3) === 0 ? 1 : 0;
    if (op === 'kill') {
      // the second thread dies at a random logged store of a send or receive; the first
      // thread recovers it (undo, unlock, close its connections) and a new second thread joins
      if (conns.length === 0) continue;
      th = 1;
      const n = 1 + rnd.int(15);
      const c = rnd.pick(conns), d = rnd.pick(conns);
      raws2.forEach((raw) => raw.e.setFault(n, true));
      let trapped: boolean;
      if (rnd.int(2) === 0) {
        const r = both(label, (raw) => raw.send(c.slot, c.gen, { msg: { dst: d.id }, items: [hostVec(100)] }));
        assert.ok(isTrap(r) || typeof r === 'number', `${label}: ${JSON.stringify(r)}`);
        trapped = isTrap(r);
      } else {
        const m = both(label, (raw) => raw.recv(c.slot, c.gen));
        assert.ok(isTrap(m) || !isThrown(m), `${label}: ${JSON.stringify(m)}`);
        trapped = isTrap(m);
        if (!isThrown(m) && m.r === 0 && !published.get(c.slot)!.includes(m.offset)) published.get(c.slot)!.push(m.offset);
      }
      if (!trapped) { raws2.forEach((raw) => raw.e.setFault(0)); continue; }
      const slot2 = raws2[0].e.threadSlot;
      th = 0;
      // an armed 'fault' may trap the recovery itself: it is unwound, and running it again
      // finishes it (recovery is re-entrant)
      let rr = both(`${label} recover`, (raw) => raw.e.recover(slot2, true));
      if (isTrap(rr)) rr = both(`${label} recover again`, (raw) => raw.e.recover(slot2, true));
      assert.is(rr, 0);
      for (let i = conns.length - 1; i >= 0; i--) if (conns[i].th === 1) { published.delete(conns[i].slot); conns.splice(i, 1); }
      raws2 = await second();
      counts.killed = (counts.killed ?? 0) + 1;
      continue;
    }
    if (op === 'fault') {
      // the next command traps at a random logged store on both engines and is unwound
      const n = 1 + rnd.int(12);
      raws.forEach((raw) => raw.e.setFault(n));
      continue;
    }
    if (op === 'creds') {
      // new credentials, or every metadata item configured (FULL), or some made unsupported:
      // both engines must write the same metadata bytes (the per-thread cache follows the epoch)
      const uid = rnd.int(4), k = rnd.int(4);
      if (k === 0) mocks.forEach((m) => m.setIdentity(FULL));
      else if (k === 1) mocks.forEach((m) => m.setIdentity({ exe: null, comm: 'x'.repeat(20), groups: [uid] }));
      else mocks.forEach((m) => m.setCreds({ uid }));
    } else if (op === 'hello') {
      const bad = rnd.int(8) === 0;
      const poolSize = rnd.pick([4096, 8192, 16384, 32768, bad ? 5000 : 32768]);
      const items: Item[] = rnd.int(3) === 0 ? [str(A.ITEM_CONN_DESCRIPTION, rnd.pick(['x', 'peer.1', bad ? '.bad' : 'ok', 'a'.repeat(bad ? 64 : 10)]))] : [];
      const mask = () => rnd.pick([0, A.ATTACH_TIMESTAMP, A.ATTACH_CREDS, A.ATTACH_ALL, 3, A.ATTACH_ALL, rnd.int(A.ATTACH_ALL + 1)]);
      const attachSend = mask(), attachRecv = mask();
      let flags = bad ? rnd.pick([0, 4, 16]) : 0;
      // monitors and activators (the activator of SEND's DST_NAME and of acquire's names, or a bad name)
      const kind = rnd.int(6);
      if (kind === 0) flags |= A.HELLO_MONITOR;
      else if (kind === 1) {
        flags |= A.HELLO_ACTIVATOR;
        items.push(str(A.ITEM_NAME, rnd.pick(['org.example.A', 'org.example.A', 'org.d.B', 'bad'])));
      }
      counts[kind === 0 ? 'monitor' : kind === 1 ? 'activator' : 'ordinary'] = (counts[kind === 0 ? 'monitor' : kind === 1 ? 'activator' : 'ordinary'] ?? 0) + 1;
      const h = both(label, (raw) => raw.hello({ poolSize, items, attachSend, attachRecv, flags }));
      if (!isThrown(h) && h.r >= 0) {
        conns.push({ slot: h.slot, gen: h.gen, id: h.id, th, kind: flags & (A.HELLO_MONITOR | A.HELLO_ACTIVATOR) });
        published.set(h.slot, [h.offset]);
      } else if (isTrap(h)) adopt(flags);
    } else if (conns.length === 0) {
      continue;
    } else if (op === 'send') {
      const a = pickActor();
      const byName = rnd.int(3) === 0; // mostly to dst 0: the name's owner (or its activator)
      const dst = byName && rnd.int(4) !== 0 ? 0 : rnd.int(10) === 0 ? rnd.pick([0, 99, ALL]) : rnd.pick(conns).id;
      const items: Item[] = [];
      const nv = rnd.int(4);
      const host: Uint8Array[] = [];
      for (let i = 0; i < nv; i++) {
        const size = rnd.pick([1, 7, 8, 64, 500, 3000, 9000]);
        const kind = rnd.int(3);
        if (kind === 0) { items.push(hostVec(size)); host.push(new Uint8Array(size).map(() => rnd.int(256))); }
        else if (kind === 1) items.push(vec(size, 0));
        else items.push(vec(Math.min(size, 1024), raws[0].cmd + 16384 + rnd.int(64) * 8));
      }
      if (byName) items.push(str(A.ITEM_DST_NAME, rnd.pick(['org.example.A', 'org.example.A', 'org.d.B', 'bad'])));
      if (rnd.int(20) === 0) items.push({ type: A.ITEM_BLOOM_FILTER, data: new Array(9).fill(0) });
      const flags = rnd.int(10) === 0 ? rnd.pick([1, 2, 4, 8]) : (rnd.int(8) === 0 ? A.MSG_NO_AUTO_START : 0);
      const priority = BigInt(rnd.int(7) - 3);
      // with the counters near 2^32, cookies near 2^32 and 2^64 too
      const cookie = wrap && rnd.int(2) === 0
        ? rnd.pick([0xffffffffn, 0x100000000n, 0xfffffffffffffffen, 0xffffffffffffffffn])
        : BigInt(rnd.int(1000));
      // same command-area bytes for the in-memory vecs on both sides
      const fill = new Uint8Array(2048).map(() => rnd.int(256));
      raws.forEach((raw) => raw.e.u8.set(fill, raw.cmd + 16384));
      const r = both(label, (raw) => raw.send(a.slot, a.gen, { msg: { dst, flags, priority, cookie }, items, host: host.map((h) => h.slice()) }));
      if (byName) { const k = `byname ${typeof r === 'number' ? r : 'thrown'}`; counts[k] = (counts[k] ?? 0) + 1; }
      // a trap inside send_commit is unwound to the reservation: the slice stays reserved
      // (the thread's op is OP_SEND, and every other command answers EINPROGRESS) until the
      // host commits or cancels it; commit it (the fault is spent, unwind cleared it)
      const t = actor(0).e.cmd - A.THREAD_CMD;
      if (isTrap(r) && actor(0).e.u32[(t + A.THREAD_OP) >>> 2] === A.OP_SEND) {
        assert.is(both(`${label} commit after the trap`, (raw) => raw.e.sendCommit()), 0, `${label}: send_commit after the trap`);
        counts.recommit = (counts.recommit ?? 0) + 1;
      }
    } else if (op === 'recv') {
      const b = rnd.pick(conns);
      const flags = rnd.pick([0, 0, 0, A.RECV_PEEK, A.RECV_DROP, A.RECV_USE_PRIORITY, A.RECV_DROP | A.RECV_USE_PRIORITY]);
      const prio = BigInt(rnd.int(3) - 1);
      const m = both(label, (raw) => raw.recv(b.slot, b.gen, flags, prio));
      if (!isThrown(m) && m.r === 0 && (flags & A.RECV_DROP) === 0) {
        const list = published.get(b.slot)!;
        if (!list.includes(m.offset)) list.push(m.offset);
      }
    } else if (op === 'free') {
      const b = rnd.pick(conns);
      const list = published.get(b.slot)!;
      const i = list.length && rnd.int(5) !== 0 ? rnd.int(list.length) : -1;
      const off = i >= 0 ? list[i] : rnd.int(40000);
      if (both(label, (raw) => raw.free(b.slot, b.gen, off)) === 0 && i >= 0) list.splice(i, 1);
    } else if (op === 'acquire' || op === 'release') {
      // names issue: a few names (one of them SEND's DST_NAME above), every flag, a bad name
      const c = pickActor();
      const name = rnd.pick(['org.example.A', 'org.example.A', 'org.d.B', 'org.d.C', 'bad']);
      const flags = rnd.int(12) === 0 ? 8 : op === 'acquire' ? rnd.int(8) : 0;
      both(label, (raw) => op === 'acquire' ? raw.nameAcquire(c.slot, c.gen, name, flags) : raw.nameRelease(c.slot, c.gen, name, flags));
    } else if (op === 'list') {
      const c = rnd.pick(conns);
      const flags = rnd.int(10) === 0 ? 16 : rnd.int(16);
      both(label, (raw) => { const l = raw.list(c.slot, c.gen, flags); return [l.r, l.size, l.entries.length]; });
    } else if (op === 'byebye') {
      const i = rnd.int(conns.length);
      const c = conns[i];
      const r = both(label, (raw) => raw.byebye(c.slot, c.gen));
      // a trap in a notification's delivery comes after the close was committed (notify.ts
      // commits before each receiver): the connection is closed all the same
      if (r === 0 || (isTrap(r) && raws[0].e.connGen(c.slot) !== c.gen)) conns.splice(i, 1);
    }
  }
  // drain and close both the same way, then compare once more
  th = 0;
  raws.forEach((raw) => raw.e.setFault(0));
  raws2.forEach((raw) => raw.e.setFault(0));
  for (const c of conns) {
    both('drain', (raw) => { let n = 0; while (raw.recv(c.slot, c.gen, A.RECV_DROP).r === 0) n++; return n; });
    for (const off of published.get(c.slot)!) assert.is(both('free', (raw) => raw.free(c.slot, c.gen, off)), 0, 'free what was published');
  }
  for (const raw of raws) assert.equal(leaks(raw.e), [], 'leak check');
  for (const raw of raws) assert.equal(checkBus(raw.e), [], 'consistent');
  for (const raw of raws) assert.equal(checkNames(raw.e), [], 'names consistent');
  both('close all', (raw) => { closeAll(raw.e, raw); return raw.e.liveConns(); });
  assert.is(both('closed', (raw) => raw.e.liveConns()), 0, 'every connection closed');
  if (wrap) {
    // the wrap-arounds happened (on both buses alike: the bytes were compared after every command)
    const u32 = raws[0].e.u32, H = A.BUS_BASE;
    assert.ok(u32[(H + A.BUS_NEXT_ID + 4) >>> 2] >= 1, `connection ids passed 2^32 (${counts.hello} HELLOs)`);
    assert.ok(u32[(H + A.BUS_SEQNUM + 4) >>> 2] >= 1, 'the seqnum passed 2^32');
    assert.ok(tokens[0] === U32_MAX && (tokens.length < 2 || tokens[1] === 2), `thread tokens wrapped past 0 and 1: ${tokens.slice(0, 3)}`);
    let gens = 0;
    for (let s = 0; s < LIMITS.connections; s++) if (raws[0].e.connGen(s) < 16) gens++;
    assert.ok(gens >= 1, 'a connection generation wrapped');
    counts.tokens = tokens.length;
  }
  return counts;
}

const SEEDS = seedsFromEnv([1, 2, 3, 4, 5, 6, 7, 8]);
const STEPS = stepsFromEnv(600);
for (const seed of SEEDS) {
  for (const wrap of [false, true]) {
    test(`wasm and twin agree byte for byte: seed ${seed}${wrap ? ', counters near 2^32' : ''}`, async () => {
      const counts = await run(seed, STEPS, wrap);
      // each op is drawn with a fixed weight (send 4/14, recv 3/14, fault 1/14, kill 1/14, of
      // which about half end in a death): well below those rates, for any step count
      const min = (k: string, rate: number) => assert.ok((counts[k] ?? 0) >= Math.floor(STEPS * rate),
        `the commands were exercised (${k}): ${JSON.stringify(counts)}`);
      min('send', 1 / 6); min('recv', 1 / 12); min('fault', 1 / 30); min('killed', 1 / 120);
      min('monitor', 1 / 600); min('activator', 1 / 600);
    });
  }
}

test.run();
