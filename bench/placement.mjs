// Where the OS runs two threads that wake each other (npm run bench:placement; Linux only: it
// reads the CPU a thread last ran on from /proc/thread-self/stat). No bus in parts 1 and 2.
//  1. Where a woken thread lands: a worker parks in Atomics.wait; the main thread wakes it
//     every 1 ms from a timer; each wake-up is counted by whether the worker's CPU before it
//     parked was the waker's, and whether it woke on the waker's CPU.
//  2. A pair on one CPU: the two threads first share a CPU (part 1's timer-paced wake-ups put
//     them there), then ping-pong a word for 30 ms, each side either parking at once or
//     spinning 50 µs (the library's budget, SPIN_MS) before it parks: round trips per 1 ms
//     window, and the first window in which they ran on two CPUs (the OS moved one).
//  3. The library's round trip: main and a worker echo 64 B over the bus (wasm, both sides
//     recvWait: the adaptive spin, then Atomics.wait) in windows of 20 ms: the round trip, and
//     in how many of the window's samples the two threads were on one CPU.
// On the 2-vCPU VM of docs/BENCHMARKS.md (stop 55) a woken thread whose last CPU is busy lands
// on its waker's CPU, and two threads on one CPU stay there while they take turns; that is
// the both-parked mode of the cross-thread rows. Asserts nothing.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { Bus, MockProvider } from '../dist/js/index.js';

/** the CPU this thread last ran on (field 39 of /proc/thread-self/stat), -1 where there is none */
const cpuOf = () => {
  try { return Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ')[36]); } catch { return -1; }
};
const SPIN_MS = 0.05;
// shared words: 0 ping, 1 pong, 2 worker parked, 3 main parked, 4 stop, 5 worker's CPU, 6 worker's CPU at its wake-up, 7 spin (µs)
const PING = 0, PONG = 1, W_PARKED = 2, M_PARKED = 3, STOP = 4, W_CPU = 5, W_WOKE = 6, SPIN = 7;

/** wait until i32[idx] is not `seen`: spin `ms` first (0: none), then park (flagging `parked` for the waker) */
function waitWord(i32, idx, seen, parked, ms) {
  if (ms > 0) {
    const t0 = performance.now();
    for (let n = 1; ; n++) {
      if (Atomics.load(i32, idx) !== seen) return;
      if ((n & 127) === 0 && performance.now() - t0 > ms) break;
    }
  }
  Atomics.store(i32, parked, 1);
  while (Atomics.load(i32, idx) === seen) Atomics.wait(i32, idx, seen, 100);
  Atomics.store(i32, parked, 0);
}
/** move the word and wake its waiter if it parked */
function bump(i32, idx, parked) {
  Atomics.add(i32, idx, 1);
  if (Atomics.load(i32, parked)) Atomics.notify(i32, idx);
}

if (!isMainThread && workerData.kind === 'words') {
  const i32 = new Int32Array(workerData.sab);
  for (;;) {
    const seen = Atomics.load(i32, PING);
    if (Atomics.load(i32, STOP)) break;
    i32[W_CPU] = cpuOf();
    bump(i32, PONG, M_PARKED);
    waitWord(i32, PING, seen, W_PARKED, Atomics.load(i32, SPIN) / 1000);
    i32[W_WOKE] = cpuOf();
  }
} else if (!isMainThread) {
  const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
  const c = bus.connect(), cpu = new Int32Array(workerData.sab);
  parentPort.postMessage(c.id);
  for (let n = 0; ; n++) {
    const m = c.recvWait(20000);
    if (m === null) throw new Error('placement worker: no message in 20 s');
    if (m.payload.length === 0) { m.free(); break; }
    if ((n & 31) === 0) cpu[0] = cpuOf();
    c.send(m.src, m.payload);
    m.free();
  }
  c.close();
  bus.close();
} else {
  if (cpuOf() < 0) { console.log('bench/placement: no /proc/thread-self/stat here (Linux only): nothing measured'); process.exit(0); }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const sab = new SharedArrayBuffer(64), i32 = new Int32Array(sab);
  const worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'words', sab } });
  await new Promise((ok, fail) => { worker.once('online', ok); worker.once('error', fail); });
  /** one timer-paced wake-up of the parked worker: [worker's CPU before, waker's CPU, worker's CPU after] */
  const pacedWake = async () => {
    await sleep(1);
    const end = performance.now() + 1000;
    while (!Atomics.load(i32, W_PARKED)) if (performance.now() > end) throw new Error('bench/placement: the worker did not park in 1 s');
    const seen = Atomics.load(i32, PONG), before = i32[W_CPU], me = cpuOf();
    bump(i32, PING, W_PARKED);
    while (Atomics.load(i32, PONG) === seen) if (performance.now() > end) throw new Error('bench/placement: the worker did not answer in 1 s');
    return [before, me, i32[W_WOKE]];
  };

  // 1. where a woken thread lands
  const cells = { 'last CPU the waker\'s, woke on the waker\'s': 0, 'last CPU the waker\'s, woke on the other': 0, 'last CPU the other, woke on the waker\'s': 0, 'last CPU the other, woke on the other': 0 };
  for (let i = 0; i < 1000; i++) {
    const [before, me, after] = await pacedWake();
    cells[`last CPU ${before === me ? 'the waker\'s' : 'the other'}, woke on ${after === me ? 'the waker\'s' : 'the other'}`]++;
  }
  console.log('1. A parked worker woken every 1 ms by the main thread (1000 wake-ups): where it woke');
  for (const [k, v] of Object.entries(cells)) console.log(`   ${k}: ${v}`);

  // 2. a pair on one CPU, parking at once or spinning 50 µs first
  console.log('2. Ping-pong of a word for 30 ms after the two threads shared a CPU: round trips per 1 ms window; [n]: the first window on two CPUs');
  for (const spinMs of [0, SPIN_MS, 0, SPIN_MS]) {
    i32[SPIN] = spinMs * 1000;
    let shared = 0;
    for (let i = 0; i < 100; i++) { const [, me, after] = await pacedWake(); if (i >= 50 && after === me) shared++; }
    const wins = [];
    let apart = -1;
    for (let w = 0; w < 30; w++) {
      const t0 = performance.now();
      let n = 0, one = 0, samples = 0;
      while (performance.now() - t0 < 1) {
        const seen = Atomics.load(i32, PONG);
        bump(i32, PING, W_PARKED);
        waitWord(i32, PONG, seen, M_PARKED, spinMs);
        if ((++n & 15) === 0) { samples++; if (cpuOf() === i32[W_CPU]) one++; }
      }
      if (apart < 0 && samples > 0 && one * 2 < samples) apart = w;
      wins.push(w === apart ? `[${n}]` : String(n));
    }
    console.log(`   ${spinMs ? 'spin 50 µs, then park' : 'park at once        '} (on one CPU before: ${shared} of the last 50 wake-ups): ${wins.join(' ')}${apart < 0 ? '  (one CPU throughout)' : ''}`);
  }
  Atomics.store(i32, STOP, 1);
  bump(i32, PING, W_PARKED);
  await new Promise((ok) => worker.once('exit', ok));

  // 3. the library's round trip, and whether the threads shared a CPU meanwhile
  const bus = await Bus.create({ engine: 'wasm', provider: new MockProvider() });
  const main = bus.connect(), cpu = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: bus.handle(), sab: cpu.buffer } });
  w.on('error', (err) => { console.error(`bench/placement: the worker failed: ${err?.stack ?? err}`); process.exit(1); });
  const peer = await new Promise((ok) => w.once('message', ok));
  const p64 = new Uint8Array(64);
  console.log('3. The bus (wasm), 64 B round trips, both sides recvWait, windows of 20 ms: µs per round trip (samples on one CPU / samples)');
  const rows = [];
  for (let win = 0; win < 40; win++) {
    const t0 = performance.now();
    let n = 0, one = 0, samples = 0;
    while (performance.now() - t0 < 20) {
      main.send(peer, p64);
      const m = main.recvWait(20000);
      if (m === null) throw new Error('bench/placement: no echo in 20 s');
      m.free();
      if ((++n & 31) === 0) { samples++; if (cpuOf() === cpu[0]) one++; }
    }
    rows.push(`${((performance.now() - t0) * 1000 / n).toFixed(1)} (${one}/${samples})`);
    if (win % 8 === 7) { console.log(`   ${rows.join('  ')}`); rows.length = 0; }
    await sleep(win % 10 === 9 ? 50 : 0);
  }
  main.send(peer, new Uint8Array(0));
  await new Promise((ok) => w.once('exit', ok));
  main.close();
  bus.close();
}
