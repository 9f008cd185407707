// Mixed engines on one bus: the main thread on one engine, a worker on the other, messages
// both ways (both pairings, whatever WASMBUS_ENGINE says).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EngineKind } from '../../js/index.ts';
import { terminateAll, RUNTIME } from '../helpers/worker.ts';
import { threadBus, peer, MSG_MS } from './common.ts';

const s = suite(`threads: mixed engines [${RUNTIME}]`);
s.after(terminateAll);

const PAIRS: [EngineKind, EngineKind][] = [['wasm', 'twin'], ['twin', 'wasm']];

for (const [mainEngine, workerEngine] of PAIRS) {
  s(`main on ${mainEngine}, worker on ${workerEngine}: messages both ways`, async () => {
    const bus = await threadBus(mainEngine);
    assert.is(bus.engine.kind, mainEngine);
    const main = bus.connect({ attachRecv: ['creds'] });
    const { w, ready } = await peer(bus, { role: 'echo', engine: workerEngine, index: 5 });
    assert.is(ready.engine, workerEngine);
    for (let i = 0; i < 20; i++) {
      const out = new Uint8Array(1 + i * 37).map((_, j) => (i + j * 3) & 0xff);
      const cookie = main.send(ready.id, out);
      const got = await w.next<{ got: number[]; inPlace: boolean; cookie: number }>(MSG_MS, `echo ${i}`);
      assert.equal(got.got, [...out], `${workerEngine} read what ${mainEngine} wrote`);
      assert.ok(got.inPlace);
      assert.is(got.cookie, cookie);
      const m = await main.recvAsync({ timeout: MSG_MS });
      assert.equal([...m.payload], [...out].reverse(), `${mainEngine} read what ${workerEngine} wrote`);
      assert.is(m.src, ready.id);
      assert.is(m.creds?.uid, 2005, "metadata written by the worker's engine");
      m.free();
    }
    main.send(ready.id, null);
    assert.equal(await w.next(MSG_MS, 'done'), { done: true });
    assert.is(main.poolUsed, 0);
    main.close();
    bus.close();
  });
}

s.run();
