// A staged emitAsync broadcast at a held lock (docs/BENCHMARKS.md, stop 70): one `emitAsync` of
// a D-Bus signal of `size` bytes (staged: larger than the command area) to 3 subscribers, while
// a lock is held by a second joined thread slot (a LIVE holder, as a worker that died and is not
// recovered yet) and let go by a main-thread timer after `holdMs`: a subscriber's lock (`sub`),
// or the sender's own (`sender`, met by the first try's staging), or the bus lock (`bus`: the
// sender owns a name and one subscriber's rule names it, a NAME rule, so the delivery needs the
// bus lock; stop 70's first try met it at its commit and staged the payload again at each look,
// stop 71's waits for it before staging). Prints, per repetition, the
// time the call took, the longest gap of a 1 ms interval timer (how long the event loop stood
// still), the process CPU over the call, and how many subscribers got the signal. A timer that
// lets the lock go can run only if the call leaves the event loop free.
// usage: node bench/aside.mjs [dist dir (./dist)] [wasm|twin] [size] [holdMs] [reps] [sub|sender|bus]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distArg, engine = 'wasm', size = '2000000', holdMs = '800', reps = '3', which = 'sub'] = process.argv.slice(2);
// (a dist directory as given, from the working directory; by default this checkout's)
const dist = distArg ? pathToFileURL(resolve(distArg)).href : new URL('../dist', import.meta.url).href;
const W = await import(`${dist}/js/index.js`);
const { Bus, MockProvider, abi: A } = W;
const SIG = { path: '/org/example/Feed', interface: 'org.example.Feed', member: 'Item', signature: 'ay' };
const body = new Uint8Array(Number(size)).fill(7);
for (let r = 0; r < Number(reps); r++) {
  const mock = new MockProvider({ realClock: true });
  const bus = await Bus.create({ engine, provider: mock, limits: { poolMax: 32 << 20 } });
  const j = await Bus.join(bus.handle(), { provider: mock, engine });
  const s = bus.connect({ poolSize: 16 << 20 });
  const subs = [0, 1, 2].map(() => bus.connect({ poolSize: 16 << 20 }));
  if (which === 'bus') s.requestName('org.example.Src');
  for (const c of subs) c.addMatch(which === 'bus' && c === subs[0] ? { type: 'signal', sender: 'org.example.Src', interface: SIG.interface } : { type: 'signal', interface: SIG.interface });
  const i32 = bus.engine.i32;
  const word = which === 'bus' ? (A.BUS_BASE + A.BUS_LOCK) >>> 2 : (bus.engine.connAddr((which === 'sender' ? s : subs[1]).slot) + A.CONN_LOCK) >>> 2;
  let last = performance.now(), gap = 0;
  const iv = setInterval(() => { const n = performance.now(); gap = Math.max(gap, n - last); last = n; }, 1);
  await new Promise((res) => setTimeout(res, 5));
  Atomics.store(i32, word, j.engine.threadSlot + 1);
  setTimeout(() => { Atomics.store(i32, word, 0); Atomics.notify(i32, word); }, Number(holdMs));
  last = performance.now();
  const t0 = performance.now(), c0 = process.cpuUsage();
  let err = '';
  try { await s.emitAsync({ ...SIG, body: [body] }); } catch (e) { err = `, rejected ${e.code}`; }
  const took = performance.now() - t0, cpu = process.cpuUsage(c0);
  gap = Math.max(gap, performance.now() - last);
  clearInterval(iv);
  await new Promise((res) => setTimeout(res, 50));
  let got = 0;
  for (const c of subs) { let m; while ((m = c.recv())) { got++; m.free(); } }
  console.log(`${engine} ${size} B ${which} held ${holdMs} ms: took ${took.toFixed(0)} ms, CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, longest stall ${gap.toFixed(1)} ms, delivered to ${got} of 3, lost ${subs[1].droppedTotal}${err}`);
  Atomics.store(i32, word, 0);
  s.close(); for (const c of subs) c.close(); j.close(); bus.close();
}
