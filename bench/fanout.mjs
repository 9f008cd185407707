// Cross-thread broadcast benchmark (part of npm run bench:threads): the main thread emits
// D-Bus signals that 1 or 4 worker subscribers receive, against BroadcastChannel. Plain
// node, from dist/; every figure printed from one run, medians of REPS repetitions after a
// warm-up one.
//
//   bus   main: conn.emit({ path, interface, member, signature: 'ay', body }) to the
//         broadcast id (the bloom filter built from the header, the D-Bus message written
//         into the command area, one SEND delivering to every matching receiver); each
//         worker: conn.addMatch("type='signal',interface='org.wasmbus.Bench'"), then
//         conn.listen (the bus's onmessage, as BroadcastChannel's workers use theirs; until
//         stop 53 a recvAsync + free per message: docs/BENCHMARKS.md, stop 53). After
//         every `depth` signals main sends each subscriber a unicast sync, queued behind
//         them; the subscriber answers it (every earlier signal received, or reported lost
//         by DROPPED_MSGS). One non-matching worker connection more is subscribed to another
//         interface, so every send also rejects one subscriber by bloom.
//   BroadcastChannel   main posts the payload (structured clone per receiver); each worker
//         counts in onmessage and acknowledges every `depth` messages through parentPort.
//
//   bus, batch   the same, each burst of `depth` signals and its syncs inside bus.batch(): each
//         parked subscriber woken once per burst, at its end (API.md, "bus.batch").
//
// Reported: signals per second sent (each reaching every subscriber), at depth 16 (main
// sends 16, then waits for every subscriber's acknowledgement), and the broadcasts lost (a
// receiver whose pool or quota is full loses one; a contended lock no longer loses any: the
// broadcast waits for it. A non-zero count is printed, never hidden). Each configuration
// first runs WARM signals unmeasured (the bus and BroadcastChannel alike): until stop 53 the
// rows were mostly the JIT's warm-up (the first 2 000-4 000 signals ran at 20-30 k/s on wasm,
// then 120-180 k/s), the bus's emit path being much longer than a postMessage.
//   node bench/fanout.mjs [--quick]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { Bus, MockProvider, PAYLOAD_DBUS } from '../dist/js/index.js';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 5;
const SUBSCRIBERS = [1, 4];
const SIZES = [64, 1024];
const DEPTH = 16;
const N = QUICK ? 512 : 2048; // signals per repetition (a multiple of DEPTH)
const WARM = QUICK ? 4096 : 8192; // signals sent before the repetitions, unmeasured
const IFACE = 'org.wasmbus.Bench';
const TIMEOUT = 20000;
const SYNC = new Uint8Array([2]);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

if (!isMainThread) {
  const { kind, handle, engine, other } = workerData;
  if (kind === 'bc') {
    const bc = new BroadcastChannel('wasmbus-bench');
    let n = 0;
    bc.onmessage = () => { if (++n % DEPTH === 0) parentPort.postMessage(1); };
    parentPort.on('message', (m) => { if (m === 'stop') { bc.close(); parentPort.close(); } });
    parentPort.postMessage('ready');
  } else {
    const bus = await Bus.join(handle, { engine, provider: new MockProvider() });
    const conn = bus.connect();
    conn.addMatch(`type='signal',interface='${other ? 'org.wasmbus.Other' : IFACE}'`);
    parentPort.postMessage(conn.id);
    let n = 0;
    const l = conn.listen((m) => {
      if (m.payloadType === PAYLOAD_DBUS) { n++; return; }
      // a unicast from main, queued behind the signals it sent before it: hello [1], sync [2]
      // (acknowledge: every earlier signal was received, or reported lost: droppedTotal), stop []
      const kind = m.payload.length === 0 ? 0 : m.payload[0];
      if (kind === 0) l.stop();
      else if (kind === 2) conn.send(m.src, new Uint32Array([n, conn.droppedTotal]));
    });
    await l.done;
    parentPort.postMessage({ dropped: conn.droppedTotal });
    conn.close();
    bus.close();
  }
} else {
  console.log(`${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores (shared: noisy); median of ${REPS}; depth ${DEPTH}`);
  const rate = {};
  let drops = 0;
  for (const engine of ['wasm', 'twin']) {
    for (const subs of SUBSCRIBERS) {
      const b = await Bus.create({ engine, provider: new MockProvider(), limits: { connections: subs + 4 } });
      const main = b.connect();
      const ws = [];
      for (let i = 0; i <= subs; i++) {
        const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bus', handle: b.handle(), engine, other: i === subs } });
        const id = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
        w.on('error', (e) => { console.error('worker error', e); process.exit(1); });
        ws.push({ w, id });
      }
      for (const { id } of ws) main.send(id, new Uint8Array([1])); // hello: tells the worker main's id
      for (const size of SIZES) {
        const body = [new Uint8Array(size)];
        const burst = () => {
          for (let k = 0; k < DEPTH; k++) main.emit({ path: '/org/wasmbus/Bench', interface: IFACE, member: 'Tick', signature: 'ay', body });
          for (let a = 0; a < subs; a++) main.send(ws[a].id, SYNC);
        };
        const round = async (batch, n) => {
          for (let i = 0; i < n; i += DEPTH) {
            if (batch) b.batch(burst); else burst();
            for (let a = 0; a < subs; a++) (await main.recvAsync({ timeout: TIMEOUT })).free();
          }
        };
        await round(false, WARM / 2);
        await round(true, WARM / 2);
        // the two ways alternated, repetition by repetition (the machine's mode drifts)
        const rates = { plain: [], batch: [] };
        for (let r = 0; r < 2 * REPS; r++) {
          const batch = r % 2 === 1;
          const t0 = performance.now();
          await round(batch, N);
          rates[batch ? 'batch' : 'plain'].push(N / ((performance.now() - t0) / 1e3));
        }
        rate[`${engine} ${subs} ${size}`] = median(rates.plain);
        rate[`${engine} batch ${subs} ${size}`] = median(rates.batch);
      }
      for (const { w, id } of ws) {
        // both listeners before the stop: a worker's last message and its 'exit' can be
        // emitted in one turn of this thread's loop, before an `await` between them resumes
        // (a listener attached after the message would miss the exit: threadId is already -1)
        const fin = new Promise((res) => w.once('message', res));
        const exited = new Promise((res) => w.once('exit', res));
        main.send(id, null);
        drops += (await fin).dropped;
        await exited;
      }
      main.close();
      b.close();
    }
  }
  for (const subs of SUBSCRIBERS) {
    const bc = new BroadcastChannel('wasmbus-bench');
    const ws = [];
    for (let i = 0; i < subs; i++) {
      const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bc' } });
      await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
      ws.push(w);
    }
    let acks = 0, wake = null;
    for (const w of ws) w.on('message', () => { acks++; if (wake) wake(); });
    const acked = (want) => new Promise((res) => {
      if (acks >= want) return res();
      wake = () => { if (acks >= want) { wake = null; res(); } };
    });
    for (const size of SIZES) {
      const payload = new Uint8Array(size);
      const rates = [];
      const round = async (n) => {
        for (let i = 0; i < n; i += DEPTH) {
          const base = acks;
          for (let k = 0; k < DEPTH; k++) bc.postMessage(payload);
          await acked(base + subs);
        }
      };
      await round(WARM);
      for (let r = 0; r < REPS; r++) {
        const t0 = performance.now();
        await round(N);
        rates.push(N / ((performance.now() - t0) / 1e3));
      }
      rate[`bc ${subs} ${size}`] = median(rates);
    }
    for (const w of ws) { w.postMessage('stop'); }
    await Promise.all(ws.map((w) => new Promise((res) => { w.once('exit', res); setTimeout(() => { w.terminate(); res(); }, 2000); })));
    bc.close();
  }
  console.log('\nBroadcast to worker subscribers, signals/s sent (higher is better; each reaches every subscriber)\n| subscribers | payload | wasm | wasm, bus.batch | twin | twin, bus.batch | BroadcastChannel | wasm / BroadcastChannel | wasm batch / BroadcastChannel |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const subs of SUBSCRIBERS) for (const s of SIZES) {
    const g = (k) => Math.round(rate[k]).toLocaleString('en');
    console.log(`| ${subs} | ${s} | ${g(`wasm ${subs} ${s}`)} | ${g(`wasm batch ${subs} ${s}`)} | ${g(`twin ${subs} ${s}`)} | ${g(`twin batch ${subs} ${s}`)} | ${g(`bc ${subs} ${s}`)} | ${(rate[`wasm ${subs} ${s}`] / rate[`bc ${subs} ${s}`]).toFixed(2)} | ${(rate[`wasm batch ${subs} ${s}`] / rate[`bc ${subs} ${s}`]).toFixed(2)} |`);
  }
  console.log(`Broadcasts dropped (receiver full): ${drops}`);
}
