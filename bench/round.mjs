// Where a one-way stream's round goes (npm run bench:round): the depth-256 rows of
// bench/pingpong.mjs taken apart, and set against what the 5× postMessage leaves.
//
// The protocol is the one-way rows': main sends DEPTH 64-byte messages (conn.sendMany, or
// conn.send one by one) to a worker's conn.listen, the worker acknowledges the DEPTH-th, main
// awaits the acknowledgement (recvAsync) and starts the next round. Printed, in one run:
//  1. the machine's wake-up: a worker blocked in Atomics.wait, woken by a notify (the thread
//     slept 1 ms or more, as a receiver between rounds does), and a worker parked in
//     Atomics.waitAsync, woken the same way; medians and p10 / p90 of WAKES each;
//  2. the serial work of a message on one thread: DEPTH sends, then a long-lived listener
//     handing the DEPTH over (its handler counts), ns per message, the send and the receive
//     apart (medians of REPS);
//  3. the round between two threads, timed on both sides with one clock (timeOrigin + now()):
//     main's sends, the worker's first message after the round began (its wake-up), the
//     worker's span from its first to its last message, the acknowledgement's way back, the
//     round; medians over the last ROUNDS / 2 rounds (the first half is warm-up), with the
//     worker's parks counted;
//  4. postMessage at the same depth in the same run, and what 5× of its rate leaves for one
//     round, against the serial work of (2) and the two wake-ups of (1) a round pays when
//     both threads park.
//   node bench/round.mjs [--quick] [--depth=N]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { Bus, MockProvider } from '../dist/js/index.js';
import { parks } from '../dist/js/host/wait.js';

// (a worker's process.argv has no arguments of the main thread's: they come in workerData)
const ARGV = isMainThread ? process.argv.slice(2) : workerData.argv;
const QUICK = ARGV.includes('--quick');
const DEPTH = Number(ARGV.find((a) => a.startsWith('--depth='))?.slice(8) ?? 256);
const ROUNDS = QUICK ? 600 : 3000;
const REPS = QUICK ? 3 : 7;
const WAKES = QUICK ? 100 : 400;
const abs = () => performance.timeOrigin + performance.now();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** a worker's first message, or its 'error' / early 'exit' as a rejection (every wait here is bounded by the worker's own) */
const first = (w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej); w.once('exit', (c) => rej(new Error(`bench: worker exited (${c})`))); });

if (!isMainThread) {
  const { kind } = workerData;
  if (kind === 'wake') {
    // (1): stamp the moment each wait ends; i32[1] counts the wake-ups seen
    const { sab, async: viaAsync } = workerData;
    const i32 = new Int32Array(sab), f64 = new Float64Array(sab, 32);
    // (a pending waitAsync does not keep a Node worker alive: a timer that never fires does)
    const keep = setInterval(() => {}, 1 << 30);
    parentPort.postMessage('ready');
    for (let k = 0; k < WAKES; k++) {
      if (viaAsync) {
        const r = Atomics.waitAsync(i32, 0, k, 20000);
        if (r.async) await r.value;
      } else Atomics.wait(i32, 0, k, 20000);
      f64[1] = abs();
      Atomics.store(i32, 1, k + 1);
    }
    clearInterval(keep);
  } else if (kind === 'post') {
    let n = 0;
    parentPort.on('message', (m) => {
      if (m === 'stop') process.exit(0);
      if (++n % DEPTH === 0) parentPort.postMessage(1);
    });
    parentPort.postMessage('ready');
  } else {
    // (3): the listening worker, stamping its first and last message of each round
    const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
    const conn = bus.connect();
    const T = new Float64Array(workerData.times), P = new Int32Array(workerData.parks);
    parentPort.postMessage(conn.id);
    const ack = new Uint8Array(1);
    let n = 0;
    await new Promise((resolve, reject) => {
      const l = conn.listen((m) => {
        if (m.payload.length === 0) { l.stop(); return; }
        const r = Math.floor(n / DEPTH) % ROUNDS, k = n % DEPTH;
        if (k === 0) { T[r * 2] = abs(); P[r * 2] = parks(); }
        n++;
        if (k === DEPTH - 1) { T[r * 2 + 1] = abs(); P[r * 2 + 1] = parks(); conn.send(m.src, ack); }
      });
      l.done.then(resolve, reject);
    });
    conn.close();
    bus.close();
  }
} else {
  console.log(`${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores (shared: noisy); depth ${DEPTH}, 64 B, wasm${QUICK ? ', --quick' : ''}`);
  // 1. the machine's wake-up
  const wake = {};
  for (const viaAsync of [false, true]) {
    const sab = new SharedArrayBuffer(64), i32 = new Int32Array(sab), f64 = new Float64Array(sab, 32);
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'wake', sab, async: viaAsync, argv: ARGV } });
    await first(w);
    await sleep(50);
    const lat = [];
    for (let k = 0; k < WAKES; k++) {
      await sleep(1); // the worker has parked, and slept
      f64[0] = abs();
      Atomics.add(i32, 0, 1);
      Atomics.notify(i32, 0);
      const until = performance.now() + 20000;
      while (Atomics.load(i32, 1) !== k + 1) if (performance.now() > until) throw new Error(`bench: wake-up ${k} (${viaAsync ? 'waitAsync' : 'wait'}) took 20 s`);
      lat.push((f64[1] - f64[0]) * 1e3);
    }
    await w.terminate();
    wake[viaAsync ? 'async' : 'wait'] = { med: median(lat), p10: pct(lat, 0.1), p90: pct(lat, 0.9) };
  }
  const w1 = (x) => `${x.med.toFixed(1)} µs (p10 ${x.p10.toFixed(1)}, p90 ${x.p90.toFixed(1)})`;
  console.log(`\n1. A sleeping thread's wake-up, notify to running: Atomics.wait ${w1(wake.wait)}; Atomics.waitAsync ${w1(wake.async)}`);

  // 2. serial work on one thread
  const serial = {};
  {
    const b = await Bus.create({ engine: 'wasm', provider: new MockProvider() });
    const tx = b.connect(), rx = b.connect();
    const p64 = new Uint8Array(64), list = Array.from({ length: DEPTH }, () => p64);
    let got = 0, goal = 0, done = null, tS = 0;
    const l = rx.listen(() => { if (++got === goal) done(); });
    const round = (many) => new Promise((res) => {
      done = res; goal += DEPTH;
      const t = performance.now();
      if (many) for (let s = 0; s < DEPTH;) s += tx.sendMany(rx.id, s === 0 ? list : list.slice(s));
      else for (let k = 0; k < DEPTH; k++) tx.send(rx.id, p64);
      tS += performance.now() - t;
    });
    const K = QUICK ? 200 : 1000;
    for (const many of [true, false]) {
      for (let k = 0; k < K; k++) await round(many); // warm-up
      const reps = [];
      for (let r = 0; r < REPS; r++) {
        tS = 0;
        const t0 = performance.now();
        for (let k = 0; k < K; k++) await round(many);
        const all = ((performance.now() - t0) * 1e6) / (K * DEPTH), s = (tS * 1e6) / (K * DEPTH);
        reps.push([s, all - s]);
      }
      serial[many ? 'many' : 'send'] = { send: median(reps.map((x) => x[0])), recv: median(reps.map((x) => x[1])) };
    }
    l.stop();
    await l.done;
    tx.close(); rx.close(); b.close();
  }
  const s1 = (x) => `${(x.send + x.recv).toFixed(0)} ns = send ${x.send.toFixed(0)} + receive ${x.recv.toFixed(0)}`;
  console.log(`2. Serial work per message, one thread, a long-lived conn.listen: sendMany ${s1(serial.many)}; send ${s1(serial.send)}`);

  // 3. the round between two threads, and 4. postMessage in the same run
  const rows = {};
  for (const mode of ['many', 'send']) {
    const b = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 4, poolMax: 128 << 20 } });
    const main = b.connect();
    const times = new SharedArrayBuffer(ROUNDS * 2 * 8), parksBuf = new SharedArrayBuffer(ROUNDS * 2 * 4);
    const W = new Float64Array(times), P = new Int32Array(parksBuf), M = new Float64Array(ROUNDS * 3);
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), times, parks: parksBuf, argv: ARGV } });
    const peer = await first(w);
    w.on('error', (err) => { console.error(`bench: the worker failed: ${err?.stack ?? err}`); process.exit(1); });
    const p64 = new Uint8Array(64), list = Array.from({ length: DEPTH }, () => p64);
    const mainParks0 = parks();
    for (let r = 0; r < ROUNDS; r++) {
      M[r * 3] = abs();
      if (mode === 'many') for (let s = 0; s < DEPTH;) s += main.sendMany(peer, s === 0 ? list : list.slice(s));
      else for (let k = 0; k < DEPTH; k++) main.send(peer, p64);
      M[r * 3 + 1] = abs();
      (await main.recvAsync({ timeout: 20000 })).free();
      M[r * 3 + 2] = abs();
    }
    const mainParks = parks() - mainParks0;
    const exited = new Promise((res) => w.once('exit', res));
    main.send(peer, null);
    await exited;
    main.close();
    b.close();
    const col = { send: [], wake: [], span: [], tail: [], ack: [], round: [], parks: [] };
    for (let r = ROUNDS >> 1; r < ROUNDS; r++) {
      const next = r + 1 < ROUNDS ? M[(r + 1) * 3] : M[r * 3 + 2];
      col.send.push((M[r * 3 + 1] - M[r * 3]) * 1e3);
      col.wake.push((W[r * 2] - M[r * 3]) * 1e3);
      col.span.push((W[r * 2 + 1] - W[r * 2]) * 1e3);
      col.tail.push((W[r * 2 + 1] - M[r * 3 + 1]) * 1e3);
      col.ack.push((M[r * 3 + 2] - W[r * 2 + 1]) * 1e3);
      col.round.push((next - M[r * 3]) * 1e3);
      col.parks.push(P[r * 2 + 1] - P[r * 2]);
    }
    rows[mode] = Object.fromEntries(Object.entries(col).map(([k, v]) => [k, median(v)]));
    rows[mode].mainParks = mainParks / ROUNDS;
  }
  let post;
  {
    const pw = new Worker(new URL(import.meta.url), { workerData: { kind: 'post', argv: ARGV } });
    await first(pw);
    const next = () => new Promise((res) => pw.once('message', res));
    const p64 = new Uint8Array(64), K = QUICK ? 100 : 400, rates = [];
    for (let r = 0; r < REPS + 1; r++) {
      const t0 = performance.now();
      for (let k = 0; k < K; k++) {
        for (let i = 0; i < DEPTH; i++) pw.postMessage(p64);
        await next();
      }
      if (r > 0) rates.push((K * DEPTH) / ((performance.now() - t0) / 1e3));
    }
    pw.postMessage('stop');
    post = median(rates);
  }
  console.log(`3. One round of ${DEPTH} between main and a worker (µs, medians of the last ${ROUNDS >> 1} of ${ROUNDS} rounds; wake: the round's start to the worker's first message; tail: main's last send to the worker's last message; ack: that to main's await returning)`);
  console.log('| sender | sends | wake | worker span | tail | ack | round | msg/s | worker parks / round | main parks / round |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [mode, x] of Object.entries(rows)) {
    console.log(`| ${mode === 'many' ? 'sendMany' : 'send'} | ${x.send.toFixed(1)} | ${x.wake.toFixed(1)} | ${x.span.toFixed(1)} | ${x.tail.toFixed(1)} | ${x.ack.toFixed(1)} | ${x.round.toFixed(1)} | ${Math.round((DEPTH / x.round) * 1e6).toLocaleString('en')} | ${x.parks.toFixed(1)} | ${x.mainParks.toFixed(2)} |`);
  }
  const budget = (DEPTH / (5 * post)) * 1e6;
  const work = (serial.many.send + serial.many.recv) * DEPTH / 1e3;
  console.log(`4. postMessage at depth ${DEPTH} in this run: ${Math.round(post).toLocaleString('en')} msg/s; 5× that leaves ${budget.toFixed(1)} µs a round. Against it: the serial work of a round on one thread (sendMany + listen, line 2) ${work.toFixed(1)} µs, and the two wake-ups of a round in which both threads park (Atomics.waitAsync, line 1) ${(2 * wake.async.med).toFixed(1)} µs; the round measured with sendMany, ${rows.many.round.toFixed(1)} µs, is ${(rows.many.round / budget).toFixed(2)}× the budget.`);
}
