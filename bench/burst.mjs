// A burst of concurrent requests to a service in a worker (part of npm run bench:threads):
// issue 10's scenario. The main thread starts N calls at once and awaits them all; the
// worker answers each as it comes. Plain node, from dist/; medians of REPS repetitions after
// WARM_CALLS calls of warm-up on each path, in one run; the first (cold) burst of each size is
// printed apart.
//
//   bus    main: N x conn.call(service, 64 B) (at most MAX_PENDING_REPLIES = 128 pending per
//          connection: the others wait in line for a slot; the sends wait for room in the
//          service, the receives are one reply pump); worker: for await (const m of conn)
//          conn.replyAsync(m, m.payload) (waits for room in the caller rather than failing).
//   post   main: N x worker.postMessage({ id, payload }) with a Map of pending resolvers (what
//          a hand-rolled request/response over postMessage does); worker: postMessage back.
//   rpc    the same hand-rolled request/response over the bus (wasm): main: N x
//          conn.sendAsync(service, 64 B, { cookie }) with a Map of pending resolvers, which a
//          conn.listen resolves by the answer's cookie; worker: for await, then
//          conn.sendAsync(m.src, m.payload, { cookie: m.cookie }). Twice: with the default
//          limits (all but 256 requests wait for room in the service), and with the service's
//          queue sized for the burst (limits.maxQueuedPerUser 16384, poolMax 16 MiB: API.md,
//          "Sizing a receiver for bursts"), where no request waits.
//
// Reported: the time for all N replies (ms) and per request (µs), and every call's outcome
// (a call that failed is counted and printed, never hidden: before stop 11, 1000 concurrent
// calls ended with EMLINK / ENOBUFS / timeouts).
//   node bench/burst.mjs [--quick]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { Bus, MockProvider } from '../dist/js/index.js';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 7;
const BURSTS = QUICK ? [1000] : [1000, 10000];
const TIMEOUT = 30000;
/** calls of warm-up on each path before the timed bursts (the code optimized by then: the first ~20 bursts of 1 000 calls run 2-10x slower than later ones) */
const WARM_CALLS = QUICK ? 3000 : 20000;
const warmUps = (n) => Math.max(1, Math.ceil(WARM_CALLS / n));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

if (!isMainThread) {
  const { kind, handle, engine } = workerData;
  if (kind === 'post') {
    parentPort.on('message', (m) => { if (m === 'stop') process.exit(0); parentPort.postMessage(m); });
  } else {
    const bus = await Bus.join(handle, { engine, provider: new MockProvider() });
    const conn = bus.connect();
    parentPort.postMessage(conn.id);
    for await (const m of conn.messages({ timeout: TIMEOUT })) {
      if (kind === 'rpc') {
        if (m.payload.length === 0) break; // the stop
        await conn.sendAsync(m.src, m.payload, { cookie: m.cookie, timeout: TIMEOUT });
        continue;
      }
      if (!m.expectsReply) break; // the stop
      await conn.replyAsync(m, m.payload, { timeout: TIMEOUT });
    }
    conn.close();
    bus.close();
  }
} else {
  console.log(`${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores (shared: noisy); median of ${REPS}`);
  const payload = new Uint8Array(64);
  const rows = [];
  const failures = {};
  /** one burst of n bus calls: ms */
  const busBurst = async (conn, peer, n) => {
    const t0 = performance.now();
    const calls = [];
    for (let i = 0; i < n; i++) {
      calls.push(conn.call(peer, payload, { timeout: TIMEOUT }).then((r) => { r.free(); }, (e) => { failures[e.code] = (failures[e.code] ?? 0) + 1; }));
    }
    await Promise.all(calls);
    return performance.now() - t0;
  };
  const times = {};
  /** bursts of each size of `request()`s (a failed one counted by its path), timed into times[`${key} ${n}`] (median) and times[`${key} ${n} first`] */
  const timeBursts = async (key, request) => {
    for (const n of BURSTS) {
      const ts = [];
      const warm = warmUps(n);
      for (let r = 0; r < warm + REPS; r++) {
        const t0 = performance.now();
        const all = [];
        for (let i = 0; i < n; i++) all.push(request());
        await Promise.allSettled(all);
        const t = performance.now() - t0;
        if (r === 0) times[`${key} ${n} first`] = t;
        if (r >= warm) ts.push(t);
      }
      times[`${key} ${n}`] = median(ts);
    }
  };
  for (const engine of ['wasm', 'twin']) {
    const b = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: 4 } });
    const main = b.connect();
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), engine } });
    w.on('error', (err) => { console.error(`bench: the ${engine} service failed: ${err?.stack ?? err}`); process.exit(1); });
    const peer = await new Promise((res) => w.once('message', res));
    for (const n of BURSTS) {
      const ts = [];
      const warm = warmUps(n);
      for (let r = 0; r < warm + REPS; r++) {
        const t = await busBurst(main, peer, n);
        if (r === 0) times[`${engine} ${n} first`] = t;
        if (r >= warm) ts.push(t);
      }
      times[`${engine} ${n}`] = median(ts);
    }
    const exited = new Promise((res) => w.once('exit', res));
    main.send(peer, null); // not a call: the service stops
    await exited;
    main.close();
    b.close();
  }
  // the hand-rolled RPC over the bus, default limits and a queue sized for the burst
  for (const [key, limits] of [['rpc', { connections: 4 }], ['rpc sized', { connections: 4, maxQueuedPerUser: 16384, poolMax: 16 << 20 }]]) {
    const b = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits });
    const main = b.connect();
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'rpc', handle: b.handle(), engine: 'wasm' } });
    w.on('error', (err) => { console.error(`bench: the ${key} service failed: ${err?.stack ?? err}`); process.exit(1); });
    const peer = await new Promise((res) => w.once('message', res));
    const pending = new Map();
    let next = 1;
    const l = main.listen((m) => { const r = pending.get(m.cookie); pending.delete(m.cookie); r(); });
    const request = () => new Promise((res, rej) => {
      const id = next++;
      pending.set(id, res);
      main.sendAsync(peer, payload, { cookie: id, timeout: TIMEOUT }).catch((e) => { pending.delete(id); failures[e.code] = (failures[e.code] ?? 0) + 1; rej(e); });
    });
    await timeBursts(key, request);
    l.stop();
    await l.done;
    const exited = new Promise((res) => w.once('exit', res));
    main.send(peer, null); // an empty message: the service stops
    await exited;
    main.close();
    b.close();
  }
  {
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'post' } });
    const pending = new Map();
    let next = 0;
    w.on('message', (m) => { const r = pending.get(m.id); pending.delete(m.id); r(m.payload); });
    const request = () => new Promise((res) => { const id = next++; pending.set(id, res); w.postMessage({ id, payload }); });
    await timeBursts('post', request);
    w.postMessage('stop');
  }
  console.log(`\nA burst of concurrent requests to a worker service, 64 B each way (ms for all of them, lower is better; µs per request); steady state: the median of ${REPS} bursts after ${WARM_CALLS.toLocaleString('en')} calls of warm-up on each path\n| requests | wasm | twin | postMessage | wasm / postMessage |\n|---:|---:|---:|---:|---:|`);
  const f = (k, n) => `${times[k].toFixed(1)} ms (${((times[k] * 1e3) / n).toFixed(1)} µs)`;
  for (const n of BURSTS) {
    console.log(`| ${n.toLocaleString('en')} | ${f(`wasm ${n}`, n)} | ${f(`twin ${n}`, n)} | ${f(`post ${n}`, n)} | ${(times[`wasm ${n}`] / times[`post ${n}`]).toFixed(2)}× |`);
  }
  console.log(`\nThe same request/response hand-rolled over the bus (wasm: sendAsync with a cookie, a conn.listen resolving by cookie; the service answers with sendAsync), same medians\n| requests | default limits | queue sized for the burst | postMessage | default / postMessage | sized / postMessage |\n|---:|---:|---:|---:|---:|---:|`);
  for (const n of BURSTS) {
    console.log(`| ${n.toLocaleString('en')} | ${f(`rpc ${n}`, n)} | ${f(`rpc sized ${n}`, n)} | ${f(`post ${n}`, n)} | ${(times[`rpc ${n}`] / times[`post ${n}`]).toFixed(2)}× | ${(times[`rpc sized ${n}`] / times[`post ${n}`]).toFixed(2)}× |`);
  }
  console.log('\nThe first burst of each size on each path (cold: the code not yet optimized, one run each)\n| requests | wasm | twin | postMessage | wasm / postMessage |\n|---:|---:|---:|---:|---:|');
  for (const n of BURSTS) {
    console.log(`| ${n.toLocaleString('en')} | ${f(`wasm ${n} first`, n)} | ${f(`twin ${n} first`, n)} | ${f(`post ${n} first`, n)} | ${(times[`wasm ${n} first`] / times[`post ${n} first`]).toFixed(2)}× |`);
  }
  const failed = Object.entries(failures);
  console.log(failed.length === 0 ? '  every call got its reply' : `  calls that failed: ${failed.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (failed.length) process.exitCode = 1;
}
