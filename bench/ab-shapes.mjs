// A/B of two builds over bench:threads' shapes, each repetition after a slow spell, in one
// process (npm run bench:ab-shapes -- <distA> <distB> [pairs] [--swap]): each build's dist/ (with
// its build/ beside it) loaded by its own path, each bus with its own worker; per repetition and
// build, 30 acknowledged 64 B messages 3 ms apart (a slow spell: what bench:threads' earlier
// phases leave behind), then 64 B and 64 KiB round trips (both sides recvWait, then both
// recvAsync), and one-way 64 B streams at depth 16 (the worker's conn.listen, then its
// recvAsync per message) and 256 (conn.listen), main acknowledged every depth-th. The builds
// alternate, and so does which goes first; --swap makes B's bus first. Prints the medians per
// row, B / A, and every repetition's figure (the VM's modes show as runs of them).
// Why (stop 42): bench/ab.mjs measures fresh processes, where both threads spin; the rows of
// bench:threads run after phases that leave both threads parking, which it does not reach.
//   node bench/ab-shapes.mjs ./dist /tmp/other/dist 8
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const next = (w) => new Promise((r, j) => { w.once('message', r); w.once('error', j); });
if (!isMainThread) {
  const { Bus, MockProvider } = await import(workerData.dist + '/js/index.js');
  const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
  const conn = bus.connect();
  parentPort.postMessage(conn.id);
  const ack = new Uint8Array(1);
  let mode = 0, depth = 1, n = 0, going = true;
  const step = (m) => {
    const p = m.payload;
    if (p.length === 0) { going = false; return; }
    if (p.length === 3) { mode = p[0]; depth = p[1] * 16 || 1; n = 0; conn.send(m.src, ack); return; }
    if (mode === 2) { if (++n % depth === 0) conn.send(m.src, ack); return; }
    conn.send(m.src, p); // echo
  };
  while (going) {
    if (mode === 3) { // listen sink
      await new Promise((res) => { const l = conn.listen((m) => { if (m.payload.length === 3 || m.payload.length === 0) { step(m); l.stop(); return; } if (++n % depth === 0) conn.send(m.src, ack); }); l.done.then(res); });
      continue;
    }
    const m = mode === 0 ? conn.recvWait(20000) : await conn.recvAsync({ timeout: 20000 });
    step(m); m.free();
  }
  const sp = conn.spinner;
  parentPort.postMessage({ spins: sp.spins, hits: sp.hits, preempted: sp.preempted });
  conn.close(); bus.close();
} else {
  const args = process.argv.slice(2);
  const [da, db] = args.slice(0, 2).map((p) => pathToFileURL(resolve(p)).href);
  const PAIRS = Number(args[2] ?? 8);
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const side = async (dist) => {
    const { Bus, MockProvider } = await import(dist + '/js/index.js');
    const bus = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 4, poolMax: 8 << 20 } });
    const main = bus.connect();
    const worker = new Worker(new URL(import.meta.url), { workerData: { handle: bus.handle(), dist } });
    const peer = await next(worker);
    return { bus, main, worker, peer };
  };
  const sides = process.argv.includes('--swap') ? [await side(db), await side(da)].reverse() : [await side(da), await side(db)];
  const ctl = async (s, mode, depth = 0) => { s.main.send(s.peer, new Uint8Array([mode, depth / 16, 0])); (await s.main.recvAsync({ timeout: 20000 })).free(); };
  const rt = async (s, mode, size, n) => {
    await ctl(s, mode); const p = new Uint8Array(size); const t = performance.now();
    for (let i = 0; i < n; i++) { s.main.send(s.peer, p); const m = mode === 0 ? s.main.recvWait(20000) : await s.main.recvAsync({ timeout: 20000 }); m.free(); }
    return (performance.now() - t) * 1e3 / n;
  };
  const stream = async (s, mode, depth, N) => {
    await ctl(s, mode, depth); const p = new Uint8Array(64); const t = performance.now();
    for (let i = 0; i < N; i += depth) { for (let k = 0; k < depth; k++) s.main.send(s.peer, p); (await s.main.recvAsync({ timeout: 20000 })).free(); }
    return N / ((performance.now() - t) / 1000) / 1000;
  };
  const slow = async (s) => { await ctl(s, 2, 0); for (let i = 0; i < 30; i++) { s.main.send(s.peer, new Uint8Array(64)); await sleep(3); (await s.main.recvAsync({ timeout: 20000 })).free(); } };
  const rows = { 'rt64 wait': (s) => rt(s, 0, 64, 300), 'rt64 async': (s) => rt(s, 1, 64, 300), 'rt64K async': (s) => rt(s, 1, 65536, 100), 'rt64K wait': (s) => rt(s, 0, 65536, 100),
    's16 listen k/s': (s) => stream(s, 3, 16, 2048), 's16 async k/s': (s) => stream(s, 2, 16, 2048), 's256 listen k/s': (s) => stream(s, 3, 256, 4096) };
  const res = [{}, {}];
  for (let i = 0; i <= PAIRS; i++) {
    for (const j of i % 2 ? [1, 0] : [0, 1]) {
      const s = sides[j];
      await slow(s);
      for (const [k, f] of Object.entries(rows)) { const v = await f(s); if (i > 0) (res[j][k] ??= []).push(v); }
    }
  }
  for (const [k] of Object.entries(rows)) {
    const a = median(res[0][k]), b = median(res[1][k]);
    console.log(`${k.padEnd(16)} A ${a.toFixed(1).padStart(8)}  B ${b.toFixed(1).padStart(8)}  B/A ${(b / a).toFixed(2)}   A[${res[0][k].map((x) => x.toFixed(0)).join(' ')}] B[${res[1][k].map((x) => x.toFixed(0)).join(' ')}]`);
  }
  for (const s of sides) { s.main.send(s.peer, new Uint8Array(0)); const st = await next(s.worker); console.log(s === sides[0] ? 'A' : 'B', 'worker spins', JSON.stringify(st), 'main spins', JSON.stringify({ spins: s.main.spinner.spins, hits: s.main.spinner.hits, preempted: s.main.spinner.preempted })); s.main.close(); s.bus.close(); }
  process.exit(0);
}
