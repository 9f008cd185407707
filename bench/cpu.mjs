// Where the CPU of a message at 100 messages/s goes
// (npm run bench:cpu [-- --warm-msgs N] [--warm S] [--rounds N] [--base OTHER/dist]),
// split by thread and by phase: the main thread send()s 64 B to one receiving worker at a time,
// every 10 ms, in one-second segments alternated between four receivers, all alive at once:
//   post     worker.postMessage to an onmessage handler (the baseline of bench:threads' CPU row)
//   bare     Atomics.waitAsync on the connection's wake word (counted on its sleepers word as
//            the library counts its own waits, js/host/sleepers.ts) + conn.recv() + m.free(), a
//            last recv() that finds the queue empty, and the next wait: the least a bus receiver
//            can do per parked message with the public API
//   listen   conn.listen
//   async    a recvAsync() + free() loop
// The main thread's own side too (stop 44): its context switches per message (voluntary: it
// slept, in epoll between timer ticks; involuntary: preempted), from /proc/thread-self/status,
// which says whether a bus receiver makes main wake more than once per message, and the wall
// time of main's send() (or postMessage()) call itself, median of the segments' calls.
// Per segment and receiver, µs of CPU per message of: the main thread, the receiving worker,
// the other workers (idle), and the rest of the process (V8's and libuv's threads: compilation,
// garbage collection); each thread's CPU from /proc/self/task/*/schedstat (Linux only). And
// the receiving worker's "JS window": from the moment its parked wait resolved (the callback
// of the waitAsync's promise) to its next park (the next Atomics.waitAsync call), read with
// performance.now(); for listen and async that needs the library's own wait stamped, so the
// bench loads a temporary copy of dist/ whose js/host/wait.js is patched (as bench:lines patches
// the twin's mem.js). The worker's CPU minus its JS window is what the wake-up itself costs it
// (kernel, libuv, V8's task, the microtasks up to the callback). For post the window is the
// onmessage handler's own run: Node's receive before it (the port's task, the clone's
// deserialization, the event) is in the rest.
//
// Before the segments each receiver gets --warm-msgs messages (default 6000) one millisecond
// apart, each of which still finds it parked, then --warm seconds (default 5) of the segments'
// traffic: TurboFan compiles a function once it has run enough, and at 100 msg/s the park
// path's functions got there only after about a minute: with 10-15 s of warm-up at 100 msg/s
// the segments met their first compilations (V8's threads took 20-80 µs per bus message, 0 for
// postMessage's, and the receiving worker ran them unoptimized until then), with 60 s or the
// paced 6000 none (`node --trace-opt`, stop 40). Medians of --rounds (default 8) segments per
// receiver. Timing assertions belong here, not in tests; this bench asserts nothing.
//
// --base OTHER/dist adds the receivers listen@base and async@base, whose workers load another
// build's dist/ (the same core and BUS_VERSION: the bus is this build's), in the same
// alternation: an A/B of a change to the receive path in one process (stop 40).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { next } from './worker-next.mjs';

const KINDS = ['post', 'bare', 'listen', 'async']; // (and listen@base, async@base with --base)

if (!isMainThread) {
  const { kind, dist, handle } = workerData;
  // the JS window: stamped by the patched wait.js (listen, async) or by the loops below
  let wakeAt = 0, sum = 0, n = 0, got = 0, cpu0 = 0, got0 = 0;
  const W = globalThis.__wasmbusWindow = {
    wake() { wakeAt = performance.now(); },
    park() { if (wakeAt !== 0) { sum += performance.now() - wakeAt; n++; wakeAt = 0; } },
  };
  const cpuNs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  const tid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
  const control = (m) => {
    if (m === 'start') { sum = 0; n = 0; got0 = got; cpu0 = cpuNs(); return true; }
    if (m === 'stop') { parentPort.postMessage({ cpuUs: (cpuNs() - cpu0) / 1e3, msgs: got - got0, windowUs: sum * 1e3, windows: n }); return true; }
    return false;
  };
  if (kind === 'post') {
    parentPort.on('message', (m) => { if (control(m)) return; W.wake(); m[0]; got++; W.park(); });
    parentPort.postMessage({ tid, id: 0 });
  } else {
    const { Bus, MockProvider } = await import(dist + '/js/index.js');
    const bus = await Bus.join(handle, { engine: 'wasm', provider: new MockProvider() });
    const conn = bus.connect();
    parentPort.on('message', control);
    parentPort.postMessage({ tid, id: conn.id });
    if (kind === 'listen') conn.listen((m) => { m.payload[0]; got++; });
    else if (kind === 'async') void (async () => { for (;;) { const m = await conn.recvAsync(); m.payload[0]; m.free(); got++; } })();
    else {
      // (internal fields of Connection, read as the library reads them: the wake word and its sleepers count)
      const i32 = conn.engine.i32, idx = conn.wakeIndex, sl = conn.sleepersIndex;
      setInterval(() => {}, 0x3fffffff); // the keep-alive a parked receive holds
      const loop = () => {
        for (;;) {
          const seen = Atomics.load(i32, idx);
          const m = conn.recv();
          if (m !== null) { m.payload[0]; m.free(); got++; continue; }
          Atomics.add(i32, sl, 1);
          W.park();
          const w = Atomics.waitAsync(i32, idx, seen);
          if (!w.async) { Atomics.sub(i32, sl, 1); continue; }
          w.value.then((how) => { W.wake(); if (how !== 'ok') Atomics.sub(i32, sl, 1); loop(); });
          return;
        }
      };
      loop();
    }
  }
} else {
  const arg = (name, d) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : d; };
  const WARM_S = arg('--warm', 5), WARM_N = arg('--warm-msgs', 6000), ROUNDS = arg('--rounds', 8);
  const bi = process.argv.indexOf('--base'), BASE = bi > 0 ? process.argv[bi + 1] : null;
  if (BASE) KINDS.push('listen@base', 'async@base');
  if (!existsSync('/proc/self/task')) throw new Error('bench/cpu: needs Linux (/proc/self/task)');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'wasmbus-cpu-'));
  const workers = [];
  try {
    cpSync(join(root, 'dist'), join(tmp, 'dist'), { recursive: true });
    cpSync(join(root, 'build'), join(tmp, 'build'), { recursive: true });
    // the window's stamps: every park of an event-loop wait goes through waitAsyncFn; its
    // resolutions through one of these thens (a wait group's, since stop 60: receives, listen's
    // park, the reply pump; waitWord's and parkOn's before); a pattern marked needed must be
    // found (the others are for builds before stop 60, given as --base)
    const patchWait = (dir) => {
      // (the groups are in wait-group.js since stop 60's last commits, in wait.js before)
      const groupJs = join(dir, 'js/host/wait-group.js');
      const waitJs = existsSync(groupJs) ? groupJs : join(dir, 'js/host/wait.js');
      let s = readFileSync(waitJs, 'utf8');
      const group = /const r = waitAsync(Fn)?\(this\.i32, this\.index, v\);/.test(s);
      const patch = [
        ['const r = waitAsync(this.i32, this.index, v);', 'globalThis.__wasmbusWindow?.park(); const r = waitAsync(this.i32, this.index, v);', false],
        ['const r = waitAsyncFn(this.i32, this.index, v);', 'globalThis.__wasmbusWindow?.park(); const r = waitAsyncFn(this.i32, this.index, v);', false],
        ['resolved = (how) => {', 'resolved = (how) => { globalThis.__wasmbusWindow?.wake();', group],
        ['const r = waitAsyncFn(i32, index, expected);', 'globalThis.__wasmbusWindow?.park(); const r = waitAsyncFn(i32, index, expected);', !group],
        ['return r.value.then((how) => { parked++;', 'return r.value.then((how) => { globalThis.__wasmbusWindow?.wake(); parked++;', !group],
        ['void r.value.then(onWake);', 'void r.value.then((how) => { globalThis.__wasmbusWindow?.wake(); onWake(how); });', false],
      ];
      for (const [from, to, needed] of patch) {
        if (!s.includes(from)) { if (needed) throw new Error(`bench/cpu: ${waitJs} has no "${from}" any more: update the patch list`); continue; }
        s = s.replaceAll(from, to);
      }
      writeFileSync(waitJs, s);
    };
    patchWait(join(tmp, 'dist'));
    if (BASE) {
      // another build's dist/ for the kinds "@base" (the same core: the bus is this build's)
      cpSync(BASE, join(tmp, 'base/dist'), { recursive: true });
      cpSync(join(root, 'build'), join(tmp, 'base/build'), { recursive: true });
      patchWait(join(tmp, 'base/dist'));
    }
    const baseDist = BASE ? pathToFileURL(join(tmp, 'base/dist')).href : null;
    const dist = pathToFileURL(join(tmp, 'dist')).href;
    const { Bus, MockProvider } = await import(dist + '/js/index.js');
    const b = await Bus.create({ engine: 'wasm', provider: new MockProvider(), limits: { connections: 8 } });
    const main = b.connect();
    const W = {};
    for (const kind of KINDS) {
      const w = new Worker(new URL(import.meta.url), { workerData: { kind: kind.split('@')[0], dist: kind.endsWith('@base') ? baseDist : dist, handle: kind === 'post' ? null : b.handle() } });
      workers.push(w);
      W[kind] = { w, ...(await next(w)) };
    }
    const myTid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
    const p64 = new Uint8Array(64);
    const send = Object.fromEntries(KINDS.map((k) => [k, k === 'post' ? () => W.post.w.postMessage(p64) : () => main.send(W[k].id, p64)]));
    /** per receiver, the wall time of main's send() / postMessage() call itself, ms (the segments' only) */
    const callMs = Object.fromEntries(KINDS.map((k) => [k, []]));
    let timing = false;
    const timed = Object.fromEntries(KINDS.map((k) => [k, () => { const t = performance.now(); send[k](); if (timing) callMs[k].push(performance.now() - t); }]));
    const run = (kind, ms) => new Promise((res) => { const iv = setInterval(timed[kind], 10); setTimeout(() => { clearInterval(iv); res(); }, ms); });
    /** n messages to one receiver one millisecond apart: each still finds it parked (stop 40) */
    const paced = async (kind, n) => { for (let i = 0; i < n; i++) { send[kind](); await new Promise((res) => setTimeout(res, 1)); } };
    /** the main thread's context switches (voluntary: it slept, e.g. in epoll; involuntary: preempted) */
    const ctxt = () => { const t = readFileSync('/proc/thread-self/status', 'utf8'); return [Number(/voluntary_ctxt_switches:\s*(\d+)/.exec(t)[1]), Number(/nonvoluntary_ctxt_switches:\s*(\d+)/.exec(t)[1])]; };
    const threads = () => {
      const o = new Map();
      for (const t of readdirSync('/proc/self/task')) {
        try { o.set(Number(t), Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0])); } catch { /* a thread that ended */ }
      }
      return o;
    };
    const wTids = new Set(KINDS.map((k) => W[k].tid));
    console.log(`${process.version}; warm-up per receiver: ${WARM_N} parked messages 1 ms apart, then ${WARM_S} s at 100 msg/s; then ${ROUNDS} one-second segments each, alternated`);
    for (const kind of KINDS) await paced(kind, WARM_N);
    for (const kind of KINDS) await run(kind, WARM_S * 1000);
    const segs = Object.fromEntries(KINDS.map((k) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of (r % 2 ? [...KINDS].reverse() : KINDS)) {
        const w = W[kind].w;
        w.postMessage('start');
        const a = threads(), ca = ctxt();
        timing = true;
        await run(kind, 1000);
        timing = false;
        const z = threads(), cz = ctxt();
        await new Promise((res) => setTimeout(res, 20)); // (the last message's handling)
        w.postMessage('stop');
        const rep = await next(w);
        const g = { main: 0, rest: 0, idle: 0 };
        for (const [t, ns] of z) {
          const d = (ns - (a.get(t) ?? 0)) / 1e3;
          if (t === myTid) g.main += d; else if (t === W[kind].tid) continue; else if (wTids.has(t)) g.idle += d; else g.rest += d;
        }
        const m = rep.msgs || 1;
        segs[kind].push({ main: g.main / m, worker: rep.cpuUs / m, window: rep.windows ? rep.windowUs / rep.windows : NaN, idle: g.idle / m, rest: g.rest / m, parks: rep.windows / m, vcs: (cz[0] - ca[0]) / m, ivcs: (cz[1] - ca[1]) / m });
      }
    }
    const med = (xs) => { const s2 = [...xs].sort((x, y) => x - y); return s2[s2.length >> 1]; };
    const out = {};
    console.log('\nµs of CPU per message at 100 messages/s (medians), by thread; the receiving worker split into its JS window and the rest (the wake-up)');
    console.log('| receiver | main | receiving worker | its JS window | worker minus window | idle workers | V8/libuv threads | whole process | / post | main: sleeps / preemptions per message | main: its send call, wall µs |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const whole = (k) => med(segs[k].map((x) => x.main + x.worker + x.idle + x.rest));
    for (const k of KINDS) {
      const f = (key) => med(segs[k].map((x) => x[key]));
      out[k] = { main: f('main'), worker: f('worker'), window: f('window'), idle: f('idle'), rest: f('rest'), whole: whole(k), parks: f('parks'), vcs: f('vcs'), ivcs: f('ivcs'), call: med(callMs[k]) * 1e3 };
      const o = out[k];
      console.log(`| ${k} | ${o.main.toFixed(1)} | ${o.worker.toFixed(1)} | ${o.window.toFixed(1)} | ${(o.worker - o.window).toFixed(1)} | ${o.idle.toFixed(1)} | ${o.rest.toFixed(1)} | ${o.whole.toFixed(1)} | ${(o.whole / whole('post')).toFixed(2)}× | ${o.vcs.toFixed(2)} / ${o.ivcs.toFixed(2)} | ${o.call.toFixed(1)} |`);
    }
    console.log(JSON.stringify(Object.fromEntries(KINDS.map((k) => [k, Object.fromEntries(Object.entries(out[k]).map(([x, v]) => [x, +v.toFixed(1)]))]))));
  } finally {
    for (const w of workers) await w.terminate();
    rmSync(tmp, { recursive: true, force: true });
  }
}
