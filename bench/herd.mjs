// Many receives parked on one connection, fed one message at a time (npm run bench:herd --
// [distA distB]): N recvAsync() with no timeout parked on one connection of the main thread,
// then N messages sent to it one per millisecond by a worker (each receive takes one and frees
// it); the process's CPU from the first send to the last message taken, the waits the event
// loop resolved on the main thread (the host's parks() counter) and the time the last message
// took to be taken after it was sent. N = 100 and 1 000; one child process per build and N,
// builds alternated, REPS rounds each (the first a warm-up, left out), medians printed.
// A third row (stop 61): N = 200 receives with `priority: 0`, with R = 100 messages of
// priority 5 queued before them, which they refuse (stop 60's outside audit: each publish woke
// up to R of them), fed N messages of priority 0; the refused ones taken after each round. A
// fourth row (stop 61, its outside audit's case): 200 receives with `priority: 0` parked first,
// then one plain receive loop, fed 200 messages of priority 3 that only the loop takes; the 200
// given a message of priority 0 each after the round.
//
// Why: before stop 60 each receive parked its own waitAsync and a publish woke them all, each
// re-checking and parking again (an outside audit, stop 59: 1 000 parked receives fed 1 000
// messages over 1 s, 189 000–237 000 wake-ups and 676–811 ms of CPU, against 110 ms for one
// receive loop taking the same messages). Given two dist/ directories (a build before and after
// a change), each N runs on both, alternated.
//   node bench/herd.mjs                      # this checkout's dist/
//   node bench/herd.mjs /tmp/old/dist ./dist # A and B
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';

const REPS = 4;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

if (!isMainThread) {
  // the sender: N messages, one per ms, to the receiving connection, when main says go
  const { Bus, MockProvider } = await import(workerData.dist + '/js/index.js');
  const bus = await Bus.join(workerData.handle, { engine: 'wasm', provider: new MockProvider() });
  const tx = bus.connect();
  const one = new Uint8Array(64);
  parentPort.on('message', async (m) => {
    if (m === 'stop') { tx.close(); bus.close(); parentPort.close(); return; }
    const { to, n, priority } = m;
    const opts = { priority };
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const at = t0 + i; // (one per ms, on the clock: late sends do not push the rest)
      while (performance.now() < at) await new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));
      tx.send(to, one, opts);
    }
    parentPort.postMessage({ lastSentAt: performance.timeOrigin + performance.now() });
  });
  parentPort.postMessage('ready');
} else if (process.env.HERD_CHILD) {
  const dist = process.env.HERD_CHILD;
  const { Bus, MockProvider } = await import(dist + '/js/index.js');
  const { parks } = await import(dist + '/js/host/wait.js');
  const N = Number(process.env.HERD_N), R = Number(process.env.HERD_REFUSED ?? 0), MIXED = process.env.HERD_MIXED === '1';
  const bus = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 4 } });
  const rx = bus.connect(), low = bus.connect();
  const w = new Worker(new URL(import.meta.url), { workerData: { dist, handle: bus.handle() } });
  const fail = (err) => { console.error(`bench: the sender failed: ${err?.stack ?? err}`); process.exit(1); };
  w.on('error', fail);
  await new Promise((r) => w.once('message', r));
  const out = [];
  for (let rep = 0; rep < REPS; rep++) {
    let taken = 0, lastTakenAt = 0;
    const recvs = [];
    for (let i = 0; i < R; i++) low.send(rx.id, new Uint8Array(64), { priority: 5 });
    const ro = R > 0 || MIXED ? { timeout: 60_000, priority: 0 } : { timeout: 60_000 };
    const olds = [];
    for (let i = 0; i < N; i++) {
      const p = rx.recvAsync(ro);
      if (MIXED) olds.push(p.then((m) => { m.free(); }));
      else recvs.push(p.then((m) => { m.free(); taken++; lastTakenAt = performance.timeOrigin + performance.now(); }));
    }
    if (MIXED) {
      recvs.push((async () => {
        for (let i = 0; i < N; i++) { const m = await rx.recvAsync({ timeout: 60_000 }); m.free(); taken++; lastTakenAt = performance.timeOrigin + performance.now(); }
      })());
    }
    await new Promise((r) => setTimeout(r, 20)); // (all parked)
    const p0 = parks(), c0 = process.cpuUsage();
    const sent = new Promise((r) => w.once('message', r));
    w.postMessage({ to: rx.id, n: N, priority: MIXED ? 3 : 0 });
    await Promise.all(recvs);
    const c = process.cpuUsage(c0), p = parks() - p0;
    const { lastSentAt } = await sent;
    if (taken !== N) throw new Error(`bench: ${taken} of ${N} taken`);
    for (let i = 0; i < R; i++) rx.recv().free();
    if (MIXED) { for (let i = 0; i < N; i++) low.send(rx.id, new Uint8Array(64), { priority: 0 }); await Promise.all(olds); }
    if (rep > 0) out.push({ cpu: (c.user + c.system) / 1000, parks: p, lastMs: lastTakenAt - lastSentAt });
  }
  // (the worker leaves the bus and exits on its own: a terminate() that lands inside its
  // bus.close() would leave a lock held by a dead thread, which this bench does not recover)
  const exited = new Promise((r) => { w.once('exit', r); setTimeout(r, 5000).unref(); });
  w.postMessage('stop');
  await exited;
  await w.terminate();
  rx.close();
  low.close();
  bus.close();
  console.log(JSON.stringify(out));
} else {
  const dists = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : [resolve('dist')];
  console.log(`node ${process.version}, ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores; ${REPS - 1} rounds per process after a warm-up, medians (range)`);
  console.log('| N (refused queued) | build | CPU, first send to last message taken (ms) | waits resolved on the receiving thread | last message taken after its send (ms) |\n|---:|---|---:|---:|---:|');
  for (const [N, R, mixed] of [[100, 0], [1000, 0], [200, 100], [200, 0, true]]) {
    const res = dists.map(() => ({ cpu: [], parks: [], last: [] }));
    for (let pass = 0; pass < 2; pass++) {
      const order = pass === 0 ? dists.map((_, i) => i) : dists.map((_, i) => dists.length - 1 - i);
      for (const i of order) {
        const rows = JSON.parse(execFileSync(process.execPath, [new URL(import.meta.url).pathname], {
          env: { ...process.env, HERD_CHILD: pathToFileURL(dists[i]).href, HERD_N: String(N), HERD_REFUSED: String(R), HERD_MIXED: mixed ? '1' : '0' }, timeout: 120_000,
        }).toString());
        for (const r of rows) { res[i].cpu.push(r.cpu); res[i].parks.push(r.parks); res[i].last.push(r.lastMs); }
      }
    }
    const f = (xs, d) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
    dists.forEach((d, i) => console.log(`| ${N}${R ? ` (${R})` : ''}${mixed ? ' before a loop' : ''} | ${d} | ${f(res[i].cpu, 0)} | ${f(res[i].parks, 0)} | ${f(res[i].last, 2)} |`));
  }
}
