// The worker of dist.test.mjs: plain JavaScript from dist/, no tsx. Joins, echoes one
// message reversed, closes its connection, leaves the bus and exits by itself.
import { parentPort, workerData } from 'node:worker_threads';
import { Bus, MockProvider } from '../../dist/js/index.js';

const { handle, engine } = workerData.data;
try {
  const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 3 }) });
  const conn = bus.connect();
  parentPort.postMessage({ ready: true, id: conn.id, engine: bus.engine.kind });
  const m = await conn.recvAsync({ timeout: 10000 });
  const bytes = m.payload.slice();
  const src = m.src;
  m.free();
  conn.send(src, bytes.reverse());
  conn.close();
  bus.close();
  parentPort.postMessage({ done: true });
} catch (e) {
  parentPort.postMessage({ error: String(e?.stack ?? e) });
}
