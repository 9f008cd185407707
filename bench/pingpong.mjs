// Cross-thread benchmarks (npm run bench:threads): main <-> one worker, plain node, from dist/.
// Every figure is printed from one run; medians of REPS repetitions (after a warm-up one).
//  1. round trips, 64 B / 1 KiB / 64 KiB: bus blocking (both sides recvWait), bus async (both
//     sides recvAsync: the adaptive spin, then Atomics.waitAsync), postMessage (structured
//     clone), wasm and twin; ratios to postMessage and async/blocking.
//  2. one-way throughput at queue depths 1, 16, 256 (the sender sends `depth` messages, the
//     receiver acknowledges every `depth`-th), same payloads and paths (async receiver); and
//     the same with the sender's `depth` messages sent by conn.sendMany (SEND_BATCH) to a
//     conn.listen receiver.
//  3. CPU per received message at 100 messages/s (async receiver, recvAsync and conn.listen, vs
//     postMessage's onmessage; and the same
//     worker receiving with recvWait, for a worker that may block: not a target), the CPU of
//     a connection waiting with no traffic (recvAsync pending: the median of five 5 s windows,
//     the whole process, with the main thread's and the waiting thread's shares), and the longest event-loop
//     block a spin caused: Spinner.maxMs of both sides (a spin's own length; spins the OS
//     descheduled end at once and are counted apart), and the event loop's own view of the main
//     thread during paced round trips (one every 2 ms, so the loop is free between them):
//     perf_hooks.monitorEventLoopDelay, max and p99, bus async vs postMessage in the same run
//     (the postMessage figure is the noise floor of the timer-based probe on this machine).
//     The CPU figures are steady state: both paths (a postMessage worker and a bus worker, both
//     alive) first carry WARM messages each, so that neither pays its JIT compilation in the
//     measurement, then PACED more one at a time, about 1 ms apart, so that each of them finds
//     its receiver parked (the path the segments measure: a burst's messages mostly find it
//     awake, and the park path was compiled by TurboFan during the segments, 31 ms of a V8
//     thread for recvAsyncWait alone: stop 28, `--trace-opt`), then 100 messages/s go to each in turn, SEGS segments of one second
//     alternated (post, bus, post, bus, ...: a noisy machine's drift hits both), 2 s after the
//     warm-up (its garbage swept), medians.
//  4. The issue's targets, each printed with PASS or MISS (the figures of this run): item 1's
//     four, and item 9's one-way 64 B throughput (per depth) and 64 KiB round trip; and the
//     one-way 64 B rows again with busy polling on both connections (conn.busyPoll, an opt-in),
//     measured in the same repetitions, printed apart from the targets' default rows.
//  5. The receive path's own ceiling: one thread, no peer, 256 sends then the same 256 received
//     (recvAsync, for await, or recv) and freed, timed apart: the most a receiver calling recvAsync per
//     message could take, whatever the send path, printed against postMessage's one-way rates.
//  Round trips alternate too: for each repetition, blocking then async (the same machine state
//  for both halves of the ratio the target is about). postMessage's round trips and one-way
//  rows run inside the wasm engine's repetitions (postMessage, then the bus rows, repetition by
//  repetition), so every ratio to postMessage compares figures of the same minutes.
//   node bench/pingpong.mjs [--quick] [--spins]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync, readlinkSync } from 'node:fs';
import { Bus, MockProvider } from '../dist/js/index.js';
import { handoff } from './handoff.mjs';

const QUICK = process.argv.includes('--quick');
/** --spins: per 64 B throughput row and repetition, main's acknowledgement waits: spins, hits, its score before > after (stop 42) */
const SPINS = process.argv.includes('--spins');
const spinRows = {};
const REPS = QUICK ? 3 : 5;
const SIZES = [64, 1024, 65536];
const DEPTHS = [1, 16, 256];
/** the busy-poll rows' conn.busyPoll, µs (docs/API.md, "Busy polling") */
const BUSY_US = 50;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** this thread's own CPU time in µs (Linux: /proc/thread-self/schedstat), NaN elsewhere */
const threadCpuUs = () => { try { return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e3; } catch { return NaN; } };
/** the CPU a thread runs on, or last ran on (field 39 of its /proc stat; Linux), -1 elsewhere */
const cpuIn = (stat) => { try { return Number(readFileSync(stat, 'utf8').split(') ')[1].split(' ')[36]); } catch { return -1; } };
/**
 * Where the two threads run (stop 55, bench/placement.mjs: on a VM whose scheduler keeps two
 * threads that wake each other on one CPU, the cross-thread rows are bimodal): per row of the
 * wasm engine at 64 B (and its 64 KiB round trips: stop 56), samples of the main thread's CPU and the worker's (its current or last
 * one), at most one every SAMPLE_MS of a timed loop (a sample costs main about 10-30 µs of
 * /proc reads: under 2 % of the loop); [samples on one CPU, samples].
 */
const SAMPLE_MS = 2;
const coloc = {};
let workerStat = null, lastSample = 0;
const sampleCpus = (key) => {
  const t = performance.now();
  if (workerStat === null || t - lastSample < SAMPLE_MS) return;
  lastSample = t;
  const a = cpuIn('/proc/thread-self/stat'), b = cpuIn(workerStat);
  if (a < 0 || b < 0) return;
  const c = (coloc[key] ??= [0, 0]);
  c[1]++;
  if (a === b) c[0]++;
};
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
    // (its OS thread id, for the main thread's samples of where the two threads run: Linux)
    if (workerData.tidBox) { try { new Int32Array(workerData.tidBox)[0] = Number(readlinkSync('/proc/thread-self').split('/').pop()); } catch { /* not Linux */ } }
    parentPort.postMessage(conn.id);
    const ack = new Uint8Array(1);
    let mode = 'echo-wait', depth = 1, n = 0;
    /** one message, whatever received it: false for the stop message (each message freed by its receiver's loop) */
    const step = (m) => {
      const src = m.src, p = m.payload;
      if (p.length === 0) return false; // stop
      if (p.length === 2 && p[0] === 4) { // control: report this thread's own CPU time (the mode stays)
        parentPort.postMessage({ threadCpuUs: threadCpuUs() });
        conn.send(src, ack);
        return true;
      }
      if (p.length === 2 && p[0] === 8) { // control: busy polling, [8, µs] (the mode stays)
        conn.busyPoll = p[1];
        conn.send(src, ack);
        return true;
      }
      if (p.length === 2) { // control: [mode, depth/16]
        mode = ['echo-wait', 'echo-async', 'sink', 'idle', '', 'idle-wait', 'sink-listen', 'idle-listen'][p[0]]; depth = p[1] * 16 || 1; n = 0;
        conn.send(src, ack);
        return true;
      }
      if (mode === 'sink' || mode === 'sink-listen') { if (++n % depth === 0) conn.send(src, ack); return true; }
      if (mode === 'idle' || mode === 'idle-wait' || mode === 'idle-listen') return true;
      conn.send(src, p); // echo
      return true;
    };
    for (let going = true; going;) {
      if (mode === 'sink-listen' || mode === 'idle-listen') {
        // conn.listen: until the mode changes (or the stop)
        await new Promise((resolve, reject) => {
          const l = conn.listen((m) => {
            going = step(m);
            if (!going || (mode !== 'sink-listen' && mode !== 'idle-listen')) l.stop();
          });
          l.done.then(resolve, reject);
        });
        continue;
      }
      const m = mode === 'echo-wait' || mode === 'idle-wait' ? conn.recvWait(20000) : await conn.recvAsync({ timeout: 20000 });
      if (!m) throw new Error('worker: no message in 20 s');
      going = step(m);
      m.free();
    }
    const sp = conn.spinner;
    parentPort.postMessage({ maxSpinMs: sp.maxMs, maxWallMs: sp.maxWallMs, spins: sp.spins, over: sp.over, preempted: sp.preempted, lockWaits: conn.engine.lockWaits });
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
  // what this run's machine gives two threads (bench/handoff.mjs; stop 37: 0.14-0.39 µs on the
  // 2-vCPU VM, and a cross-thread send hands over seven or eight lines): measured before any of
  // the run's workers starts (at the end, a worker still alive took a core: 2.1 µs), printed
  // with the summary
  const handoffStart = await handoff(1);
  const rt = {}, tp = {};
  // CPU at 100 messages/s, steady state: a postMessage sink and a bus sink (async receiver,
  // idle mode), both warmed up, then one-second segments alternated between them
  {
    const secs = 1, SEGS = QUICK ? 2 : 6, WARM = QUICK ? 1000 : 3000, PACED = QUICK ? 500 : 6000;
    const pw = new Worker(new URL(import.meta.url), { workerData: { kind: 'post' } });
    const pnext = () => new Promise((res) => pw.once('message', res));
    pw.postMessage({ depth: 2 ** 30 }); // a sink that never acknowledges (as the bus worker's idle mode)
    await pnext();
    // the idle floor: the process with a postMessage worker and nothing else
    const idleS = QUICK ? 2 : 5, IDLE_WINDOWS = QUICK ? 1 : 5;
    await sleep(200);
    const p0 = cpu();
    await sleep(idleS * 1000);
    bus.idlePost = ((cpu() - p0) / (idleS * 1000)) * 100;
    const b = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 4 } });
    const main = b.connect();
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), engine: 'wasm' } });
    const peer = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
    w.on('error', (err) => { console.error(`bench: the CPU phase's worker failed: ${err?.stack ?? err}`); process.exit(1); });
    main.send(peer, new Uint8Array([3, 0])); (await main.recvAsync({ timeout: 20000 })).free(); // idle mode: receive and free
    // a connection waiting with no traffic (the bus worker's recvAsync pending), before any
    // traffic (the garbage of the phases after it is swept for seconds by the GC's threads),
    // once the worker's start-up is over (its wasm is compiled again, optimized, in the
    // background: 0.6-1.3 % of a core for the first seconds, measured on this VM), and once
    // V8's memory reducer has run: some 8 s after a start-up's allocations it makes a few
    // full collections in each isolate (with --trace-gc: "Mark-Compact (reduce)", 10-16 ms of
    // the main thread and as much of the worker's and of V8's helper threads), 2.6-3.3 % of a
    // core over a 2 s window that met it, against 0.13-0.27 % before and after it (stop 25,
    // /tmp/m25/idle.mjs); a process pays it once after start-up, with or without the bus
    await sleep(10000);
    const workerCpu = async () => {
      const r = new Promise((res) => w.once('message', res));
      main.send(peer, new Uint8Array([4, 0]));
      (await main.recvAsync({ timeout: 20000 })).free();
      return (await r).threadCpuUs;
    };
    // IDLE_WINDOWS windows one after the other, the median reported: a window that meets a
    // collection of the start-up's garbage is one of them (the memory reducer above makes up
    // to three full collections in each isolate, 0.5 s apart, 8 s after it finds the isolate
    // quiet, and 8 s later again when it did not: stop 31 saw them at 16-18 s and 24 s of a
    // run, 1.4-2.9 % of a core in the windows that met them, 0.02-0.12 % in the others)
    bus.idleWindows = [];
    for (let k = 0; k < IDLE_WINDOWS; k++) {
      // two queries back to back before the window: the second one's reading less the first's
      // is what one query costs the worker (its wake-up, its answer, its park), taken off the
      // window's figure, whose ends are two queries' halves (before stop 37 it was not, and the
      // line's "rest" could read below 0)
      const w0 = await workerCpu(), wq = await workerCpu(), i0 = cpu(), m0 = threadCpuUs();
      await sleep(idleS * 1000);
      const whole = ((cpu() - i0) / (idleS * 1000)) * 100; // % of a core, whole process
      const mainT = ((threadCpuUs() - m0) / (idleS * 1e6)) * 100; // % of a core, the main thread alone (its sleep's timer)
      const thread = Math.max(0, (await workerCpu()) - wq - (wq - w0)) / (idleS * 1e6) * 100; // % of a core, the waiting worker thread alone
      bus.idleWindows.push({ whole, main: mainT, thread });
    }
    const mid = [...bus.idleWindows].sort((a, b) => a.whole - b.whole)[IDLE_WINDOWS >> 1];
    bus.idle = mid.whole; bus.idleMain = mid.main; bus.idleThread = mid.thread;
    const p64 = new Uint8Array(64);
    const sendBus = () => main.send(peer, p64), sendPost = () => pw.postMessage(new Uint8Array(64));
    // (sendAsync: a burst waits for room rather than failing when the worker is descheduled)
    for (let i = 0; i < WARM; i++) { await main.sendAsync(peer, p64, { timeout: 20000 }); sendPost(); if (i % 16 === 15) await sleep(1); }
    // the same worker receiving with recvWait (a worker that may block): its own warm-up
    const idleMode = async (mode) => { main.send(peer, new Uint8Array([mode, 0])); (await main.recvAsync({ timeout: 20000 })).free(); };
    await idleMode(5);
    for (let i = 0; i < WARM; i++) { await main.sendAsync(peer, p64, { timeout: 20000 }); if (i % 16 === 15) await sleep(1); }
    // and with conn.listen (the bus's counterpart of onmessage): its own warm-up
    await idleMode(7);
    for (let i = 0; i < WARM; i++) { await main.sendAsync(peer, p64, { timeout: 20000 }); if (i % 16 === 15) await sleep(1); }
    // each receiver again, one message at a time (each parked when it comes), as the segments
    // will: 6000 of them, after which TurboFan has compiled the park path (with 1500, or 15 s at
    // 100 msg/s, the segments met its first compilations: bench/cpu.mjs, stop 40)
    for (let i = 0; i < PACED; i++) { sendPost(); await sleep(1); }
    for (const mode of [5, 7, 3]) {
      await idleMode(mode);
      for (let i = 0; i < PACED; i++) { sendBus(); await sleep(1); }
    }
    await sleep(2000); // the warm-up's garbage swept
    const segs = { post: [], bus: [], busListen: [], busWait: [] };
    for (let r = 0; r < SEGS; r++) {
      for (const [k, send] of [['post', sendPost], ['bus', sendBus], ['busListen', sendBus], ['busWait', sendBus]]) {
        if (k === 'busWait') await idleMode(5);
        else if (k === 'busListen') await idleMode(7);
        else if (k === 'bus') await idleMode(3);
        const c0 = cpu();
        for (let i = 0; i < secs * 100; i++) { send(); await sleep(10); }
        segs[k].push(((cpu() - c0) * 1e3) / (secs * 100)); // µs of CPU per message, whole process
      }
    }
    bus.cpuPost = median(segs.post);
    bus.cpu100 = median(segs.bus);
    bus.cpuWait = median(segs.busWait);
    bus.cpuListen = median(segs.busListen);
    bus.cpuSegs = segs;
    const pwExited = new Promise((res) => pw.once('exit', res));
    pw.postMessage('stop');
    await pwExited;
    // both listeners before the stop: a worker's last message and its exit can come in one turn
    const fin = new Promise((res) => w.once('message', res)), exited = new Promise((res) => w.once('exit', res));
    main.send(peer, null);
    await fin;
    await exited;
    main.close();
    b.close();
  }
  let maxSpin = 0, maxWall = 0, spins = 0, over = 0, preempted = 0;
  /** per engine: commands that found a lock taken and slept on its word (main, worker), over the round trips and throughput runs */
  const lockWaits = {};
  // the postMessage peer (echo, or ack every depth-th), measured in the wasm engine's own
  // repetitions: each repetition runs the bus rows, then postMessage's, so that a ratio
  // compares the two in the same minutes of this noisy VM (before stop 27, postMessage ran
  // after both engines, a minute or more later)
  const pw = new Worker(new URL(import.meta.url), { workerData: { kind: 'post' } });
  const pnext = () => new Promise((res) => pw.once('message', res));
  const postDepth = async (d) => { pw.postMessage({ depth: d }); await pnext(); };
  for (const engine of ['wasm', 'twin']) {
    const b = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: 4, poolMax: 128 << 20 } });
    const main = b.connect();
    const tidBox = new SharedArrayBuffer(4);
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), engine, tidBox } });
    const peer = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
    const wtid = new Int32Array(tidBox)[0];
    workerStat = engine === 'wasm' && wtid > 0 ? `/proc/self/task/${wtid}/stat` : null;
    // a worker that fails (e.g. EDEADLK: a lock holder descheduled for over a second on an
    // overloaded machine) would leave the awaits below pending: say so and stop
    w.on('error', (err) => { console.error(`bench: the ${engine} worker failed: ${err?.stack ?? err}`); process.exit(1); });
    const ctl = async (mode, depth = 0) => { main.send(peer, new Uint8Array([mode, depth / 16])); (await main.recvAsync({ timeout: 20000 })).free(); };
    for (const size of SIZES) {
      const payload = new Uint8Array(size);
      // blocking and async alternated, repetition by repetition (the first one is a warm-up)
      const N = rtN(size), times = { blocking: [], async: [], post: [] };
      for (let r = 0; r < REPS + 1; r++) {
        if (engine === 'wasm') {
          await postDepth(0);
          const t0 = performance.now();
          for (let i = 0; i < N; i++) {
            payload[0] = i & 0xff;
            pw.postMessage(payload);
            const m = await pnext();
            if (m.length !== size || m[0] !== (i & 0xff)) throw new Error(`postMessage: bad echo at ${i}`);
          }
          if (r > 0) times.post.push(((performance.now() - t0) * 1e3) / N);
        }
        for (const [name, mode] of [['blocking', 0], ['async', 1]]) {
          await ctl(mode);
          const t0 = performance.now();
          for (let i = 0; i < N; i++) {
            payload[0] = i & 0xff;
            main.send(peer, payload);
            const m = mode === 0 ? main.recvWait(20000) : await main.recvAsync({ timeout: 20000 });
            if (!m || m.payload.length !== size || m.payload[0] !== (i & 0xff)) throw new Error(`${engine}: bad echo at ${i}`);
            m.free();
            if (size === 64 && (i & 15) === 0) sampleCpus(`round trip ${name}`);
            else if (size === 65536) sampleCpus(`64 KiB round trip ${name}`);
          }
          if (r > 0) times[name].push(((performance.now() - t0) * 1e3) / N);
        }
      }
      for (const name of ['blocking', 'async']) rt[`${engine} ${name} ${size}`] = median(times[name]);
      if (engine === 'wasm') rt[`post ${size}`] = median(times.post);
      // the worker receiving with recvAsync per message (mode 2), and with conn.listen (mode
      // 6), main sending with send(); and main sending with sendMany to conn.listen;
      // alternated repetition by repetition
      for (const depth of DEPTHS) {
        const N = tpN(size) - (tpN(size) % depth), rates = { '': [], ' listen': [], ' many': [], ' poll': [], ' poll listen': [], ' poll many': [], post: [] };
        const list = Array.from({ length: depth }, () => payload);
        // busy polling (BUSY_US on both connections, conn.busyPoll) in the same repetitions: 64 B, wasm
        const kinds = [['', 2], [' listen', 6], [' many', 6]];
        if (size === 64 && engine === 'wasm') kinds.push([' poll', 2], [' poll listen', 6], [' poll many', 6]);
        for (let r = 0; r < REPS + 1; r++) {
          if (engine === 'wasm') {
            await postDepth(depth);
            const t0 = performance.now();
            for (let i = 0; i < N; i += depth) {
              for (let k = 0; k < depth; k++) pw.postMessage(payload);
              await pnext();
            }
            if (r > 0) rates.post.push(N / ((performance.now() - t0) / 1e3));
          }
          for (const [key, mode] of kinds) {
            const poll = key.startsWith(' poll') ? BUSY_US : 0;
            if (main.busyPoll !== poll) { main.busyPoll = poll; main.send(peer, new Uint8Array([8, poll])); (await main.recvAsync({ timeout: 20000 })).free(); }
            await ctl(mode, depth === 1 ? 0 : depth);
            const sp = main.spinner, s0 = [sp.spins, sp.hits, sp.score];
            const t0 = performance.now();
            for (let i = 0; i < N; i += depth) {
              if (key === ' many') { for (let s = 0; s < depth;) s += main.sendMany(peer, s === 0 ? list : list.slice(s)); }
              else for (let k = 0; k < depth; k++) main.send(peer, payload);
              (await main.recvAsync({ timeout: 20000 })).free();
              if (size === 64 && (i & 15) === 0) sampleCpus(`depth ${depth}${key || ' recvAsync'}`);
            }
            if (r > 0) rates[key].push(N / ((performance.now() - t0) / 1e3));
            if (SPINS && size === 64) (spinRows[`${engine}${key} ${depth}`] ??= []).push(`${N / depth} waits: ${sp.spins - s0[0]} spins, ${sp.hits - s0[1]} hits, score ${s0[2]}>${sp.score}, ${Math.round(N / ((performance.now() - t0) / 1e3) / 1000)} k/s`);
          }
        }
        for (const key of kinds.map(([k]) => k)) tp[`${engine}${key} ${depth} ${size}`] = median(rates[key]);
        if (engine === 'wasm') tp[`post ${depth} ${size}`] = median(rates.post);
      }
    }
    // the event loop during paced async round trips (both sides recvAsync)
    if (engine === 'wasm') {
      await ctl(1);
      const p64 = new Uint8Array(64);
      bus.eld = await paced(QUICK ? 1 : 3, async () => { main.send(peer, p64); (await main.recvAsync({ timeout: 20000 })).free(); });
    }
    const finP = new Promise((res) => w.once('message', res)), exited = new Promise((res) => w.once('exit', res));
    main.send(peer, null);
    const fin = await finP;
    await exited;
    maxSpin = Math.max(maxSpin, fin.maxSpinMs, main.spinner.maxMs);
    maxWall = Math.max(maxWall, fin.maxWallMs, main.spinner.maxWallMs);
    spins += fin.spins + main.spinner.spins; over += fin.over + main.spinner.over;
    preempted += fin.preempted + main.spinner.preempted;
    lockWaits[engine] = [main.engine.lockWaits, fin.lockWaits];
    workerStat = null;
    main.close();
    b.close();
  }
  // postMessage's event-loop probe (its round trips and one-way rows ran with the wasm rows)
  await postDepth(0);
  bus.eldPost = await paced(QUICK ? 1 : 3, async () => { pw.postMessage(new Uint8Array(64)); await pnext(); });
  pw.postMessage('stop');
  const ceiling = await receiveCeiling();
  log('\nRound trip, µs (lower is better)\n| payload | wasm blocking | wasm async | twin blocking | twin async | postMessage | wasm async / blocking | wasm async / postMessage |\n|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of SIZES) {
    const g = (k) => rt[k].toFixed(1);
    log(`| ${s} | ${g(`wasm blocking ${s}`)} | ${g(`wasm async ${s}`)} | ${g(`twin blocking ${s}`)} | ${g(`twin async ${s}`)} | ${g(`post ${s}`)} | ${(rt[`wasm async ${s}`] / rt[`wasm blocking ${s}`]).toFixed(2)} | ${(rt[`wasm async ${s}`] / rt[`post ${s}`]).toFixed(2)} |`);
  }
  if (SPINS) for (const [k, v] of Object.entries(spinRows)) log(`spins ${k}: ${v.join(' | ')}`);
  log('\nOne-way throughput, messages/s (higher is better; the receiving worker acknowledges every depth-th: with recvAsync per message, or with conn.listen; "sendMany": the depth messages sent by conn.sendMany, to conn.listen; postMessage: an onmessage handler)\n| depth | payload | wasm recvAsync | wasm listen | wasm sendMany | twin recvAsync | twin listen | twin sendMany | postMessage | wasm recvAsync / postMessage | wasm listen / postMessage | wasm sendMany / postMessage |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const d of DEPTHS) for (const s of SIZES) {
    const g = (k) => Math.round(tp[k]).toLocaleString('en');
    log(`| ${d} | ${s} | ${g(`wasm ${d} ${s}`)} | ${g(`wasm listen ${d} ${s}`)} | ${g(`wasm many ${d} ${s}`)} | ${g(`twin ${d} ${s}`)} | ${g(`twin listen ${d} ${s}`)} | ${g(`twin many ${d} ${s}`)} | ${g(`post ${d} ${s}`)} | ${(tp[`wasm ${d} ${s}`] / tp[`post ${d} ${s}`]).toFixed(2)} | ${(tp[`wasm listen ${d} ${s}`] / tp[`post ${d} ${s}`]).toFixed(2)} | ${(tp[`wasm many ${d} ${s}`] / tp[`post ${d} ${s}`]).toFixed(2)} |`);
  }
  log(`\nBusy polling (conn.busyPoll = ${BUSY_US} µs on both connections; docs/API.md, "Busy polling"), one-way 64 B, wasm, messages/s, in the same repetitions as the rows above\n| depth | recvAsync | listen | sendMany | postMessage | recvAsync / postMessage | listen / postMessage | sendMany / postMessage |\n|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const d of DEPTHS) {
    const g = (k) => Math.round(tp[k]).toLocaleString('en'), q = (k) => (tp[k] / tp[`post ${d} 64`]).toFixed(2);
    log(`| ${d} | ${g(`wasm poll ${d} 64`)} | ${g(`wasm poll listen ${d} 64`)} | ${g(`wasm poll many ${d} 64`)} | ${g(`post ${d} 64`)} | ${q(`wasm poll ${d} 64`)} | ${q(`wasm poll listen ${d} 64`)} | ${q(`wasm poll many ${d} 64`)} |`);
  }
  const segTxt = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  log(`\nCPU per received message at 100 messages/s, steady state (whole process, µs, median of ${bus.cpuSegs.bus.length} one-second segments alternated): bus async ${bus.cpu100.toFixed(1)} [${segTxt(bus.cpuSegs.bus)}], bus conn.listen ${bus.cpuListen.toFixed(1)} [${segTxt(bus.cpuSegs.busListen)}], bus recvWait (a worker that blocks) ${bus.cpuWait.toFixed(1)} [${segTxt(bus.cpuSegs.busWait)}], postMessage ${bus.cpuPost.toFixed(1)} [${segTxt(bus.cpuSegs.post)}] (ratio ${(bus.cpu100 / bus.cpuPost).toFixed(2)}; conn.listen ${(bus.cpuListen / bus.cpuPost).toFixed(2)}; recvWait ${(bus.cpuWait / bus.cpuPost).toFixed(2)})`);
  log(`Idle connection (recvAsync pending, no traffic, the median of ${bus.idleWindows.length} windows of ${QUICK ? 2 : 5} s one after the other, from 10 s after the worker's start-up [${bus.idleWindows.map((x) => x.whole.toFixed(2)).join(', ')} %]): ${bus.idle.toFixed(2)} % of a core (whole process, V8's and Node's background threads included; the same process idle with a postMessage worker only, before the bus: ${bus.idlePost.toFixed(2)} %); the waiting worker thread alone: ${bus.idleThread.toFixed(3)} %; the main thread ${bus.idleMain.toFixed(3)} %; the rest (V8's and libuv's threads, the postMessage worker) ${(bus.idle - bus.idleThread - bus.idleMain).toFixed(3)} %`);
  log(`Spins: ${spins}; descheduled by the OS (ended at once, not counted as fast): ${preempted}; longer than 100 µs of wall time: ${over}; the longest spin not descheduled: ${(maxSpin * 1e3).toFixed(1)} µs (budget 50 µs, clock read every 128 loads); the longest counting the descheduled: ${(maxWall * 1e3).toFixed(1)} µs`);
  const cl = Object.entries(coloc);
  log(cl.length === 0 ? 'Threads on one CPU: not sampled (no /proc/thread-self here)' : `Threads on one CPU (wasm, the 64 B rows and the 64 KiB round trips, repetitions included; samples of main's CPU and the worker's current or last one, at most one every ${SAMPLE_MS} ms of a timed loop; on one CPU / samples; bench/placement.mjs): ${cl.map(([k, [one, n]]) => `${k} ${one}/${n}`).join(', ')}`);
  log(`Lock waits (a command that found a lock taken past its spin and slept on the lock word), over all round trips and throughput runs: ${Object.entries(lockWaits).map(([k, [m, w]]) => `${k} main ${m}, worker ${w}`).join('; ')}`);
  log(`Event-loop delay of the main thread, paced 64 B round trips every ${PACE_MS} ms (monitorEventLoopDelay, µs): bus async max ${bus.eld.max.toFixed(0)}, p99 ${bus.eld.p99.toFixed(0)}; postMessage max ${bus.eldPost.max.toFixed(0)}, p99 ${bus.eldPost.p99.toFixed(0)}`);
  log(`Line hand-off between two threads (bench/handoff.mjs, one word passed back and forth, ns one way), before this run's workers started: ${handoffStart.toFixed(0)}`);
  log(`Summary (64 B): round trip blocking ${rt['wasm blocking 64'].toFixed(1)} µs, async ${rt['wasm async 64'].toFixed(1)} µs (${(rt['wasm async 64'] / rt['wasm blocking 64']).toFixed(2)}× blocking), postMessage ${rt['post 64'].toFixed(1)} µs`);
  // the targets of issue 10, item 1, from this run's figures
  const verdict = (ok) => (ok ? 'PASS' : 'MISS');
  const rtRatio = rt['wasm async 64'] / rt['wasm blocking 64'];
  log('\nTargets (this run):');
  log(`  ${verdict(rtRatio <= 2)}  async round trip 64 B within 2× the blocking one (wasm): ${rt['wasm async 64'].toFixed(1)} / ${rt['wasm blocking 64'].toFixed(1)} µs = ${rtRatio.toFixed(2)}×`);
  log(`  ${verdict(bus.cpu100 <= bus.cpuPost)}  CPU per message at 100 msg/s no more than postMessage's (receiver recvAsync): ${bus.cpu100.toFixed(1)} / ${bus.cpuPost.toFixed(1)} µs = ${(bus.cpu100 / bus.cpuPost).toFixed(2)}×`);
  log(`  ${verdict(bus.cpuListen <= bus.cpuPost)}  CPU per message at 100 msg/s no more than postMessage's (receiver conn.listen, onmessage's counterpart): ${bus.cpuListen.toFixed(1)} / ${bus.cpuPost.toFixed(1)} µs = ${(bus.cpuListen / bus.cpuPost).toFixed(2)}×`);
  log(`  ${verdict(maxSpin * 1e3 <= 100)}  longest event-loop block from a spin <= 100 µs: ${(maxSpin * 1e3).toFixed(1)} µs (spins not descheduled)`);
  log(`  ${verdict(bus.idle < 1)}  idle connection < 1 % of a core: ${bus.idle.toFixed(2)} % (whole process; the waiting thread alone ${bus.idleThread.toFixed(3)} %, the main thread ${bus.idleMain.toFixed(3)} %)`);
  log(`  (the receive path's own ceiling, one thread, 64 B, wasm: send ${ceiling.send.toFixed(0)} ns, recvAsync + free ${ceiling.recvAsync.toFixed(0)} ns, a for-await step ${ceiling.iterator.toFixed(0)} ns, recv + free ${ceiling.recv.toFixed(0)} ns, a conn.listen handler call ${ceiling.listen.toFixed(0)} ns per message; a receiver calling recvAsync per message cannot pass ${Math.round(1e9 / ceiling.recvAsync).toLocaleString('en')} msg/s, ${(1e9 / ceiling.recvAsync / tp['post 256 64']).toFixed(2)}× postMessage's depth-256 rate and ${(1e9 / ceiling.recvAsync / tp['post 16 64']).toFixed(2)}× its depth-16 rate in this run; a listener ${(1e9 / ceiling.listen / tp['post 256 64']).toFixed(2)}× and ${(1e9 / ceiling.listen / tp['post 16 64']).toFixed(2)}×)`);
  // item 9's targets: one-way 64 B at every depth measured, and the 64 KiB round trip (async: what a thread that must not block gets)
  for (const key of ['', ' listen', ' many']) for (const d of DEPTHS) {
    const r = tp[`wasm${key} ${d} 64`] / tp[`post ${d} 64`];
    const how = key === ' many' ? 'sender conn.sendMany, receiver conn.listen' : `receiver ${key ? 'conn.listen' : 'recvAsync'}`;
    log(`  ${verdict(r >= 5)}  one-way 64 B throughput at depth ${d} >= 5× postMessage (wasm, ${how}): ${Math.round(tp[`wasm${key} ${d} 64`]).toLocaleString('en')} / ${Math.round(tp[`post ${d} 64`]).toLocaleString('en')} msg/s = ${r.toFixed(2)}×`);
  }
  log(`  (with busy polling, an opt-in: conn.busyPoll = ${BUSY_US} on both connections; not the targets' default)`);
  for (const key of [' poll', ' poll listen', ' poll many']) for (const d of DEPTHS) {
    const r = tp[`wasm${key} ${d} 64`] / tp[`post ${d} 64`];
    const how = key === ' poll many' ? 'sender conn.sendMany, receiver conn.listen' : `receiver ${key === ' poll listen' ? 'conn.listen' : 'recvAsync'}`;
    log(`  ${verdict(r >= 5)}  busyPoll: one-way 64 B throughput at depth ${d} >= 5× postMessage (wasm, ${how}): ${Math.round(tp[`wasm${key} ${d} 64`]).toLocaleString('en')} / ${Math.round(tp[`post ${d} 64`]).toLocaleString('en')} msg/s = ${r.toFixed(2)}×`);
  }
  for (const mode of ['async', 'blocking']) {
    const r = rt[`wasm ${mode} 65536`] / rt['post 65536'];
    log(`  ${verdict(r <= 0.25)}  64 KiB round trip (wasm ${mode}) <= 0.25× postMessage's: ${rt[`wasm ${mode} 65536`].toFixed(1)} / ${rt['post 65536'].toFixed(1)} µs = ${r.toFixed(2)}×`);
  }
}

/**
 * The receiving side's own ceiling: one thread, no peer, no contention: 256 sends, then the
 * same 256 received and freed, through the public API (64 B, wasm), timed apart (ns per
 * message, medians). The one-way rows cannot beat the receive path's own rate, whatever the
 * send path does.
 */
async function receiveCeiling() {
  const b = await Bus.create({ engine: 'wasm', provider: new MockProvider() });
  const tx = b.connect(), rx = b.connect();
  const p64 = new Uint8Array(64), BATCH = 256, ROUNDS = QUICK ? 40 : 200;
  const t = { send: [], recvAsync: [], iterator: [], recv: [], listen: [] };
  for (let r = 0; r < REPS + 1; r++) {
    for (const mode of ['recvAsync', 'iterator', 'recv', 'listen']) {
      let tS = 0, tR = 0;
      for (let k = 0; k < ROUNDS; k++) {
        let t0 = performance.now();
        for (let i = 0; i < BATCH; i++) tx.send(rx.id, p64);
        tS += performance.now() - t0;
        t0 = performance.now();
        if (mode === 'recv') for (let i = 0; i < BATCH; i++) rx.recv().free();
        else if (mode === 'iterator') { let i = 0; for await (const m of rx.messages({ timeout: 20000 })) if (++i === BATCH) break; } // (each step frees the message before it, break the last)
        else if (mode === 'listen') { let i = 0; const l = rx.listen(() => { if (++i === BATCH) l.stop(); }); await l.done; } // (each message freed as its handler returns)
        else for (let i = 0; i < BATCH; i++) (await rx.recvAsync({ timeout: 20000 })).free();
        tR += performance.now() - t0;
      }
      if (r > 0) { t[mode].push((tR * 1e6) / (BATCH * ROUNDS)); t.send.push((tS * 1e6) / (BATCH * ROUNDS)); }
    }
  }
  tx.close(); rx.close(); b.close();
  return { send: median(t.send), recvAsync: median(t.recvAsync), iterator: median(t.iterator), recv: median(t.recv), listen: median(t.listen) };
}
