// A test worker for lookup.test.ts: joins the bus, owns `names` well-known names (over three
// connections), and greets every connection that appears (its ID_ADD) with a 1-byte message,
// until the parent sets the stop word in the bus's user region.
import { Bus, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface GreeterInput { handle: BusHandle; stop: number; names: number }

const inp = await input<GreeterInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 11 }) });
  const i32 = bus.engine.i32;
  const owners = [bus.connect(), bus.connect(), bus.connect(), bus.connect(), bus.connect()];
  for (let i = 0; i < inp.names; i++) owners[i % owners.length].requestName(`org.example.Service.Worker${i}`);
  const t = bus.connect();
  t.addMatch({ notifications: 'id-add' });
  post({ ready: true });
  let greeted = 0;
  while (Atomics.load(i32, inp.stop >>> 2) === 0) {
    const m = t.recvWait(50);
    if (!m) continue;
    const n = m.notification;
    m.free();
    if (n?.kind === 'id-add') { try { t.send(n.id, new Uint8Array([1])); greeted++; } catch { /* gone already */ } }
  }
  for (let m = t.recv(); m; m = t.recv()) m.free();
  t.close();
  for (const o of owners) o.close();
  bus.close();
  post({ done: true, greeted });
} catch (err) {
  post({ error: String(err) });
}
