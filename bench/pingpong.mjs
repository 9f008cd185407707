// Cross-thread round trips: main <-> one worker, 64-byte payloads, over the bus (both
// sides block in recvWait on their connection's wake word) vs worker.postMessage. Plain
// node, from dist/. Validates every echoed payload; prints the median of 5 repetitions.
//   node bench/pingpong.mjs [--quick]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Bus, MockProvider } from '../dist/js/index.js';

const QUICK = process.argv.includes('--quick');
const N = QUICK ? 300 : 2000; // round trips per repetition
const REPS = QUICK ? 3 : 5;
const SIZE = 64;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

if (!isMainThread) {
  const { mode, handle, engine } = workerData;
  if (mode === 'post') {
    parentPort.on('message', (m) => { if (m === 'stop') process.exit(0); parentPort.postMessage(m); });
  } else {
    const bus = await Bus.join(handle, { engine, provider: new MockProvider() });
    const conn = bus.connect();
    parentPort.postMessage(conn.id);
    for (;;) {
      const m = conn.recvWait(10000);
      if (!m) throw new Error('worker: no message in 10 s');
      const src = m.src, p = m.payload;
      if (p.length === 0) { m.free(); break; } // stop
      conn.send(src, p); // echo, copied once from our pool into theirs
      m.free();
    }
    conn.close();
    bus.close();
  }
} else {
  const rows = [];
  for (const engine of ['wasm', 'twin']) {
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: 4, poolMax: 65536 } });
    const main = bus.connect();
    const w = new Worker(new URL(import.meta.url), { workerData: { mode: 'bus', handle: bus.handle(), engine } });
    const peer = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
    const payload = new Uint8Array(SIZE);
    const times = [];
    for (let r = 0; r < REPS + 1; r++) {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        payload[0] = i & 0xff;
        main.send(peer, payload);
        const m = main.recvWait(10000);
        if (!m || m.payload.length !== SIZE || m.payload[0] !== (i & 0xff)) throw new Error(`${engine}: bad echo at ${i}`);
        m.free();
      }
      if (r > 0) times.push(((performance.now() - t0) * 1e3) / N); // first rep: warm-up
    }
    main.send(peer, null); // stop
    await new Promise((res) => w.once('exit', res));
    main.close();
    bus.close();
    rows.push([`bus (${engine})`, median(times)]);
  }
  {
    const w = new Worker(new URL(import.meta.url), { workerData: { mode: 'post' } });
    const payload = new Uint8Array(SIZE);
    const times = [];
    for (let r = 0; r < REPS + 1; r++) {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        payload[0] = i & 0xff;
        w.postMessage(payload);
        const m = await new Promise((res) => w.once('message', res));
        if (m.length !== SIZE || m[0] !== (i & 0xff)) throw new Error(`postMessage: bad echo at ${i}`);
      }
      if (r > 0) times.push(((performance.now() - t0) * 1e3) / N);
    }
    w.postMessage('stop');
    rows.push(['worker.postMessage', median(times)]);
  }
  console.log(`${process.version}, ${(await import('node:os')).cpus()[0]?.model ?? '?'}, ${(await import('node:os')).cpus().length} cores; ${SIZE}-byte round trips, median of ${REPS} x ${N}`);
  console.log('| path | µs per round trip |\n|---|---:|');
  for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(1)} |`);
}
