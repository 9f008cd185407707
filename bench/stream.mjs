// One-way stream, focused (bench/stream.mjs): the main thread send()s 64 B messages to a
// worker's conn.listen, which acknowledges every depth-th (depths 16 and 256), against
// worker.postMessage in the same repetitions; 32 768 messages, 7 timed repetitions after a
// warm-up, medians; the lock waits of both threads (commands that slept on a lock word).
// It takes the dist/ directory to load as its argument, so that two builds (a worktree of
// another commit beside this one) can be alternated in one shell loop:
//   node bench/stream.mjs ./dist; node bench/stream.mjs /tmp/other/dist; ...
// It prints one JSON line: bus / postMessage msg/s and their ratio per depth, and the one-way
// hand-off of a word between two threads (bench/handoff.mjs) measured before and after the
// runs, in ns: what the machine gave this run (stop 37).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
const dist = workerData?.dist ?? pathToFileURL(resolve(process.argv[2] ?? fileURLToPath(new URL('../dist', import.meta.url)))).href;
const { Bus, MockProvider } = await import(dist + '/js/index.js');
const { handoff } = await import('./handoff.mjs');
const { next } = await import('./worker-next.mjs');
const N = 32768, REPS = 7;
if (!isMainThread) {
  if (workerData.kind === 'post') {
    let n = 0, depth = 1;
    parentPort.on('message', (m) => { if (typeof m === 'object' && m.depth) { depth = m.depth; n = 0; parentPort.postMessage('ok'); return; } if (m === 'stop') process.exit(0); if (++n % depth === 0) parentPort.postMessage(1); });
  } else {
    const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
    const conn = bus.connect();
    parentPort.postMessage(conn.id);
    const ack = new Uint8Array(1);
    let n = 0, depth = 1;
    await new Promise((resolve) => {
      const l = conn.listen((m) => {
        const p = m.payload;
        if (p.length === 0) { l.stop(); return; }
        if (p.length === 2) { depth = p[1] * 16; // control: [6, depth / 16], acknowledged
           n = 0; conn.send(m.src, ack); return; }
        if (++n % depth === 0) conn.send(m.src, ack);
      });
      l.done.then(resolve);
    });
    parentPort.postMessage({ lockWaits: conn.engine.lockWaits });
    conn.close(); bus.close();
  }
} else {
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  const out = {};
  const handoffBefore = await handoff(1);
  const pw = new Worker(new URL(import.meta.url), { workerData: { kind: 'post', dist } });
  // (the timed loop's wait is a bare once(): a bounded wait's timer per message would slow the
  // baseline; a worker that fails or exits ends the run instead, below)
  const pnext = () => new Promise((r) => pw.once('message', r));
  let ending = false;
  pw.on('error', (e) => { console.error(e); process.exit(1); });
  pw.on('exit', (c) => { if (!ending) { console.error(`bench/stream: the postMessage worker exited (code ${c})`); process.exit(1); } });
  const b = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 4 } });
  const main = b.connect();
  const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), dist } });
  const peer = await next(w);
  const p64 = new Uint8Array(64);
  for (const depth of [16, 256]) {
    const bus = [], post = [];
    main.send(peer, new Uint8Array([6, depth / 16])); (await main.recvAsync({ timeout: 20000 })).free();
    pw.postMessage({ depth }); await pnext();
    for (let r = 0; r <= REPS; r++) {
      let t = performance.now();
      for (let i = 0; i < N; i += depth) { for (let k = 0; k < depth; k++) main.send(peer, p64); (await main.recvAsync({ timeout: 20000 })).free(); }
      if (r) bus.push(N / ((performance.now() - t) / 1000));
      t = performance.now();
      for (let i = 0; i < N; i += depth) { for (let k = 0; k < depth; k++) pw.postMessage(p64); await pnext(); }
      if (r) post.push(N / ((performance.now() - t) / 1000));
    }
    out[depth] = { bus: med(bus), post: med(post) };
  }
  main.send(peer, new Uint8Array(0));
  ending = true;
  const stats = await next(w);
  // the 'after' hand-off once both workers are gone (a thread still alive takes a core from it)
  const gone = (x) => new Promise((r) => { x.once('exit', r); setTimeout(r, 5000); });
  const exits = Promise.all([gone(w), gone(pw)]);
  pw.postMessage('stop');
  await exits;
  const handoffAfter = await handoff(1);
  console.log(JSON.stringify({ d16: (out[16].bus / 1e3).toFixed(0) + 'k/' + (out[16].post / 1e3).toFixed(0) + 'k=' + (out[16].bus / out[16].post).toFixed(2), d256: (out[256].bus / 1e3).toFixed(0) + 'k/' + (out[256].post / 1e3).toFixed(0) + 'k=' + (out[256].bus / out[256].post).toFixed(2), mainLockWaits: main.engine.lockWaits, workerLockWaits: stats.lockWaits, handoffNs: `${handoffBefore.toFixed(0)}/${handoffAfter.toFixed(0)}` }));
  main.close(); b.close(); process.exit(0);
}
