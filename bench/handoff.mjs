// What one cache-line hand-off between two threads costs on this machine, now
// (node bench/handoff.mjs, or imported: handoff()): the main thread and a worker pass a turn
// back and forth through one word of a SharedArrayBuffer (each spins until the word is its
// number, then stores the next), 500 000 times each way; the time per one-way hand-off. A
// bus message moves several lines between the sending and the receiving core (bench/lines.mjs
// counts them), so a cross-thread stream's rate follows this figure; bench/stream.mjs prints
// it before and after its runs, so that each run says what the machine gave it (stop 37:
// 0.14-0.39 µs on this 2-vCPU VM).
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const ROUNDS = 500_000;

if (!isMainThread && workerData?.handoff) {
  const w = new Int32Array(workerData.sab);
  const end = Date.now() + 10_000; // (bounded: a main thread gone leaves no worker spinning)
  for (let i = 1; i < 2 * ROUNDS; i += 2) {
    for (let n = 1; Atomics.load(w, 0) !== i; n++) if ((n & 0xffff) === 0 && Date.now() > end) process.exit(1);
    Atomics.store(w, 0, i + 1);
  }
}

/** ns per one-way hand-off of a word between this thread and a fresh worker (median of `reps`) */
export async function handoff(reps = 3) {
  const times = [];
  for (let r = 0; r < reps; r++) {
    const sab = new SharedArrayBuffer(64), w = new Int32Array(sab);
    const worker = new Worker(new URL(import.meta.url), { workerData: { handoff: true, sab } });
    await new Promise((ok, fail) => { worker.once('online', ok); worker.once('error', fail); });
    const t = performance.now(), end = t + 10_000;
    for (let i = 0; i < 2 * ROUNDS; i += 2) {
      for (let n = 1; Atomics.load(w, 0) !== i; n++) {
        if ((n & 0xffff) === 0 && performance.now() > end) { await worker.terminate(); throw new Error('bench/handoff: the worker stopped answering for 10 s'); }
      }
      Atomics.store(w, 0, i + 1);
    }
    times.push((performance.now() - t) * 1e6 / (2 * ROUNDS));
    await new Promise((ok) => worker.once('exit', ok));
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`one-way hand-off of a word between two threads: ${(await handoff(5)).toFixed(0)} ns (median of 5 × ${ROUNDS.toLocaleString('en')})`);
}
