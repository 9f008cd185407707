// The floor of a cross-thread round trip with the bus's own work (npm run bench:rt-floor
// [-- --size N] [--reps N]): main and one worker echo a payload, first with the library's
// waits (both sides recvWait: the adaptive spin, then Atomics.wait), then with both sides
// spinning without a budget (the connection's wake word loaded until it moves, then
// conn.recv(), as the library's spin does, but never parking: each side's core work and the
// payload's copies across cores, nothing else; a loop of recv() itself would take the
// receiver's lock at every look, against the sender's), then worker.postMessage in the same
// process. Medians of
// 500 round trips per repetition; each repetition's spins (main / worker: spins, hits, spins
// the OS descheduled) say whether the library's waits spun or parked. A figure the library's
// waits take above the spinning one is what its spin policy and wake-ups add (stop 44, 64 KiB,
// three runs: 12.7-13.0 µs spinning against 22-35 µs waiting, postMessage 125-161 µs).
// Asserts nothing.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Bus, MockProvider } from '../dist/js/index.js';

const arg = (name, d) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : d; };
const SIZE = arg('--size', 65536), REPS = arg('--reps', 6), N = 500;
/** the next message of `c`, spinning on its wake word (internal fields, read as the library reads them) with no budget */
const spinRecv = (c) => {
  const i32 = c.engine.i32, idx = c.wakeIndex;
  for (;;) {
    const seen = Atomics.load(i32, idx);
    const m = c.recv();
    if (m !== null) return m;
    while (Atomics.load(i32, idx) === seen);
  }
};
/** a connection's spin counts since the last call (and reset) */
const spins = (s) => { const o = `${s.spins}/${s.hits}/${s.preempted}`; s.spins = s.hits = s.preempted = 0; return o; };

if (!isMainThread) {
  const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
  const c = bus.connect();
  parentPort.postMessage(c.id);
  let poll = false;
  for (;;) {
    let m = null;
    if (poll) m = spinRecv(c);
    else if ((m = c.recvWait(20000)) === null) throw new Error('rt-floor worker: no message in 20 s');
    const p = m.payload;
    if (p.length === 1) { m.free(); break; }
    if (p.length === 2) { poll = p[0] === 1; parentPort.postMessage(spins(c.spinner)); }
    c.send(m.src, p);
    m.free();
  }
} else {
  const bus = await Bus.create({ engine: 'wasm', provider: new MockProvider() });
  const c = bus.connect();
  const w = new Worker(new URL(import.meta.url), { workerData: { handle: bus.handle() } });
  const echo = new Worker('require("node:worker_threads").parentPort.on("message", (m) => require("node:worker_threads").parentPort.postMessage(m));', { eval: true });
  try {
    const id = await new Promise((r) => w.once('message', r));
    const p = new Uint8Array(SIZE).fill(7);
    let poll = false;
    const rt = (q) => {
      c.send(id, q);
      let m = null;
      if (poll) m = spinRecv(c);
      else if ((m = c.recvWait(20000)) === null) throw new Error('rt-floor: no echo in 20 s');
      if (m.payload.length !== q.length || m.payload[q.length - 1] !== q[q.length - 1]) throw new Error('rt-floor: wrong echo');
      m.free();
    };
    /** the next repetitions' mode (both sides), and the worker's spin counts of the one before */
    const mode = async (spinning) => { const got = new Promise((r) => w.once('message', r)); rt(new Uint8Array([spinning ? 1 : 0, 0])); poll = spinning; return got; };
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
    const reps = async (label, one) => {
      const meds = [];
      for (let r = 0; r < REPS; r++) {
        const ts = [];
        for (let i = 0; i < N; i++) { const t = performance.now(); await one(); ts.push(performance.now() - t); }
        meds.push(median(ts) * 1e3);
        if (label === 'waits') console.log(`  waits, repetition ${r}: ${(median(ts) * 1e3).toFixed(1)} µs; spins/hits/descheduled main ${spins(c.spinner)}, worker ${await mode(false)}`);
      }
      console.log(`${label}: median ${median(meds).toFixed(1)} µs (repetitions ${meds.map((x) => x.toFixed(1)).join(', ')})`);
    };
    console.log(`${process.version}; round trips of ${SIZE} B, main <-> one worker, wasm engine; ${REPS} repetitions of ${N}`);
    await mode(false);
    await reps('waits', () => rt(p));
    await mode(true);
    await reps('spinning', () => rt(p));
    await mode(false);
    await reps('postMessage', () => new Promise((r) => { echo.once('message', r); echo.postMessage(p); }));
    c.send(id, new Uint8Array(1));
  } finally {
    await w.terminate();
    await echo.terminate();
  }
}
