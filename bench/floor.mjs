// What this machine allows for one-way 64 B messages between two threads, without the bus
// (npm run bench:floor): the same pattern as bench/pingpong.mjs's throughput rows (the main
// thread sends `depth` messages, the worker acknowledges every depth-th; depths 1, 16, 256),
// over
//   - a bare single-producer single-consumer ring of 64-byte records in a SharedArrayBuffer
//     (no locks, no quotas, no metadata, no allocation: a head and a tail index), its
//     receiver parking in Atomics.wait as soon as the ring is empty (the sender notifies
//     after every record);
//   - the same ring with both sides spinning up to SPIN loads on their index before parking;
//   - worker.postMessage (structured clone).
// All three alternated repetition by repetition, medians of REPS, ratios to postMessage.
// It bounds what any design on shared memory can show on this machine against the issue's
// "at least 5× postMessage", and it shows where the cost lies: a receiver that parks and must
// be woken for the next message, not the copy.
// Then the receiving thread's CPU per message at 100 messages/s (its own clock,
// /proc/thread-self/schedstat; Linux only) for a worker woken by Atomics.waitAsync on a word
// the sender bumps and notifies (nothing else: no queue, no lock, no message object) and for
// a worker receiving postMessage: the least an event-loop receiver on shared memory pays per
// wake-up, against what bench/pingpong.mjs compares the bus's recvAsync with. SEGS one-second
// segments each, alternated, after WARM messages each, medians.
//   node bench/floor.mjs [--quick]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { readFileSync } from 'node:fs';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 7;
const N = QUICK ? 8192 : 32768; // messages per repetition
const SLOTS = 1024; // ring records (a power of two)
const REC = 64; // bytes per record: the payload
const SPIN = 2000; // loads on an index before parking (a bounded spin; its time was not measured)
const DEPTHS = [1, 16, 256];
// control words of the ring (Int32 indexes): written by one side each
const HEAD = 0; // records published by the sender
const TAIL = 4; // records consumed by the receiver
const ACKED = 8; // messages acknowledged by the receiver (every depth-th)
const DEPTH = 12; // the current depth
const SPINS = 13; // 0 or SPIN: the mode of the current repetition
const BELL = 14; // the waitAsync worker's word: bumped and notified once per message
const SEGS = QUICK ? 2 : 4, WARM = QUICK ? 500 : 2000, PACE_MS = 10;
/** this thread's own CPU time in µs (Linux: /proc/thread-self/schedstat), NaN elsewhere */
const threadCpuUs = () => { try { return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e3; } catch { return NaN; } };

if (!isMainThread) {
  if (workerData.kind === 'post') {
    let n = 0, depth = 1;
    parentPort.on('message', (m) => {
      if (m === 'cpu') { parentPort.postMessage(threadCpuUs()); return; }
      if (typeof m === 'number') { depth = m; n = 0; parentPort.postMessage(0); return; }
      if (++n % depth === 0) parentPort.postMessage(n);
    });
  } else if (workerData.kind === 'bell') {
    // an event-loop receiver on shared memory with nothing but the wake-up: waitAsync, read a byte, wait again
    const i32 = new Int32Array(workerData.sab, 0, 16), u8 = new Uint8Array(workerData.sab, 64);
    parentPort.on('message', () => parentPort.postMessage(threadCpuUs()));
    let seen = Atomics.load(i32, BELL), sum = 0;
    for (;;) {
      const r = Atomics.waitAsync(i32, BELL, seen);
      if (r.async) await r.value;
      seen = Atomics.load(i32, BELL);
      sum += u8[0];
      if (sum < 0) break; // never: keeps the read
    }
  } else {
    const i32 = new Int32Array(workerData.sab, 0, 16), u8 = new Uint8Array(workerData.sab, 64);
    let tail = 0, n = 0, sum = 0;
    for (;;) {
      let head = Atomics.load(i32, HEAD);
      if (head === tail) {
        const spin = Atomics.load(i32, SPINS);
        for (let s = 0; s < spin && head === tail; s++) head = Atomics.load(i32, HEAD);
        if (head === tail) { Atomics.wait(i32, HEAD, head, 1000); continue; }
      }
      const depth = Atomics.load(i32, DEPTH);
      while (tail !== head) {
        sum += u8[(tail & (SLOTS - 1)) * REC]; // read the record
        tail = (tail + 1) | 0;
        if (++n % depth === 0) { Atomics.store(i32, ACKED, n); Atomics.notify(i32, ACKED); }
      }
      Atomics.store(i32, TAIL, tail);
      if (sum < 0) break; // never: keeps the reads
    }
  }
} else {
  const sab = new SharedArrayBuffer(64 + SLOTS * REC);
  const i32 = new Int32Array(sab, 0, 16), u8 = new Uint8Array(sab, 64);
  const ring = new Worker(new URL(import.meta.url), { workerData: { sab } });
  const post = new Worker(new URL(import.meta.url), { workerData: { kind: 'post' } });
  for (const w of [ring, post]) w.on('error', (err) => { console.error(`bench: a worker failed: ${err?.stack ?? err}`); process.exit(1); });
  const payload = new Uint8Array(REC);
  let head = 0, acked = 0;
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const k = (x) => `${Math.round(x / 1000).toLocaleString('en')} k`;

  /** N records through the ring, acknowledged every depth-th; messages/s */
  const ringRun = (depth, spin) => {
    Atomics.store(i32, SPINS, spin);
    const t0 = performance.now();
    for (let i = 0; i < N; i += depth) {
      for (let j = 0; j < depth; j++) {
        while (head - Atomics.load(i32, TAIL) >= SLOTS); // full (never at these depths)
        u8.set(payload, (head & (SLOTS - 1)) * REC);
        head = (head + 1) | 0;
        Atomics.store(i32, HEAD, head);
        Atomics.notify(i32, HEAD);
      }
      acked += depth;
      for (;;) {
        const v = Atomics.load(i32, ACKED);
        if (v === (acked | 0)) break;
        let s = 0;
        while (s < spin && Atomics.load(i32, ACKED) === v) s++;
        if (Atomics.load(i32, ACKED) === v && Atomics.wait(i32, ACKED, v, 1000) === 'timed-out') throw new Error('ring: no acknowledgement in 1 s');
      }
    }
    return N / ((performance.now() - t0) / 1e3);
  };
  const postRun = async (depth) => {
    const t0 = performance.now();
    for (let i = 0; i < N; i += depth) {
      for (let j = 0; j < depth; j++) post.postMessage(payload);
      await new Promise((res) => post.once('message', res));
    }
    return N / ((performance.now() - t0) / 1e3);
  };

  console.log(`${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores; ${N} messages of ${REC} B per repetition, median of ${REPS}`);
  console.log('\nOne-way 64 B, messages/s (higher is better)\n| depth | ring, receiver parks | ring, both spin | postMessage | parks / post | spins / post |\n|---:|---:|---:|---:|---:|---:|');
  for (const depth of DEPTHS) {
    Atomics.store(i32, DEPTH, depth); // read by the receiver before each batch; its count goes on (every run is a multiple of 256)
    post.postMessage(depth);
    await new Promise((res) => post.once('message', res));
    ringRun(depth, SPIN); // warm-up (not counted)
    const parks = [], spins = [], posts = [];
    await postRun(depth); // warm-up
    for (let r = 0; r < REPS; r++) {
      parks.push(ringRun(depth, 0));
      spins.push(ringRun(depth, SPIN));
      posts.push(await postRun(depth));
    }
    const [a, b, c] = [median(parks), median(spins), median(posts)];
    console.log(`| ${depth} | ${k(a)} | ${k(b)} | ${k(c)} | ${(a / c).toFixed(2)}× | ${(b / c).toFixed(2)}× |`);
  }
  await ring.terminate();

  // CPU per message at 100 messages/s, the receiving thread alone
  const bell = new Worker(new URL(import.meta.url), { workerData: { sab, kind: 'bell' } });
  bell.on('error', (err) => { console.error(`bench: a worker failed: ${err?.stack ?? err}`); process.exit(1); });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const cpuOf = (w) => { const p = new Promise((res) => w.once('message', res)); w.postMessage('cpu'); return p; };
  const ring1 = () => { u8.set(payload, 0); Atomics.add(i32, BELL, 1); Atomics.notify(i32, BELL); };
  const post1 = () => post.postMessage(payload);
  post.postMessage(2 ** 30); // never acknowledges
  await new Promise((res) => post.once('message', res));
  await sleep(200); // the bell worker is parked
  for (let i = 0; i < WARM; i++) { ring1(); post1(); if (i % 64 === 0) await sleep(1); }
  await sleep(500);
  /** one second at 100 messages/s through `send1`: the receiving thread's µs per message */
  const segment = async (w, send1) => {
    const c0 = await cpuOf(w);
    let n = 0;
    const end = performance.now() + 1000;
    while (performance.now() < end) { send1(); n++; await sleep(PACE_MS); }
    await sleep(PACE_MS);
    return ((await cpuOf(w)) - c0) / n;
  };
  const bells = [], posts = [];
  for (let s = 0; s < SEGS; s++) {
    bells.push(await segment(bell, ring1));
    posts.push(await segment(post, post1));
  }
  const [b, p] = [median(bells), median(posts)];
  console.log(`\nReceiving thread's CPU per message at 100 messages/s (µs, lower is better; ${SEGS} one-second segments each, alternated)\n| Atomics.waitAsync wake-up alone | postMessage | ratio |\n|---:|---:|---:|\n| ${b.toFixed(1)} | ${p.toFixed(1)} | ${(b / p).toFixed(2)}× |`);
  await Promise.all([bell.terminate(), post.terminate()]);
}
