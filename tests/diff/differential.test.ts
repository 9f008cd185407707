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
import { findItem } from '../../js/metadata.ts';
import { prng, seedsFromEnv, stepsFromEnv, thrown, isThrown, isTrap, busDiff, where, type Thrown } from '../helpers/diffkit.ts';

const LIMITS = { threads: 2, connections: 6, poolMax: 32768, names: 4, matches: 4, replies: 4 };
/** messages received with OWNED_NAME / TRUNCATED items, over every seed (checked by the last test) */
const tally = { owned: 0, bcastOwned: 0, truncated: 0 };
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

const bloomSize = (raw: Raw) => raw.e.u32[(A.BUS_BASE + A.BUS_BLOOM_SIZE) >>> 2];
/** a BLOOM_FILTER item of the bus's size, generation 0, with a few bits from `bits` */
function bloomFilter(raw: Raw, bits: number): Item {
  const d = new Uint8Array(8 + bloomSize(raw));
  for (let i = 0; i < 8; i++) if (bits & (1 << i)) d[8 + ((bits * 7 + i * 13) % (d.length - 8))] |= 1 << i;
  return { type: A.ITEM_BLOOM_FILTER, data: d };
}
/** a NAME_ADD / NAME_REMOVE / NAME_CHANGE rule about `name` (any old and new owner) */
function nameNotify(type: number, name: string): Item {
  const b = new TextEncoder().encode(name), d = new Uint8Array(32 + b.length + 1);
  d.fill(255, 0, 8); d.fill(255, 16, 24);
  d.set(b, 32);
  return { type, data: d };
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

  // a trap inside send_commit is unwound: the slice stays reserved (the thread's op is OP_SEND,
  // or OP_BCAST for a staged broadcast, and every other command answers EINPROGRESS) until the
  // host commits or cancels it: commit it (the fault is spent, unwind cleared it; a staged
  // broadcast goes on with the receiver it stopped at), or, for some broadcasts, cancel it
  const endAfterTrap = (label: string, r: unknown) => {
    const t = actor(0).e.cmd - A.THREAD_CMD, pending = actor(0).e.u32[(t + A.THREAD_OP) >>> 2];
    if (isTrap(r) && (pending === A.OP_SEND || (pending === A.OP_BCAST && rnd.int(2) === 0))) {
      assert.is(both(`${label} commit after the trap`, (raw) => raw.e.sendCommit()), 0, `${label}: send_commit after the trap`);
      counts.recommit = (counts.recommit ?? 0) + 1;
    } else if (isTrap(r) && pending === A.OP_BCAST) {
      assert.is(both(`${label} cancel after the trap`, (raw) => raw.e.sendCancel()), 0, `${label}: send_cancel after the trap`);
      counts.recancel = (counts.recancel ?? 0) + 1;
    }
  };

  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['hello', 'hello', 'send', 'send', 'send', 'send', 'recv', 'recv', 'recv', 'free', 'free', 'byebye', 'creds', 'fault', 'kill', 'acquire', 'release', 'list',
      'match', 'signal', 'signal', 'signal']);
    const label = `seed ${seed} step ${step} ${op}`;
    counts[op] = (counts[op] ?? 0) + 1;
    th = rnd.int(3) === 0 ? 1 : 0;
    if (op === 'kill') {
      // the second thread dies at a random logged store of a send or receive; the first
      // thread recovers it (undo, unlock, close its connections) and a new second thread joins
      if (conns.length === 0) continue;
      th = 1;
      const n = 1 + rnd.int(15);
      // an ordinary connection acts (a monitor or an activator is refused before any store)
      const ordinary = conns.filter((k) => k.kind === 0);
      const c = rnd.pick(ordinary.length ? ordinary : conns), d = rnd.pick(ordinary.length ? ordinary : conns);
      raws2.forEach((raw) => raw.e.setFault(n, true));
      let trapped: boolean;
      if (rnd.int(2) === 0) {
        // a unicast, or a broadcast staged in the sender's pool (the thread may die in its commit)
        const bc = rnd.int(3) === 0, bits = rnd.int(256);
        const r = both(label, (raw) => raw.send(c.slot, c.gen, bc
          ? { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100), bloomFilter(raw, bits)] }
          : { msg: { dst: d.id }, items: [hostVec(100)] }));
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
      // new credentials, or every metadata item configured (FULL), or some made unsupported,
      // or a command line over its caps (cut, with a TRUNCATED item): both engines must write
      // the same metadata bytes (the per-thread cache follows the epoch)
      const uid = rnd.int(4), k = rnd.int(4);
      if (k === 0) mocks.forEach((m) => m.setIdentity(FULL));
      else if (k === 1) mocks.forEach((m) => m.setIdentity({ exe: null, comm: 'x'.repeat(20), groups: [uid] }));
      else if (k === 2) {
        const argv = uid < 2 ? ['node', 'x'.repeat(4000 + uid * 100)] : Array.from({ length: 250 + uid * 10 }, (_, i) => `a${i}`);
        mocks.forEach((m) => m.setIdentity({ cmdline: argv }));
      } else mocks.forEach((m) => m.setCreds({ uid }));
    } else if (op === 'hello') {
      const bad = rnd.int(8) === 0;
      const poolSize = rnd.pick([4096, 8192, 16384, 32768, bad ? 5000 : 32768]);
      const items: Item[] = rnd.int(3) === 0 ? [str(A.ITEM_CONN_DESCRIPTION, rnd.pick(['x', 'peer.1', bad ? '.bad' : 'ok', 'a'.repeat(bad ? 64 : 10)]))] : [];
      const mask = () => rnd.pick([0, A.ATTACH_TIMESTAMP, A.ATTACH_CREDS, A.ATTACH_ALL, 3, A.ATTACH_ALL, rnd.int(A.ATTACH_ALL + 1),
        A.ATTACH_NAMES, A.ATTACH_NAMES | A.ATTACH_CMDLINE]);
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
      // 1 send in 7 a SEND_PROBE (chosen by the step number: the random sequence stays as it was)
      const probe = step % 7 === 3 ? A.SEND_PROBE : 0;
      if (probe) counts.probe = (counts.probe ?? 0) + 1;
      const r = both(label, (raw) => raw.send(a.slot, a.gen, { flags: probe, msg: { dst, flags, priority, cookie }, items, host: host.map((h) => h.slice()) }));
      if (byName) { const k = `byname ${typeof r === 'number' ? r : 'thrown'}`; counts[k] = (counts[k] ?? 0) + 1; }
      // a trap inside send_commit is unwound to the reservation: the slice stays reserved
      // (the thread's op is OP_SEND, and every other command answers EINPROGRESS) until the
      // host commits or cancels it; commit it (the fault is spent, unwind cleared it)
      endAfterTrap(label, r);
    } else if (op === 'signal') {
      // broadcast and unicast signals: host vecs (a broadcast's are staged in the sender's
      // pool), padding and in-memory vecs, a random filter against the entries of 'match'
      const a = rnd.pick(conns);
      const dst = rnd.int(4) === 0 ? rnd.pick(conns).id : ALL;
      const items: Item[] = [], host: Uint8Array[] = [];
      for (let i = rnd.int(3); i >= 0; i--) {
        const size = rnd.pick([1, 8, 64, 500, 3000, 9000]), kind = rnd.int(3);
        if (kind === 0) { items.push(hostVec(size)); host.push(new Uint8Array(size).map(() => rnd.int(256))); }
        else if (kind === 1) items.push(vec(size, 0));
        else items.push(vec(Math.min(size, 1024), raws[0].cmd + 16384 + rnd.int(64) * 8));
      }
      const bits = rnd.int(256);
      const fill = new Uint8Array(2048).map(() => rnd.int(256));
      raws.forEach((raw) => raw.e.u8.set(fill, raw.cmd + 16384));
      // a broadcast meets, 1 time in 4, a receiver whose lock is held by a thread that is not
      // LIVE (an id past the thread table): the host gives its wait up at once and the
      // receiver is passed over (a loss counted if its entries accept the signal), the others get it
      const others = conns.filter((x) => x.slot !== a.slot);
      // (chosen by the step number, not drawn: the mix's random sequence stays as it was)
      const held = dst === ALL && others.length > 0 && step % 4 === 1 ? others[(step >> 2) % others.length] : undefined;
      const word = (raw: Raw) => (raw.e.connAddr(held!.slot) + A.CONN_LOCK) >>> 2;
      const dead = LIMITS.threads + 1;
      if (held) for (const raw of raws) assert.is(Atomics.compareExchange(raw.e.u32, word(raw), 0, dead), 0);
      const probe = step % 11 === 6 ? A.SEND_PROBE : 0; // (a probed broadcast is checked, not delivered)
      const r = both(label, (raw) => raw.send(a.slot, a.gen, { flags: probe, msg: { dst, flags: A.MSG_SIGNAL, cookie: BigInt(step) }, items: [...items, bloomFilter(raw, bits)], host: host.map((h) => h.slice()) }));
      if (held) {
        for (const raw of raws) Atomics.store(raw.e.u32, word(raw), 0);
        counts.heldReceiver = (counts.heldReceiver ?? 0) + 1;
      }
      endAfterTrap(label, r);
    } else if (op === 'match') {
      // MATCH_ADD / MATCH_REMOVE: NAME rules (names SEND and acquire use, a bad one), names in
      // NAME_* rules, ID and bloom rules; a table of LIMITS.matches entries fills up
      const c = rnd.pick(conns);
      const name = rnd.pick(['org.example.A', 'org.d.B', 'org.d.C', 'bad']);
      // an empty rule (every broadcast: they then deliver, with the metadata each subscriber asks
      // for, OWNED_NAME read once under the bus lock) 4 times in 10
      const k0 = rnd.int(10), k = k0 >= 7 ? 0 : k0, cookie = rnd.int(4);
      const items: Item[] = k === 0 ? []
        : k === 1 ? [{ type: A.ITEM_NAME, data: name }]
        : k === 2 ? [{ type: A.ITEM_NAME, data: name }, { type: A.ITEM_ID, data: [rnd.pick(conns).id] }]
        : k === 3 ? [nameNotify(rnd.pick([A.ITEM_NAME_ADD, A.ITEM_NAME_REMOVE, A.ITEM_NAME_CHANGE]), name)]
        : k === 4 ? [{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(bloomSize(raws[0])).map(() => rnd.int(2) * rnd.int(256)) }]
        : [{ type: A.ITEM_ID_ADD, data: [ALL, 0] }];
      const flags = rnd.int(4) === 0 ? A.MATCH_REPLACE : 0;
      both(label, (raw) => k === 6 ? raw.matchRemove(c.slot, c.gen, cookie) : raw.matchAdd(c.slot, c.gen, cookie, { flags, items }));
    } else if (op === 'recv') {
      const b = rnd.pick(conns);
      const flags = rnd.pick([0, 0, 0, A.RECV_PEEK, A.RECV_DROP, A.RECV_USE_PRIORITY, A.RECV_DROP | A.RECV_USE_PRIORITY]);
      const prio = BigInt(rnd.int(3) - 1);
      const m = both(label, (raw) => raw.recv(b.slot, b.gen, flags, prio));
      if (!isThrown(m) && m.r === 0 && (flags & A.RECV_DROP) === 0) {
        const list = published.get(b.slot)!;
        if (!list.includes(m.offset)) list.push(m.offset);
        // what the mix exercised: OWNED_NAME and TRUNCATED items received (same bytes on both)
        const e = raws[0].e, at = e.poolBase(b.slot) + m.offset, end = at + e.u32[at >>> 2];
        if (findItem(e.u32, at + A.MSG_HDR, end, A.ITEM_OWNED_NAME) >= 0) {
          tally.owned++;
          if (e.u32[(at + A.MSG_DST_ID) >>> 2] === U32_MAX && e.u32[(at + A.MSG_DST_ID + 4) >>> 2] === U32_MAX) tally.bcastOwned++;
        }
        if (findItem(e.u32, at + A.MSG_HDR, end, A.ITEM_TRUNCATED) >= 0) tally.truncated++;
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
      const l = both(label, (raw) => { const l = raw.list(c.slot, c.gen, flags, { keep: true }); return [l.r, l.offset, l.size, l.entries.length]; });
      // its slice is freed as a command of its own: an armed fault that LIST's stores did not
      // reach traps that FREE instead, and the slice stays published (freed later, as any)
      if (!isThrown(l) && l[0] === 0 && both(`${label} free`, (raw) => raw.free(c.slot, c.gen, l[1])) !== 0) published.get(c.slot)!.push(l[1]);
    } else if (op === 'byebye') {
      const i = rnd.int(conns.length);
      const c = conns[i];
      // faults stay armed: a close commits whole before it sends its notifications (its NAME_*
      // and ID_REMOVE are queued, notify.ts), so a trap leaves it undone or complete
      const r = both(label, (raw) => raw.byebye(c.slot, c.gen));
      // a trap in a notification's delivery comes after the close was committed: the
      // connection is closed all the same
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
      // each op is drawn with a fixed weight (send 4/23, recv 3/23, signal 3/23, hello 2/23 (a
      // third of them monitors or activators), match 1/23, fault 1/23, kill 1/23, of which about
      // half end in a death): well below those rates, for any step count
      const min = (k: string, rate: number) => assert.ok((counts[k] ?? 0) >= Math.floor(STEPS * rate),
        `the commands were exercised (${k}): ${JSON.stringify(counts)}`);
      min('send', 1 / 9); min('recv', 1 / 12); min('signal', 1 / 12); min('match', 1 / 40); min('fault', 1 / 40); min('killed', 1 / 120);
      min('monitor', 1 / 600); min('activator', 1 / 600); min('heldReceiver', 1 / 300);
    });
  }
}

test('the mix carried OWNED_NAME items (names owned by senders, receivers asking; in broadcasts too) and TRUNCATED items (a long command line)', () => {
  console.log(`(received: ${tally.owned} messages with OWNED_NAME, ${tally.bcastOwned} of them broadcasts; ${tally.truncated} with TRUNCATED)`);
  if (process.env.WASMBUS_SEEDS || process.env.WASMBUS_STEPS) return; // counted for the default seeds and steps only
  assert.ok(tally.owned >= 20, `OWNED_NAME: ${tally.owned} messages`);
  assert.ok(tally.bcastOwned >= 3, `OWNED_NAME in broadcasts: ${tally.bcastOwned} messages`);
  assert.ok(tally.truncated >= 4, `TRUNCATED: ${tally.truncated} messages`); // 4 (was 5) since BYEBYE keeps its faults (the mix changed: 4 with the default seeds)
});

test.run();
