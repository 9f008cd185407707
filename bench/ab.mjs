// A/B of two builds in one process (npm run bench:ab -- <distA> <distB> [depth] [pairs]):
// the main thread send()s 64 B messages to a worker's conn.listen on each build's own bus
// (each build's dist/ loaded by its own path, each bus with its own worker), acknowledged every
// `depth`-th; 32 768 messages a repetition. Repetitions alternate A, B, B, A, A, B, ... (which
// build goes first alternates too), so both builds meet this VM in the same mode, and every
// pair's ratio B / A is printed with the median of the ratios.
//
// Why: the VM's mode moves a cross-thread stream 3-5× from one minute to the next (stop 37:
// depth 16 at 0.26-0.45 M msg/s for minutes, then 1.4-1.7 M), far more than any change
// measured here; runs of two builds one after the other compare the VM's modes, not the builds.
// Pass the same path twice for the A/A noise floor (stop 37, nothing else running: pair ratios
// 0.58-2.09, medians 1.00-1.07 in 15 pairs at depths 16 and 256; both orders combined 0.988-1.010
// at depths 1 and 16).
// The comparison runs twice, in two child processes one after the other: A's bus made first,
// then B's made first; the verdict is the geometric mean of the first run's median ratio and the
// inverse of the second's, so that whatever favours the bus made first (or second) cancels. (An
// A/A at depth 1 once read 0.93, the second bus slower, but it ran beside another load; the
// clean ones did not show such a bias. Both orders cost a second run and guard against it.)
//   node bench/ab.mjs ./dist /tmp/other/dist 16 15
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { next } from './worker-next.mjs';

const N = 32768;
if (!isMainThread) {
  const { Bus, MockProvider } = await import(workerData.dist + '/js/index.js');
  const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
  const conn = bus.connect();
  parentPort.postMessage(conn.id);
  const ack = new Uint8Array(1);
  const depth = workerData.depth;
  let n = 0;
  await new Promise((done) => {
    const l = conn.listen((m) => {
      if (m.payload.length === 0) { l.stop(); return; } // the end
      if (++n % depth === 0) conn.send(m.src, ack);
    });
    l.done.then(done);
  });
  parentPort.postMessage({ lockWaits: conn.engine.lockWaits });
  conn.close();
  bus.close();
} else if (!process.argv.includes('--child')) {
  // the parent: the comparison in both creation orders, each in a child process of its own
  const { execFileSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const args = process.argv.slice(2);
  if (args.length < 2) { console.error('usage: node bench/ab.mjs <distA> <distB> [depth=256] [pairs=9]'); process.exit(2); }
  const [a, b, ...rest] = args;
  const run = (x, y) => {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), x, y, ...rest, '--child'], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(out.trim().split('\n').pop());
  };
  const ab = run(a, b), ba = run(b, a);
  console.log(JSON.stringify({ ...ab, order: 'A made first' }));
  console.log(JSON.stringify({ ...ba, order: 'B made first (its A is your B)' }));
  const r = Math.sqrt(Number(ab.medianRatio) / Number(ba.medianRatio));
  console.log(`B / A at depth ${ab.depth}, both orders: ${r.toFixed(3)} (A made first ${ab.medianRatio}, B made first ${(1 / Number(ba.medianRatio)).toFixed(2)})`);
} else {
  const args = process.argv.slice(2).filter((x) => x !== '--child');
  const [da, db] = args.slice(0, 2).map((p) => pathToFileURL(resolve(p)).href);
  const depth = Number(args[2] ?? 256), PAIRS = Number(args[3] ?? 9);
  if (!(N % depth === 0 && PAIRS >= 1)) { console.error(`depth must divide ${N}, pairs >= 1`); process.exit(2); }
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const side = async (dist) => {
    const { Bus, MockProvider } = await import(dist + '/js/index.js');
    const bus = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 4 } });
    const main = bus.connect();
    const worker = new Worker(new URL(import.meta.url), { workerData: { handle: bus.handle(), dist, depth } });
    const peer = await next(worker);
    return { bus, main, worker, peer };
  };
  const A = await side(da), B = await side(db);
  const p64 = new Uint8Array(64);
  const rep = async (s) => {
    const t = performance.now();
    for (let i = 0; i < N; i += depth) {
      for (let k = 0; k < depth; k++) s.main.send(s.peer, p64);
      (await s.main.recvAsync({ timeout: 20000 })).free();
    }
    return N / ((performance.now() - t) / 1000);
  };
  await rep(A); await rep(B); // warm-up, not counted
  const ra = [], rb = [], ratio = [];
  for (let i = 0; i < PAIRS; i++) {
    const aFirst = i % 2 === 0;
    const x = await rep(aFirst ? A : B), y = await rep(aFirst ? B : A);
    const a = aFirst ? x : y, b = aFirst ? y : x;
    ra.push(a); rb.push(b); ratio.push(b / a);
  }
  const end = async (s) => {
    s.main.send(s.peer, new Uint8Array(0));
    const st = await next(s.worker);
    s.main.close();
    s.bus.close();
    return [s.main.engine.lockWaits, st.lockWaits];
  };
  const la = await end(A), lb = await end(B);
  const k = (x) => `${(x / 1e3).toFixed(0)}k`;
  console.log(JSON.stringify({ depth, pairs: PAIRS, A: k(median(ra)), B: k(median(rb)), ratios: ratio.map((r) => r.toFixed(2)).join(' '), medianRatio: median(ratio).toFixed(3), lockWaits: { A: la, B: lb } }));
  process.exit(0);
}
