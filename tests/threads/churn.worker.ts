// A test worker for lookup.test.ts: joins the bus and opens and closes connections as fast as
// it can (each HELLO re-uses a slot and rewrites its id table link) until the parent sets
// the stop word in the bus's user region.
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface ChurnInput { handle: BusHandle; stop: number }

const inp = await input<ChurnInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 11 }) });
  const i32 = bus.engine.i32;
  post({ ready: true });
  let churned = 0;
  while (Atomics.load(i32, inp.stop >>> 2) === 0) {
    for (let i = 0; i < 16; i++) {
      const c = bus.connect({ poolSize: 4096 });
      c.close();
      churned++;
    }
  }
  bus.close();
  post({ done: true, churned });
} catch (e) {
  post({ error: e instanceof BusError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e) });
}
