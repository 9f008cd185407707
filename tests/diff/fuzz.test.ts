// Fuzz: mostly-valid commands with random bytes mutated, through both engines on two buses.
// Every command must return a result (no trap), both engines must agree on it and on every
// byte of bus state, and a command that fails must leave the bus exactly as it was (the
// state image of tests/helpers/check.ts, which leaves out only the counters that move
// without a lock). The bus stays consistent throughout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { makeBus, closeAll } from '../helpers/harness.ts';
import { Raw, hostVec, vec, str, type Item } from '../helpers/raw.ts';
import { checkBus, stateImage, firstDifference } from '../helpers/check.ts';

function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n: number) => Math.floor(next() * n), pick: <T>(a: T[]): T => a[Math.floor(next() * a.length)] };
}

const LIMITS = { threads: 2, connections: 4, poolMax: 16384, names: 4, matches: 4, replies: 4 };

async function run(seed: number, steps: number) {
  const W = await makeBus({ limits: LIMITS }, 'wasm');
  const T = await makeBus({ limits: LIMITS }, 'twin');
  const raws = [new Raw(W.bus.engine), new Raw(T.bus.engine)];
  const rnd = prng(seed);
  const end = W.bus.userRegion;
  // two connections with traffic, on both buses alike
  const setup = (raw: Raw) => {
    const a = raw.hello({ poolSize: 16384, attachSend: 3, attachRecv: 3 }), b = raw.hello({ poolSize: 8192 });
    raw.free(a.slot, a.gen, a.offset);
    raw.free(b.slot, b.gen, b.offset);
    for (let i = 0; i < 4; i++) raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: i }, items: [hostVec(50 + i)] });
    raw.recv(b.slot, b.gen);
    return [a, b];
  };
  const hs = raws.map(setup);
  const conns = [...hs[0]];
  let failures = 0, successes = 0;
  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['hello', 'send', 'send', 'send', 'recv', 'free', 'byebye']);
    const c = rnd.pick(conns);
    // a valid command, written into both command areas
    const items: Item[] = [];
    if (op === 'send') {
      if (rnd.int(2)) items.push(hostVec(1 + rnd.int(200)));
      if (rnd.int(3) === 0) items.push(vec(1 + rnd.int(64), raws[0].cmd + 20000));
      if (rnd.int(6) === 0) items.push(str(A.ITEM_DST_NAME, 'org.example.A'));
    }
    // every random choice is made here, once: both sides then get the same bytes
    const helloItems: Item[] = rnd.int(2) ? [str(A.ITEM_CONN_DESCRIPTION, 'fz')] : [];
    const dst = rnd.int(8) ? conns[rnd.int(2)].id : 3;
    const recvFlags = rnd.int(2) ? 0 : 1;
    const freeOff = 32 + 8 * rnd.int(200);
    const muts: [number, number][] = [];
    for (let k = 1 + rnd.int(4); k > 0; k--) muts.push([rnd.int(160), rnd.int(256)]);
    const before = stateImage(raws[0].e);
    const results = raws.map((raw) => {
      const e = raw.e;
      // a valid command, then a few random bytes of its first 160 bytes changed
      if (op === 'hello') raw.writeHello({ poolSize: 4096, items: helloItems });
      if (op === 'send') raw.writeSend({ msg: { dst }, items });
      if (op === 'recv') { raw.w64(raw.cmd, A.RECV_CMD_SIZE); raw.w64(raw.cmd + 8, recvFlags); raw.w64(raw.cmd + 24, 0); }
      if (op === 'free') { raw.w64(raw.cmd, A.FREE_CMD_SIZE); raw.w64(raw.cmd + 8, 0); raw.w64(raw.cmd + 24, freeOff); }
      if (op === 'byebye') { raw.w64(raw.cmd, A.BYEBYE_CMD_SIZE); raw.w64(raw.cmd + 8, 0); }
      for (const [o, v] of muts) e.u8[raw.cmd + o] = v;
      switch (op) {
        case 'hello': return e.hello();
        case 'send': {
          const r = e.send(c.slot, c.gen);
          return r === A.SEND_PENDING ? (e.sendCommit(), A.SEND_PENDING) : r;
        }
        case 'recv': return e.recv(c.slot, c.gen);
        case 'free': return e.free(c.slot, c.gen);
        default: return e.byebye(c.slot, c.gen);
      }
    });
    assert.is(results[1], results[0], `seed ${seed} step ${step} ${op}: results differ`);
    const d = firstDifference(stateImage(raws[0].e), stateImage(raws[1].e));
    assert.is(d, -1, `seed ${seed} step ${step} ${op}: bus bytes differ at ${d}`);
    const r = results[0];
    if (r < 0 && r !== -A.EAGAIN) {
      failures++;
      assert.is(firstDifference(before, stateImage(raws[0].e)), -1, `seed ${seed} step ${step} ${op} failed with ${r} and changed the bus`);
    } else successes++;
    if (step % 50 === 0) for (const raw of raws) assert.equal(checkBus(raw.e), [], `seed ${seed} step ${step}: consistent`);
    if (op === 'byebye' && r === 0) {
      // that connection is gone: a new one takes its place, on both sides alike
      const fresh = raws.map((raw) => {
        const h = raw.hello({ poolSize: 8192 });
        raw.free(h.slot, h.gen, h.offset);
        return h;
      });
      assert.is(fresh[1].slot, fresh[0].slot);
      conns[conns.indexOf(c)] = fresh[0];
    }
    if (op === 'hello' && r >= 0) {
      // the new connection: free its HELLO slice and close it, on both sides alike
      raws.forEach((raw) => {
        const off = raw.r64(raw.cmd + A.HELLO_OFFSET);
        raw.free(r, raw.e.connGen(r), off);
        assert.is(raw.byebye(r, raw.e.connGen(r)), 0);
      });
    }
  }
  for (const raw of raws) assert.equal(checkBus(raw.e), []);
  void end;
  raws.forEach((raw) => {
    // drain, free what is published, close
    const e = raw.e, n = LIMITS.connections;
    for (let s = 0; s < n; s++) {
      const ca = e.connAddr(s);
      if (e.u32[(ca + A.CONN_STATE) >>> 2] !== A.CONN_ACTIVE) continue;
      const gen = e.connGen(s);
      while (raw.recv(s, gen, A.RECV_DROP).r === 0);
      for (let p = e.u32[(ca + A.CONN_PUB) >>> 2]; p !== 0; p = e.u32[(ca + A.CONN_PUB) >>> 2]) raw.free(s, gen, p + A.BLOCK_HDR - e.poolBase(s));
    }
    closeAll(e, raw);
  });
  return { failures, successes };
}

for (const seed of [11, 12, 13, 14]) {
  test(`fuzzed commands: no trap, both engines agree, a failed command changes nothing (seed ${seed})`, async () => {
    const { failures, successes } = await run(seed, 800);
    assert.ok(failures > 20 && successes > 5, `both outcomes exercised: ${failures} failed, ${successes} succeeded`);
  });
}

test.run();
