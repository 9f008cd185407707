// From dist/ under plain node (no tsx anywhere): a worker_threads Worker joins a bus made on
// the main thread, on either engine, and they exchange messages both ways. tests/run.mjs
// builds dist/ (tsc -p tsconfig.build.json, then scripts/build-dist.mjs, as npm run build:ts) right before this run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { Bus, MockProvider } from '../../dist/js/index.js';

const s = suite('threads: from dist/ [node, no tsx]');
const workers = new Set();
s.after(async () => { await Promise.all([...workers].map((w) => w.terminate())); });

function within(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

for (const [mainEngine, workerEngine] of [['wasm', 'wasm'], ['twin', 'twin'], ['wasm', 'twin'], ['twin', 'wasm']]) {
  s(`main on ${mainEngine}, worker on ${workerEngine}`, async () => {
    const bus = await Bus.create({ engine: mainEngine, provider: new MockProvider(), limits: { threads: 4, connections: 8, poolMax: 65536 } });
    const main = bus.connect();
    const handle = bus.handle();
    const w = new Worker(new URL('./dist.worker.mjs', import.meta.url), { workerData: { data: { handle, engine: workerEngine } } });
    workers.add(w);
    const inbox = [];
    let wake = null;
    w.on('message', (m) => { inbox.push(m); wake?.(); });
    w.on('error', (e) => { inbox.push({ error: String(e) }); wake?.(); });
    const exited = new Promise((r) => w.once('exit', r));
    // one waiter at a time; a message that arrives while nobody waits stays in the inbox (the
    // waiter is cleared once served, so a late message cannot be handed to a settled promise)
    const next = (what) => within(new Promise((r) => {
      const look = () => {
        if (!inbox.length) { wake = look; return; }
        wake = null;
        r(inbox.shift());
      };
      look();
    }), 20000, what);
    const ready = await next('ready');
    assert.is(ready.error, undefined, ready.error);
    assert.is(ready.engine, workerEngine);
    main.send(ready.id, new Uint8Array([1, 2, 3, 4]));
    const m = await main.recvAsync({ timeout: 5000 });
    assert.equal([...m.payload], [4, 3, 2, 1]);
    assert.ok(m.payload.buffer === bus.memory.buffer, 'read in place');
    m.free();
    assert.equal(await next('done'), { done: true });
    assert.is(await within(exited, 5000, 'exit'), 0, 'it exits by itself');
    workers.delete(w);
    assert.is(bus.recoverThread(handle.token), -1);
    main.close();
    bus.close();
  });
}

s.run();
