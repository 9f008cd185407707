// Cross-thread benchmarks (npm run bench:threads): main <-> one worker, plain node, from dist/.
// Every figure is printed from one run; medians of REPS repetitions (after a warm-up one).
//  1. round trips, 64 B / 1 KiB / 64 KiB: bus blocking (both sides recvWait), bus async (both
//     sides recvAsync: the adaptive spin, then Atomics.waitAsync), postMessage (structured
//     clone), wasm and twin; ratios to postMessage and async/blocking.
//  2. one-way throughput at queue depths 1, 16, 256 (the sender sends `depth` messages, the
//     receiver acknowledges every `depth`-th), same payloads and paths (async receiver).
//  3. CPU per received message at 100 messages/s (async receiver vs postMessage), the CPU of
//     a connection waiting with no traffic (recvAsync pending, 5 s), and the longest event-loop
//     block a spin caused: Spinner.maxMs of both sides (a spin's own length; spins the OS
//     descheduled end at once and are counted apart), and the event loop's own view of the main
//     thread during paced round trips (one every 2 ms, so the loop is free between them):
//     perf_hooks.monitorEventLoopDelay, max and p99, bus async vs postMessage in the same run
//     (the postMessage figure is the noise floor of the timer-based probe on this machine).
//   node bench/pingpong.mjs [--quick]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bus, MockProvider } from '../dist/js/index.js';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 5;
const SIZES = [64, 1024, 65536];
const DEPTHS = [1, 16, 256];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const rtN = (size) => (QUICK ? 300 : 2000) / (size > 4096 ? 4 : 1);
const tpN = (size) => (QUICK ? 2048 : 8192) / (size > 4096 ? 8 : 1);

if (!isMainThread) {
  const { kind, handle, engine } = workerData;
  if (kind === 'post') {
    // echo / ack peer over postMessage
    let n = 0, depth = 1;
    parentPort.on('message', (m) => {
      if (m === 'stop') process.exit(0);
      if (typeof m === 'object' && m && 'depth' in m) { depth = m.depth; n = 0; parentPort.postMessage('ok'); return; }
      if (depth === 0) { parentPort.postMessage(m); return; } // echo
      if (++n % depth === 0) parentPort.postMessage(1); // ack
    });
  } else {
    const bus = await Bus.join(handle, { engine, provider: new MockProvider() });
    const conn = bus.connect();
    parentPort.postMessage(conn.id);
    const ack = new Uint8Array(1);
    let mode = 'echo-wait', depth = 1, n = 0;
    for (;;) {
      const m = mode === 'echo-wait' ? conn.recvWait(20000) : await conn.recvAsync({ timeout: 20000 });
      if (!m) throw new Error('worker: no message in 20 s');
      const src = m.src, p = m.payload;
      if (p.length === 0) { m.free(); break; } // stop
      if (p.length === 2) { // control: [mode, depth/16]
        mode = ['echo-wait', 'echo-async', 'sink', 'idle'][p[0]]; depth = p[1] * 16 || 1; n = 0; m.free();
        conn.send(src, ack);
        continue;
      }
      if (mode === 'sink') { m.free(); if (++n % depth === 0) conn.send(src, ack); continue; }
      if (mode === 'idle') { m.free(); continue; }
      conn.send(src, p);
      m.free();
    }
    const sp = conn.spinner;
    parentPort.postMessage({ maxSpinMs: sp.maxMs, maxWallMs: sp.maxWallMs, spins: sp.spins, over: sp.over, preempted: sp.preempted });
    conn.close();
    bus.close();
  }
} else {
  const out = [];
  const log = (s) => { out.push(s); console.log(s); };
  const bus = {};
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }; // ms, whole process
  /** paced round trips (one every PACE_MS) for `secs`, the main thread's event-loop delay meanwhile: { max, p99 } in µs */
  const PACE_MS = 2;
  const paced = async (secs, roundTrip) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const end = performance.now() + secs * 1000;
    while (performance.now() < end) {
      await roundTrip();
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
    h.disable();
    return { max: h.max / 1e3, p99: h.percentile(99) / 1e3 };
  };
  log(`${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores (shared: noisy); median of ${REPS}`);
  const rt = {}, tp = {};
  // postMessage at 100 messages/s and idle, first of all (a fresh process: no garbage for the
  // GC's threads to sweep yet), the baseline of the bus's figures measured next
  {
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'post' } });
    const next = () => new Promise((res) => w.once('message', res));
    w.postMessage({ depth: 2 ** 30 }); // a sink that never acknowledges (as the bus worker's idle mode)
    await next();
    const secs = QUICK ? 1 : 2, c0 = cpu();
    for (let i = 0; i < secs * 100; i++) { w.postMessage(new Uint8Array(64)); await new Promise((r) => setTimeout(r, 10)); }
    bus.cpuPost = ((cpu() - c0) * 1e3) / (secs * 100);
    const idleS = QUICK ? 2 : 5, i0 = cpu();
    await new Promise((r) => setTimeout(r, idleS * 1000));
    bus.idlePost = ((cpu() - i0) / (idleS * 1000)) * 100; // the same process idle with a postMessage worker: the floor
    w.postMessage('stop');
    await new Promise((res) => w.once('exit', res));
  }
  let maxSpin = 0, maxWall = 0, spins = 0, over = 0, preempted = 0;
  for (const engine of ['wasm', 'twin']) {
    const b = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: 4, poolMax: 128 << 20 } });
    const main = b.connect();
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), engine } });
    const peer = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
    // a worker that fails (e.g. EDEADLK: a lock holder descheduled for over a second on an
    // overloaded machine) would leave the awaits below pending: say so and stop
    w.on('error', (err) => { console.error(`bench: the ${engine} worker failed: ${err?.stack ?? err}`); process.exit(1); });
    const ctl = async (mode, depth = 0) => { main.send(peer, new Uint8Array([mode, depth / 16])); (await main.recvAsync({ timeout: 20000 })).free(); };
    // CPU at 100 messages/s and idle, async receiver in the worker: before the timed phases
    // leave garbage that the GC's threads (part of the process's CPU) sweep for seconds
    if (engine === 'wasm') {
      await ctl(3);
      const secs = QUICK ? 1 : 2, c0 = cpu(), t0 = performance.now();
      for (let i = 0; i < secs * 100; i++) { main.send(peer, new Uint8Array(64)); await new Promise((r) => setTimeout(r, 10)); }
      const c1 = cpu(), wall = performance.now() - t0;
      bus.cpu100 = ((c1 - c0) * 1e3) / (secs * 100); // µs of CPU per message, whole process
      bus.wall100 = wall;
      const idleS = QUICK ? 2 : 5, i0 = cpu();
      await new Promise((r) => setTimeout(r, idleS * 1000));
      bus.idle = ((cpu() - i0) / (idleS * 1000)) * 100; // % of a core, whole process (the worker waits in recvAsync)
    }
    for (const size of SIZES) {
      const payload = new Uint8Array(size);
      for (const [name, mode] of [['blocking', 0], ['async', 1]]) {
        await ctl(mode);
        const N = rtN(size), times = [];
        for (let r = 0; r < REPS + 1; r++) {
          const t0 = performance.now();
          for (let i = 0; i < N; i++) {
            payload[0] = i & 0xff;
            main.send(peer, payload);
            const m = mode === 0 ? main.recvWait(20000) : await main.recvAsync({ timeout: 20000 });
            if (!m || m.payload.length !== size || m.payload[0] !== (i & 0xff)) throw new Error(`${engine}: bad echo at ${i}`);
            m.free();
          }
          if (r > 0) times.push(((performance.now() - t0) * 1e3) / N);
        }
        rt[`${engine} ${name} ${size}`] = median(times);
      }
      await ctl(2, 16); // sink
      for (const depth of DEPTHS) {
        await ctl(2, depth === 1 ? 0 : depth);
        const N = tpN(size) - (tpN(size) % depth), rates = [];
        for (let r = 0; r < REPS + 1; r++) {
          const t0 = performance.now();
          for (let i = 0; i < N; i += depth) {
            for (let k = 0; k < depth; k++) main.send(peer, payload);
            (await main.recvAsync({ timeout: 20000 })).free();
          }
          if (r > 0) rates.push(N / ((performance.now() - t0) / 1e3));
        }
        tp[`${engine} ${depth} ${size}`] = median(rates);
      }
    }
    // the event loop during paced async round trips (both sides recvAsync)
    if (engine === 'wasm') {
      await ctl(1);
      const p64 = new Uint8Array(64);
      bus.eld = await paced(QUICK ? 1 : 3, async () => { main.send(peer, p64); (await main.recvAsync({ timeout: 20000 })).free(); });
    }
    main.send(peer, null);
    const fin = await new Promise((res) => w.once('message', res));
    await new Promise((res) => w.once('exit', res));
    maxSpin = Math.max(maxSpin, fin.maxSpinMs, main.spinner.maxMs);
    maxWall = Math.max(maxWall, fin.maxWallMs, main.spinner.maxWallMs);
    spins += fin.spins + main.spinner.spins; over += fin.over + main.spinner.over;
    preempted += fin.preempted + main.spinner.preempted;
    main.close();
    b.close();
  }
  // postMessage
  {
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'post' } });
    const next = () => new Promise((res) => w.once('message', res));
    const depthTo = async (d) => { w.postMessage({ depth: d }); await next(); };
    for (const size of SIZES) {
      const payload = new Uint8Array(size);
      await depthTo(0);
      const N = rtN(size), times = [];
      for (let r = 0; r < REPS + 1; r++) {
        const t0 = performance.now();
        for (let i = 0; i < N; i++) {
          payload[0] = i & 0xff;
          w.postMessage(payload);
          const m = await next();
          if (m.length !== size || m[0] !== (i & 0xff)) throw new Error(`postMessage: bad echo at ${i}`);
        }
        if (r > 0) times.push(((performance.now() - t0) * 1e3) / N);
      }
      rt[`post ${size}`] = median(times);
      for (const depth of DEPTHS) {
        await depthTo(depth);
        const N = tpN(size) - (tpN(size) % depth), rates = [];
        for (let r = 0; r < REPS + 1; r++) {
          const t0 = performance.now();
          for (let i = 0; i < N; i += depth) {
            for (let k = 0; k < depth; k++) w.postMessage(payload);
            await next();
          }
          if (r > 0) rates.push(N / ((performance.now() - t0) / 1e3));
        }
        tp[`post ${depth} ${size}`] = median(rates);
      }
    }
    await depthTo(0);
    bus.eldPost = await paced(QUICK ? 1 : 3, async () => { w.postMessage(new Uint8Array(64)); await next(); });
    w.postMessage('stop');
  }
  log('\nRound trip, µs (lower is better)\n| payload | wasm blocking | wasm async | twin blocking | twin async | postMessage | wasm async / blocking | wasm async / postMessage |\n|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of SIZES) {
    const g = (k) => rt[k].toFixed(1);
    log(`| ${s} | ${g(`wasm blocking ${s}`)} | ${g(`wasm async ${s}`)} | ${g(`twin blocking ${s}`)} | ${g(`twin async ${s}`)} | ${g(`post ${s}`)} | ${(rt[`wasm async ${s}`] / rt[`wasm blocking ${s}`]).toFixed(2)} | ${(rt[`wasm async ${s}`] / rt[`post ${s}`]).toFixed(2)} |`);
  }
  log('\nOne-way throughput, messages/s (higher is better; async receiver acknowledging every depth-th)\n| depth | payload | wasm | twin | postMessage | wasm / postMessage |\n|---:|---:|---:|---:|---:|---:|');
  for (const d of DEPTHS) for (const s of SIZES) {
    const g = (k) => Math.round(tp[k]).toLocaleString('en');
    log(`| ${d} | ${s} | ${g(`wasm ${d} ${s}`)} | ${g(`twin ${d} ${s}`)} | ${g(`post ${d} ${s}`)} | ${(tp[`wasm ${d} ${s}`] / tp[`post ${d} ${s}`]).toFixed(2)} |`);
  }
  log(`\nCPU per received message at 100 messages/s (whole process, µs): bus async ${bus.cpu100.toFixed(1)}, postMessage ${bus.cpuPost.toFixed(1)} (ratio ${(bus.cpu100 / bus.cpuPost).toFixed(2)})`);
  log(`Idle connection (recvAsync pending, no traffic, ${QUICK ? 2 : 5} s): ${bus.idle.toFixed(2)} % of a core (whole process; the same process idle with a postMessage worker: ${bus.idlePost.toFixed(2)} %)`);
  log(`Spins: ${spins}; descheduled by the OS (ended at once, not counted as fast): ${preempted}; longer than 100 µs of wall time: ${over}; the longest spin not descheduled: ${(maxSpin * 1e3).toFixed(1)} µs (budget 50 µs, clock read every 128 loads); the longest counting the descheduled: ${(maxWall * 1e3).toFixed(1)} µs`);
  log(`Event-loop delay of the main thread, paced 64 B round trips every ${PACE_MS} ms (monitorEventLoopDelay, µs): bus async max ${bus.eld.max.toFixed(0)}, p99 ${bus.eld.p99.toFixed(0)}; postMessage max ${bus.eldPost.max.toFixed(0)}, p99 ${bus.eldPost.p99.toFixed(0)}`);
  log(`Summary (64 B): round trip blocking ${rt['wasm blocking 64'].toFixed(1)} µs, async ${rt['wasm async 64'].toFixed(1)} µs (${(rt['wasm async 64'] / rt['wasm blocking 64']).toFixed(2)}× blocking), postMessage ${rt['post 64'].toFixed(1)} µs`);
}
