#!/usr/bin/env node
// bench: single-thread unicast SEND + RECV + FREE, wasm core vs TS twin, with the public API
// on top of each and a MessageChannel baseline (`npm run bench`, after `npm run build`).
//
// As dequal's benchmark does: every contender's output is validated first, for every size
// (one message with a known pattern: exact bytes, length, sender id, receiver id, cookie,
// and the pool empty again after FREE); a contender that fails is dropped with the reason
// printed. Only then is it timed.
//
// Contenders:
//   wasm, twin          the engine-level raw path, as Connection.send drives it: the SEND
//                       command, its message header and host vec written into engine.cmd
//                       every message with the host codec (js/cmd/: SEND.encode, encodeMsg,
//                       items.putHostVec), send -> SEND_PENDING -> u8.set into the address
//                       the core wrote back -> sendCommit -> RECV.encode, RECV -> the offset
//                       -> FREE.encode, FREE. No JS allocation per message.
//   wasm api, twin api  conn.send(dst, payload) / rx.recv() / m.free().
//   MessageChannel      port1.postMessage(payload) -> port2.onmessage (structured clone, so
//                       one copy, as the bus makes one); messages are posted in rounds of
//                       MC_ROUND and each round awaited. There is no sender id to check.
//
// Timing: each contender lives in its own child process (so V8's type feedback of one
// engine never makes the other's call sites polymorphic), driven by this process over IPC.
// Per size, each child warms up (doubling the message count until a batch takes a quarter
// of the target and WARM_MS have passed), scales the count to the target time and runs one
// more batch untimed; then REPS rounds time one batch of every contender in turn (rotating
// who goes first), so load from outside the benchmark hits all contenders alike. Reported:
// the median ns/message and the spread (max - min) / 2 / median. After the reps, one more
// message is validated and the pool must be empty.
//
// Lookups (a second table): the same raw path on buses that are large in one dimension, to
// show that a look-up does not grow with it (issue 6, item 5). Contenders 'wasm lookups' and
// 'twin lookups', one row per case, each timed like a size above:
//   send → slot 1 / slot 7999 of 8000   8000 connections (pools of 4 KiB); SEND of an empty
//                       message from slot 0 to the connection in slot 1 or in slot 7999 (by
//                       id, through the id table), then RECV with DROP at the receiver
//   free, 100 / 16000 held              a receiver holding that many received, unfreed
//                       messages (pool of 4 MiB); SEND, RECV, then FREE of the oldest held
//                       message (arrival order, the order that was quadratic with a list)
// Each case checks its setup (the slot, the number held) and that the loop leaves it as found.
//
// Names and calls (a third table, contenders 'wasm ops' and 'twin ops'), one thread, a 64-byte
// payload, per operation:
//   send by id / by name   conn.send(rx.id | 'org.example.Bench', bytes), rx.recv(), m.free()
//                          (by name: the DST_NAME item and the name registry's look-up)
//   call + reply, API      p = tx.call(rx.id, bytes); m = rx.recv(); rx.reply(m, bytes);
//                          m.free(); (await p).free(): the pending-call record, the reply
//                          routed to its call by cookie, one promise per call
//   call + reply, raw      the same commands through the host codec, no promise: SEND with
//                          EXPECT_REPLY and a deadline, RECV, the reply's SEND (cookie_reply),
//                          FREE, RECV at the caller, FREE
//   ... 896 other calls    the raw call on a bus where 8 other connections have 896 calls
//       pending            pending (to 4 receivers that never answer): what every call and
//                          reply pays for the reply table's other records (BUS_VERSION 9:
//                          nothing; before, a scan of them under the bus lock)
//   callMethod + dispatch  a D-Bus method call to an exported method (js/objects.ts):
//                          encode, call, recv, dispatch (decode, look-up, handler, encode the
//                          reply, reply), free, await, decode the reply
// Each validates its output (bytes, ids, cookies, the reply body) before it is timed.
//
// Usage: node bench/run.mjs [--quick] [--json] [--only=wasm,twin,...]
//   --quick  3 reps of ~20 ms instead of 7 of ~100 ms (about 4 s in all instead of about 21 s)
//   --json   print the results as JSON instead of the Markdown table
// Exit code 1 if any contender was dropped (failed validation or crashed).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { Bus, MockProvider, PAYLOAD_WASMBUS, abi as A } from '../dist/js/index.js';
import { SEND, RECV, FREE, items } from '../dist/js/cmd/index.js';

const SIZES = [0, 64, 1024, 65536];
const CONTENDERS = ['wasm', 'twin', 'wasm api', 'twin api', 'MessageChannel', 'wasm lookups', 'twin lookups', 'wasm ops', 'twin ops'];
/** the lookup cases: [key, label] */
const CASES = [
  ['send1', 'send → slot 1 of 8000'],
  ['send7999', 'send → slot 7999 of 8000'],
  ['free100', 'free, 100 held'],
  ['free16000', 'free, 16000 held'],
];
/** the names-and-calls cases: [key, label] */
const OPS = [
  ['byId', 'send by id, 64 B (API)'],
  ['byName', 'send by name, 64 B (API)'],
  ['callApi', 'call + reply, 64 B (call API)'],
  ['callRaw', 'call + reply, 64 B (raw)'],
  ['callBusy', 'call + reply, 64 B (raw), 896 other calls pending'],
  ['callMethod', 'callMethod + dispatch (D-Bus, ii -> i)'],
];
const LOOKUP_CONNS = 8000;
/** calls of other connections pending in the callBusy case (8 callers × 112, under MAX_PENDING_REPLIES each) */
const BUSY_CALLS = 896;
const MC_ROUND = 100;
// PAYLOAD_WASMBUS, "wasmbus\0" as a little-endian u64 (above 2^53: kept as its two halves)
const PAYLOAD_TYPE_LO = 0x6d736177, PAYLOAD_TYPE_HI = 0x00737562;
if ((BigInt(PAYLOAD_TYPE_HI) << 32n | BigInt(PAYLOAD_TYPE_LO)) !== PAYLOAD_WASMBUS) throw new Error('bench: PAYLOAD_WASMBUS moved');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
const QUICK = flag('--quick');
const REPS = QUICK ? 3 : 7;
const TARGET_MS = QUICK ? 20 : 100;
// minimum warm-up per size: the twin needs ~40 ms of running before TurboFan code settles
const WARM_MS = QUICK ? 60 : 200;

// ---------------------------------------------------------------------------------------
// Contenders: each has validate(size) -> null or a reason, loop(payload, n), close().
// ---------------------------------------------------------------------------------------

/** The payload of a size: a position-dependent pattern that is never all zeros. */
function pattern(size) {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + size + 7) & 255;
  return p;
}

function sameBytes(got, want) {
  if (got.length !== want.length) return `length ${got.length}, want ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) return `byte ${i} is ${got[i]}, want ${want[i]}`;
  }
  return null;
}

async function openBus(engine) {
  const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: 4, poolMax: 1 << 20 } });
  return { bus, tx: bus.connect(), rx: bus.connect() };
}

/** The engine-level raw path. */
async function rawContender(engine) {
  const { bus, tx, rx } = await openBus(engine);
  const e = bus.engine;
  const { u8, u32 } = e;
  const cmd = e.cmd;
  const msg = cmd + SEND.MSG; // the message right after the command, as Connection.send
  const vec = msg + A.MSG_HDR;
  const txSlot = tx.slot, txGen = tx.gen, rxSlot = rx.slot, rxGen = rx.gen, rxId = rx.id;
  let msgSize = 0, hasVec = false;
  function prepare(len) {
    hasVec = len > 0;
    msgSize = A.MSG_HDR + (hasVec ? A.VEC_ITEM_SIZE : 0);
  }
  /** SEND (and the copy and commit of a host vec): 0 or -errno. */
  function sendOne(payload, cookie) {
    if (hasVec) items.putHostVec(u32, vec, payload.length);
    SEND.encodeMsg(u32, msg, msgSize, 0, 0, rxId, cookie, 0);
    SEND.encode(u32, cmd, msg, 0);
    const r = e.send(txSlot, txGen);
    if (r !== A.SEND_PENDING) return r;
    u8.set(payload, SEND.vecDestination(u32, vec));
    return e.sendCommit();
  }
  /** RECV: the slice offset (>= BLOCK_HDR), or -errno. */
  function recvOne() {
    RECV.encode(u32, cmd, 0, 0);
    const r = e.recv(rxSlot, rxGen);
    return r < 0 ? r : RECV.offset(u32, cmd);
  }
  /** FREE: 0 or -errno. */
  function freeOne(offset) {
    FREE.encode(u32, cmd, offset);
    return e.free(rxSlot, rxGen);
  }
  const get64 = (addr) => u32[(addr >>> 2) + 1] * 4294967296 + u32[addr >>> 2];

  return {
    prepare,
    validate(size) {
      const want = pattern(size);
      prepare(size);
      const cookie = 0x5eed + size;
      let r = sendOne(want, cookie);
      if (r !== 0) return `send returned ${r}`;
      if (e.queued(rxSlot) !== 1) return `${e.queued(rxSlot)} messages queued after send, want 1`;
      const off = recvOne();
      if (off < 0) return `recv returned ${off}`;
      const m = e.poolBase(rxSlot) + off;
      const end = m + get64(cmd + A.RECV_MSG_SIZE);
      const why = (() => {
        if (get64(m + A.MSG_SIZE) !== end - m) return `msg.size ${get64(m + A.MSG_SIZE)} != recv msg_size ${end - m}`;
        if (get64(m + A.MSG_SRC_ID) !== tx.id) return `src id ${get64(m + A.MSG_SRC_ID)}, want ${tx.id}`;
        if (get64(m + A.MSG_DST_ID) !== rx.id) return `dst id ${get64(m + A.MSG_DST_ID)}, want ${rx.id}`;
        if (get64(m + A.MSG_COOKIE) !== cookie) return `cookie ${get64(m + A.MSG_COOKIE)}, want ${cookie}`;
        if (u32[(m + A.MSG_PAYLOAD_TYPE) >>> 2] !== PAYLOAD_TYPE_LO ||
          u32[((m + A.MSG_PAYLOAD_TYPE) >>> 2) + 1] !== PAYLOAD_TYPE_HI) return 'wrong payload type';
        const vecs = [];
        let p = m + A.MSG_HDR;
        for (let n = 0; (n = items.itemSize(u32, p, end)) !== 0; p += items.align8(n)) {
          if (items.itemType(u32, p) === A.ITEM_PAYLOAD_OFF) vecs.push(p);
        }
        if (p !== end) return `malformed item at ${p - m} of a message of ${end - m} bytes`;
        if (vecs.length !== (size > 0 ? 1 : 0)) return `${vecs.length} PAYLOAD_OFF items, want ${size > 0 ? 1 : 0}`;
        if (size === 0) return null;
        const len = get64(vecs[0] + A.VEC_SIZE), at = m + get64(vecs[0] + A.VEC_ADDRESS);
        if (at + len > e.poolBase(rxSlot) + rx.poolSize) return 'payload outside the pool';
        return sameBytes(u8.subarray(at, at + len), want);
      })();
      r = freeOne(off);
      if (why) return why;
      if (r !== 0) return `free returned ${r}`;
      if (e.queued(rxSlot) !== 0 || e.poolUsed(rxSlot) !== 0) return `pool not empty after free (${e.poolUsed(rxSlot)} bytes)`;
      return null;
    },
    loop(payload, n) {
      for (let i = 0; i < n; i++) {
        let r = sendOne(payload, i + 1);
        if (r !== 0) throw new Error(`send returned ${r}`);
        const off = recvOne();
        if (off < 0) throw new Error(`recv returned ${off}`);
        r = freeOne(off);
        if (r !== 0) throw new Error(`free returned ${r}`);
      }
    },
    empty: () => e.queued(rxSlot) === 0 && e.poolUsed(rxSlot) === 0,
    close() { tx.close(); rx.close(); bus.close(); },
  };
}

/** The public API. */
async function apiContender(engine) {
  const { bus, tx, rx } = await openBus(engine);
  const dst = rx.id;
  return {
    prepare() {},
    validate(size) {
      const want = pattern(size);
      const cookie = tx.send(dst, want);
      const m = rx.recv();
      if (m === null) return 'recv returned no message';
      const why = m.src !== tx.id ? `src id ${m.src}, want ${tx.id}`
        : m.payloadType !== PAYLOAD_WASMBUS ? `payload type ${m.payloadType}, want ${PAYLOAD_WASMBUS}`
        : m.dst !== rx.id ? `dst id ${m.dst}, want ${rx.id}`
        : m.cookie !== cookie ? `cookie ${m.cookie}, want ${cookie}`
        : sameBytes(m.payload, want);
      m.free();
      if (why) return why;
      if (rx.queued !== 0 || rx.poolUsed !== 0) return `pool not empty after free (${rx.poolUsed} bytes)`;
      return null;
    },
    loop(payload, n) {
      for (let i = 0; i < n; i++) {
        tx.send(dst, payload);
        rx.recv().free();
      }
    },
    empty: () => rx.queued === 0 && rx.poolUsed === 0,
    close() { tx.close(); rx.close(); bus.close(); },
  };
}

/** The baseline: a MessageChannel within one thread. */
async function channelContender() {
  const { port1, port2 } = new MessageChannel();
  let want = 0, got = 0, last = null, done = null;
  port2.onmessage = (ev) => {
    last = ev.data;
    if (++got === want) done();
  };
  const round = (payload, k) => new Promise((resolve) => {
    got = 0; want = k; done = resolve;
    for (let j = 0; j < k; j++) port1.postMessage(payload);
  });
  return {
    prepare() {},
    async validate(size) {
      const sent = pattern(size);
      last = null;
      await round(sent, 1);
      if (!(last instanceof Uint8Array)) return `received ${Object.prototype.toString.call(last)}, want a Uint8Array`;
      if (last === sent || (size > 0 && last.buffer === sent.buffer)) return 'received the sender\'s own buffer, not a copy';
      return sameBytes(last, pattern(size));
    },
    async loop(payload, n) {
      for (let sent = 0; sent < n; sent += MC_ROUND) await round(payload, Math.min(MC_ROUND, n - sent));
      last = null;
    },
    empty: () => true,
    close() { port1.close(); port2.close(); },
  };
}

/** The lookup cases on one engine: a large bus per kind of case, made on first use. */
async function lookupContender(engine) {
  let sendBus = null, freeBus = null;
  async function makeSendBus() {
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 2, connections: LOOKUP_CONNS, poolMax: 4096 } });
    const conns = [];
    for (let i = 0; i < LOOKUP_CONNS; i++) conns.push(bus.connect({ poolSize: 4096 }));
    return { bus, conns };
  }
  async function makeFreeBus() {
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 2, connections: 2, poolMax: 4 << 20 } });
    return { bus, tx: bus.connect({ poolSize: 4096 }), rx: bus.connect() };
  }
  // the current case
  let key = '', loop = null, check = null, cleanup = null;

  /** Raw commands on engine `e`, through the host codec: an empty message from `tx` to `rx`, RECV, FREE. */
  function rawOps(e, tx, rx) {
    const { u32 } = e, cmd = e.cmd, msg = cmd + SEND.MSG;
    const txSlot = tx.slot, txGen = tx.gen, rxSlot = rx.slot, rxGen = rx.gen, rxId = rx.id;
    return {
      send(cookie) {
        SEND.encodeMsg(u32, msg, A.MSG_HDR, 0, 0, rxId, cookie, 0);
        SEND.encode(u32, cmd, msg, 0);
        return e.send(txSlot, txGen);
      },
      /** RECV (flags): the offset, or -errno */
      recv(flags) {
        RECV.encode(u32, cmd, flags, 0);
        const r = e.recv(rxSlot, rxGen);
        return r < 0 ? r : RECV.offset(u32, cmd);
      },
      free(off) {
        FREE.encode(u32, cmd, off);
        return e.free(rxSlot, rxGen);
      },
    };
  }


  async function setup(k) {
    if (k === key) return;
    cleanup?.();
    key = k; loop = null; check = null; cleanup = null;
    if (k.startsWith('send')) {
      sendBus ??= await makeSendBus();
      const { bus, conns } = sendBus;
      const slot = Number(k.slice(4));
      const tx = conns[0], rx = conns[slot];
      if (rx.slot !== slot || tx.slot !== 0) throw new Error(`connection in slot ${rx.slot}, want ${slot}`);
      const ops = rawOps(bus.engine, tx, rx);
      loop = (n) => {
        for (let i = 0; i < n; i++) {
          let r = ops.send(i + 1);
          if (r !== 0) throw new Error(`send returned ${r}`);
          r = ops.recv(A.RECV_DROP);
          if (r < 0) throw new Error(`recv returned ${r}`);
        }
      };
      check = () => (bus.engine.queued(slot) === 0 && bus.engine.poolUsed(slot) === rx.poolUsed ? null : `slot ${slot} not as it was`);
    } else {
      freeBus ??= await makeFreeBus();
      const { bus, tx, rx } = freeBus;
      const held = Number(k.slice(4));
      const ops = rawOps(bus.engine, tx, rx);
      // a ring of the offsets held, oldest first
      const ring = new Int32Array(held);
      let first = 0;
      for (let i = 0; i < held; i++) {
        const r = ops.send(i + 1);
        if (r !== 0) throw new Error(`send returned ${r} with ${i} held`);
        ring[i] = ops.recv(0);
        if (ring[i] < 0) throw new Error(`recv returned ${ring[i]}`);
      }
      const used = bus.engine.poolUsed(rx.slot);
      loop = (n) => {
        for (let i = 0; i < n; i++) {
          let r = ops.send(i + 1);
          if (r !== 0) throw new Error(`send returned ${r}`);
          const off = ops.recv(0);
          if (off < 0) throw new Error(`recv returned ${off}`);
          r = ops.free(ring[first]);
          if (r !== 0) throw new Error(`free returned ${r}`);
          ring[first] = off;
          first = first + 1 === held ? 0 : first + 1;
        }
      };
      check = () => (bus.engine.poolUsed(rx.slot) === used && bus.engine.queued(rx.slot) === 0 ? null : `${bus.engine.poolUsed(rx.slot)} pool bytes used, want ${used}`);
      cleanup = () => {
        for (let i = 0; i < held; i++) {
          const r = ops.free(ring[(first + i) % held]);
          if (r !== 0) throw new Error(`free returned ${r} at cleanup`);
        }
      };
    }
  }

  return {
    rows: CASES.map(([k]) => k),
    async prepare(k) { await setup(k); },
    async validate(k) {
      await setup(k);
      loop(3);
      return check();
    },
    loop(_payload, n) { loop(n); },
    empty: () => check() === null,
    close() {
      cleanup?.();
      if (sendBus) { for (const c of sendBus.conns) c.close(); sendBus.bus.close(); }
      if (freeBus) { freeBus.tx.close(); freeBus.rx.close(); freeBus.bus.close(); }
    },
  };
}

/**
 * Raw calls through the host codec on engine `e` (the ops cases): rawSend of `payload` from
 * (slot, gen) to `dst` with flags and the timeout word (deadline or cookie_reply), and
 * rawCall(deadline): one call from `tx` to `rx` and its reply (SEND, RECV, the reply's SEND,
 * FREE, RECV, FREE), returning the reply's cookie_reply; rawCall.next() is the cookie it will use.
 */
function rawKit(e, tx, rx, payload) {
  const { u8, u32 } = e, cmd = e.cmd, msg = cmd + SEND.MSG, vec = msg + A.MSG_HDR;
  const get64 = (addr) => u32[(addr >>> 2) + 1] * 4294967296 + u32[addr >>> 2];
  function rawSend(slot, gen, dst, flags, cookie, timeout) {
    items.putHostVec(u32, vec, payload.length);
    SEND.encodeMsg(u32, msg, A.MSG_HDR + A.VEC_ITEM_SIZE, flags, 0, dst, cookie, timeout);
    SEND.encode(u32, cmd, msg, 0);
    const r = e.send(slot, gen);
    if (r !== A.SEND_PENDING) return r;
    u8.set(payload, SEND.vecDestination(u32, vec));
    return e.sendCommit();
  }
  function rawRecv(slot, gen) {
    RECV.encode(u32, cmd, 0, 0);
    const r = e.recv(slot, gen);
    return r < 0 ? r : RECV.offset(u32, cmd);
  }
  function rawFree(slot, gen, off) {
    FREE.encode(u32, cmd, off);
    return e.free(slot, gen);
  }
  let cookie = 1;
  function rawCall(deadline) {
    const c = cookie++;
    let r = rawSend(tx.slot, tx.gen, rx.id, A.MSG_EXPECT_REPLY, c, deadline);
    if (r !== 0) throw new Error(`call send returned ${r}`);
    const off = rawRecv(rx.slot, rx.gen);
    if (off < 0) throw new Error(`recv (callee) returned ${off}`);
    r = rawSend(rx.slot, rx.gen, tx.id, 0, c, get64(e.poolBase(rx.slot) + off + A.MSG_COOKIE));
    if (r !== 0) throw new Error(`reply send returned ${r}`);
    r = rawFree(rx.slot, rx.gen, off);
    if (r !== 0) throw new Error(`free (callee) returned ${r}`);
    const off2 = rawRecv(tx.slot, tx.gen);
    if (off2 < 0) throw new Error(`recv (caller) returned ${off2}`);
    const cr = get64(e.poolBase(tx.slot) + off2 + A.MSG_TIMEOUT);
    r = rawFree(tx.slot, tx.gen, off2);
    if (r !== 0) throw new Error(`free (caller) returned ${r}`);
    return cr;
  }
  rawCall.next = () => cookie;
  return { rawSend, rawCall };
}

/** Names and calls on one engine (the OPS cases): one bus, tx and rx, rx owning a name and exporting Add. */
async function opsContender(engine) {
  const { bus, tx, rx } = await openBus(engine);
  const NAME = 'org.example.Bench';
  if (rx.requestName(NAME) !== 'primary') throw new Error('the bench name is taken');
  rx.export('/bench', 'org.example.Bench', { Add: { in: 'ii', out: 'i', handler: ([a, b]) => [a + b] } });
  const CALL = { destination: NAME, path: '/bench', interface: 'org.example.Bench', member: 'Add', signature: 'ii', body: [20, 22] };
  const payload = pattern(64);
  const e = bus.engine;
  const { rawCall, rawSend } = rawKit(e, tx, rx, payload);
  // the busy case: the same raw call on a bus where BUSY_CALLS calls of 8 other connections
  // (to 4 receivers that never answer) hold records in the reply table
  let busy = null;
  const makeBusy = async () => {
    const b = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: 16, replies: 1024, poolMax: 1 << 20 } });
    const btx = b.connect(), brx = b.connect();
    const callers = Array.from({ length: 8 }, () => b.connect()), idles = Array.from({ length: 4 }, () => b.connect());
    const kit = rawKit(b.engine, btx, brx, payload);
    const far = b.engine.monotonicNs() + 3600e9;
    for (let i = 0; i < BUSY_CALLS; i++) {
      const c = callers[i % 8];
      const r = kit.rawSend(c.slot, c.gen, idles[i % 4].id, A.MSG_EXPECT_REPLY, 1e6 + i, far);
      if (r !== 0) throw new Error(`a pending call's send returned ${r}`);
    }
    if (b.stats().calls.pending !== BUSY_CALLS) throw new Error(`${b.stats().calls.pending} calls pending, want ${BUSY_CALLS}`);
    return { b, btx, brx, kit, close() { for (const c of [...idles, ...callers]) { while (c.drop()); c.close(); } btx.close(); brx.close(); b.close(); } };
  };
  const deadline = () => e.monotonicNs() + 60e9;
  let key = '';
  const loops = {
    byId(n) { for (let i = 0; i < n; i++) { tx.send(rx.id, payload); rx.recv().free(); } },
    byName(n) { for (let i = 0; i < n; i++) { tx.send(NAME, payload); rx.recv().free(); } },
    async callApi(n) {
      for (let i = 0; i < n; i++) {
        const p = tx.call(rx.id, payload);
        const m = rx.recv();
        rx.reply(m, payload);
        m.free();
        (await p).free();
      }
    },
    callRaw(n) { const d = deadline(); for (let i = 0; i < n; i++) rawCall(d); },
    callBusy(n) { const d = busy.b.engine.monotonicNs() + 60e9; for (let i = 0; i < n; i++) busy.kit.rawCall(d); },
    async callMethod(n) {
      for (let i = 0; i < n; i++) {
        const p = tx.callMethod(CALL);
        const m = rx.recv();
        rx.dispatch(m);
        m.free();
        await p;
      }
    },
  };
  const checks = {
    byId() { const c = tx.send(rx.id, payload); const m = rx.recv(); const why = m.src !== tx.id ? `src ${m.src}` : m.cookie !== c ? 'cookie' : sameBytes(m.payload, payload); m.free(); return why; },
    byName() { tx.send(NAME, payload); const m = rx.recv(); const why = m.src !== tx.id ? `src ${m.src}` : m.dst !== rx.id ? `dst ${m.dst}` : sameBytes(m.payload, payload); m.free(); return why; },
    async callApi() {
      const p = tx.call(rx.id, payload);
      const m = rx.recv();
      if (!m.expectsReply) return 'the call has no EXPECT_REPLY';
      const c = m.cookie;
      rx.reply(m, payload);
      m.free();
      const r = await p;
      const why = r.cookieReply !== c ? `cookie_reply ${r.cookieReply}, want ${c}` : r.src !== rx.id ? `reply src ${r.src}` : sameBytes(r.payload, payload);
      r.free();
      return why ?? (tx.pendingCalls !== 0 ? 'a call still pending' : null);
    },
    callRaw() { const c = rawCall.next(); const cr = rawCall(deadline()); return cr === c ? null : `cookie_reply ${cr}, want ${c}`; },
    async callBusy() {
      busy ??= await makeBusy();
      const c = busy.kit.rawCall.next(), cr = busy.kit.rawCall(busy.b.engine.monotonicNs() + 60e9);
      return cr !== c ? `cookie_reply ${cr}, want ${c}` : busy.b.stats().calls.pending !== BUSY_CALLS ? 'the other calls are not all pending' : null;
    },
    async callMethod() {
      const p = tx.callMethod(CALL);
      const m = rx.recv();
      if (m?.dbus?.header.member !== 'Add') return 'rx did not receive the D-Bus call';
      if (rx.dispatch(m) !== 1) return 'dispatch did not answer the call';
      m.free();
      const r = await p;
      return r.length === 1 && r[0] === 42 ? null : `reply ${JSON.stringify(r)}, want [42]`;
    },
  };
  const quiet = (e, tx, rx) => e.queued(tx.slot) === 0 && e.queued(rx.slot) === 0 && e.poolUsed(tx.slot) === 0 && e.poolUsed(rx.slot) === 0 && tx.pendingCalls === 0;
  const empty = () => (key === 'callBusy' ? quiet(busy.b.engine, busy.btx, busy.brx) : quiet(e, tx, rx));
  return {
    rows: OPS.map(([k]) => k),
    prepare(k) { key = k; },
    async validate(k) {
      key = k;
      const why = await checks[k]();
      return why ?? (empty() ? null : 'a queue or pool not empty afterwards');
    },
    loop(_payload, n) { return loops[key](n); },
    empty,
    close() { rx.releaseName(NAME); tx.close(); rx.close(); bus.close(); busy?.close(); },
  };
}

function makeContender(name) {
  switch (name) {
    case 'wasm': case 'twin': return rawContender(name);
    case 'wasm api': return apiContender('wasm');
    case 'twin api': return apiContender('twin');
    case 'MessageChannel': return channelContender();
    case 'wasm lookups': return lookupContender('wasm');
    case 'twin lookups': return lookupContender('twin');
    case 'wasm ops': return opsContender('wasm');
    case 'twin ops': return opsContender('twin');
    default: throw new Error(`unknown contender ${JSON.stringify(name)}`);
  }
}

/** Validate a contender at every size (or case): a list of { size, reason } failures. */
async function validateAll(c) {
  const failures = [];
  for (const size of c.rows ?? SIZES) {
    let reason;
    try {
      reason = await c.validate(size);
    } catch (err) {
      reason = `threw ${errText(err)}`;
    }
    if (reason) failures.push({ size, reason });
  }
  return failures;
}

const errText = (err) => (err && err.message ? err.message : String(err));

// ---------------------------------------------------------------------------------------
// Child: one contender, driven by the parent over IPC
//   (start)          -> { dropped: [{ size, reason }] }   validation at every size
//                       or { setup: reason }            the contender could not be made
//   { op: 'warm', size } -> { n }                        warm up, calibrate the batch
//   { op: 'rep' }    -> { ns }                           one timed batch, ns per message
//   { op: 'check' }  -> { reason }                       empty pool, then validate again
//   { op: 'exit' }
// ---------------------------------------------------------------------------------------

async function timeBatch(c, payload, n) {
  const t0 = performance.now();
  const r = c.loop(payload, n);
  if (r) await r;
  return performance.now() - t0;
}

async function child(name) {
  const reply = (m) => process.send(m);
  let c;
  try {
    c = await makeContender(name);
  } catch (err) {
    reply({ setup: errText(err) });
    process.disconnect();
    return;
  }
  reply({ dropped: await validateAll(c) });
  let size = 0, payload = null, n = 0;
  process.on('message', async (m) => {
    try {
      if (m.op === 'warm') {
        size = m.size;
        payload = typeof size === 'number' ? pattern(size) : null;
        await c.prepare(size);
        // double the count until a batch takes a quarter of the target and WARM_MS have
        // been spent, then scale it to the target and run one more batch untimed
        n = 16;
        let ms = await timeBatch(c, payload, n), warm = ms;
        while (ms < TARGET_MS / 4 || warm < WARM_MS) {
          if (ms < TARGET_MS / 4) n *= 2;
          ms = await timeBatch(c, payload, n);
          warm += ms;
        }
        n = Math.max(1, Math.round((n * TARGET_MS) / ms));
        await timeBatch(c, payload, n);
        reply({ n });
      } else if (m.op === 'rep') {
        reply({ ns: ((await timeBatch(c, payload, n)) * 1e6) / n });
      } else if (m.op === 'check') {
        reply({ reason: c.empty() ? await c.validate(size) : 'messages or pool bytes left after the timed loop' });
      } else if (m.op === 'exit') {
        c.close();
        process.disconnect();
      }
    } catch (err) {
      reply({ error: errText(err) });
    }
  });
}

// ---------------------------------------------------------------------------------------
// Parent: start one child per contender (each validates first), then per size warm each
// up and time the reps round-robin, so load from outside hits every contender alike.
// ---------------------------------------------------------------------------------------

/** A contender's child process, asked one question at a time. */
function startChild(name, self) {
  const proc = fork(self, ['--child', name, ...(QUICK ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let pending = null, exited = null;
  const settle = (fn, v) => { const p = pending; pending = null; if (p) { clearTimeout(p.timer); p[fn](v); } };
  proc.on('message', (m) => settle('resolve', m));
  proc.on('exit', (code, signal) => {
    exited = `its process exited (${signal ?? `code ${code}`})`;
    settle('reject', new Error(exited));
  });
  proc.on('error', (err) => settle('reject', err));
  const wait = () => new Promise((resolve, reject) => {
    pending = { resolve, reject, timer: setTimeout(() => { proc.kill(); settle('reject', new Error('timed out')); }, 120_000) };
  });
  const ready = wait();
  ready.catch(() => {}); // awaited later, in order: not an unhandled rejection meanwhile
  return {
    name,
    ready,
    ask(m) {
      if (exited || !proc.connected) return Promise.reject(new Error(exited ?? 'its process is gone'));
      const p = wait();
      proc.send(m);
      return p;
    },
    exit() { if (proc.connected) proc.send({ op: 'exit' }); },
  };
}

const sizeName = (s) => (typeof s === 'string' ? [...CASES, ...OPS].find(([k]) => k === s)?.[1] ?? s : s >= 1024 ? `${s / 1024} KiB` : `${s} B`);
/** the rows a contender is timed on: message sizes, the lookup cases, or the names-and-calls cases */
const rowsOf = (name) => (name.endsWith(' lookups') ? CASES.map(([k]) => k) : name.endsWith(' ops') ? OPS.map(([k]) => k) : SIZES);
const fmtNs = (r) => (r ? `${r.ns < 100 ? r.ns.toFixed(1) : Math.round(r.ns)} ±${Math.round(r.spread * 100)}%` : '—');

async function main() {
  const only = option('--only')?.split(',').map((s) => s.trim()).filter(Boolean);
  const names = only ?? CONTENDERS;
  const log = (s) => process.stderr.write(s + '\n');
  const cpus = os.cpus();
  const env = {
    node: process.version, v8: process.versions.v8, cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length,
    platform: `${process.platform} ${process.arch}`, quick: QUICK, reps: REPS, targetMs: TARGET_MS,
  };
  const dropped = []; // { contender, size|null, reason }
  const drop = (name, size, reason) => {
    dropped.push({ contender: name, size, reason });
    log(`dropped: ${name}${size === null ? '' : ` at ${sizeName(size)}`}: ${reason}`);
  };

  // 1. every contender validates itself at every size before anything is timed
  const self = fileURLToPath(import.meta.url);
  const kids = names.map((name) => startChild(name, self));
  const live = new Map(); // child -> sizes it passed
  for (const k of kids) {
    try {
      const r = await k.ready;
      if (r.setup) { drop(k.name, null, `setup: ${r.setup}`); continue; }
      const failures = r.dropped;
      for (const f of failures) drop(k.name, f.size, `validation: ${f.reason}`);
      const ok = rowsOf(k.name).filter((s) => !failures.some((f) => f.size === s));
      if (ok.length) live.set(k, new Set(ok));
      else k.exit();
    } catch (err) {
      drop(k.name, null, `setup: ${errText(err)}`);
    }
  }

  // 2. per size: warm each up, then REPS rounds of one batch each, in a rotating order
  const results = Object.fromEntries(names.map((n) => [n, {}]));
  const fail = (k, size, reason) => { drop(k.name, size, reason); live.get(k)?.delete(size); };
  for (const size of [...SIZES, ...CASES.map(([k]) => k), ...OPS.map(([k]) => k)]) {
    const here = () => [...live.keys()].filter((k) => live.get(k).has(size));
    if (here().length === 0) continue;
    log(`${sizeName(size)}: ${here().map((k) => k.name).join(', ')}`);
    const reps = new Map();
    for (const k of here()) {
      const r = await k.ask({ op: 'warm', size }).catch((err) => ({ error: errText(err) }));
      if (r.error) fail(k, size, `warm-up: ${r.error}`);
      else reps.set(k, { n: r.n, ns: [] });
    }
    for (let i = 0; i < REPS; i++) {
      const order = here();
      for (let j = 0; j < order.length; j++) {
        const k = order[(i + j) % order.length];
        const r = await k.ask({ op: 'rep' }).catch((err) => ({ error: errText(err) }));
        if (r.error) fail(k, size, `timed loop: ${r.error}`);
        else reps.get(k).ns.push(r.ns);
      }
    }
    for (const k of here()) {
      const r = await k.ask({ op: 'check' }).catch((err) => ({ error: errText(err) }));
      if (r.error || r.reason) { fail(k, size, `after timing: ${r.error ?? r.reason}`); continue; }
      const { n, ns } = reps.get(k);
      const sorted = [...ns].sort((a, b) => a - b), median = sorted[sorted.length >> 1];
      results[k.name][size] = { ns: median, spread: (sorted[sorted.length - 1] - sorted[0]) / 2 / median, n, reps: ns };
    }
  }
  for (const k of live.keys()) k.exit();

  if (dropped.length) process.exitCode = 1;
  if (flag('--json')) {
    process.stdout.write(JSON.stringify({ env, sizes: SIZES, cases: CASES, ops: OPS, results, dropped }, null, 2) + '\n');
    return;
  }

  // 3. the tables; a contender with no valid size has no column
  const has = (name) => results[name] && Object.keys(results[name]).length > 0;
  const cols = [];
  if (has('wasm')) cols.push(['wasm ns/msg', (s) => fmtNs(results.wasm[s])]);
  if (has('twin')) cols.push(['twin ns/msg', (s) => fmtNs(results.twin[s])]);
  if (has('wasm') && has('twin')) {
    cols.push(['wasm/twin', (s) => (results.wasm[s] && results.twin[s] ? (results.wasm[s].ns / results.twin[s].ns).toFixed(2) : '—')]);
  }
  if (has('MessageChannel')) cols.push(['MessageChannel ns/msg', (s) => fmtNs(results.MessageChannel[s])]);
  if (has('wasm api')) cols.push(['wasm api ns/msg', (s) => fmtNs(results['wasm api'][s])]);
  if (has('twin api')) cols.push(['twin api ns/msg', (s) => fmtNs(results['twin api'][s])]);
  const lines = [
    `${env.node} (V8 ${env.v8}), ${env.cpu}, ${env.cores} cores, ${env.platform}; ` +
      `median of ${REPS} reps of ~${TARGET_MS} ms each (± half the min-max spread); wasm/twin < 1: wasm faster`,
  ];
  if (cols.length) {
    lines.push('', `| size | ${cols.map((c) => c[0]).join(' | ')} |`, `|---:|${cols.map(() => '---:').join('|')}|`,
      ...SIZES.map((s) => `| ${sizeName(s)} | ${cols.map((c) => c[1](s)).join(' | ')} |`));
  }
  // the lookup cases: each big case beside its small one (big/small: how much it grew)
  const lk = [['wasm lookups', 'wasm'], ['twin lookups', 'twin']].filter(([n]) => has(n));
  if (lk.length) {
    const small = { send7999: 'send1', free16000: 'free100' };
    lines.push('', `| lookup case | ${lk.map(([, e]) => `${e} ns/op | ${e} big/small`).join(' | ')} |`,
      `|---|${lk.map(() => '---:|---:').join('|')}|`);
    for (const [key, label] of CASES) {
      const cells = lk.map(([n]) => {
        const r = results[n][key], base = small[key] && results[n][small[key]];
        return `${fmtNs(r)} | ${r && base ? (r.ns / base.ns).toFixed(2) : ''}`;
      });
      lines.push(`| ${label} | ${cells.join(' | ')} |`);
    }
  }
  // names and calls: wasm beside twin
  const ops = [['wasm ops', 'wasm'], ['twin ops', 'twin']].filter(([n]) => has(n));
  if (ops.length) {
    lines.push('', `| names and calls | ${ops.map(([, e]) => `${e} ns/op`).join(' | ')} |`, `|---|${ops.map(() => '---:').join('|')}|`);
    for (const [key, label] of OPS) lines.push(`| ${label} | ${ops.map(([n]) => fmtNs(results[n][key])).join(' | ')} |`);
  }
  if (dropped.length) {
    lines.push('', 'Dropped:');
    for (const d of dropped) lines.push(`- ${d.contender}${d.size === null ? '' : ` at ${sizeName(d.size)}`}: ${d.reason}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

const childName = argv.includes('--child') ? argv[argv.indexOf('--child') + 1] : null;
await (childName ? child(childName) : main());
