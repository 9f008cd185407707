// A worker that takes (or queues for) a well-known name, then reports every message it
// receives, until it is terminated or an empty message tells it to leave.
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface NameInput { handle: BusHandle; name: string; queue?: boolean; allowReplacement?: boolean; index: number }

const inp = await input<NameInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 11 + inp.index, creds: { uid: 3000 + inp.index } }) });
  const conn = bus.connect({ poolSize: 65536, description: `name-${inp.index}` });
  const result = conn.requestName(inp.name, { queue: inp.queue, allowReplacement: inp.allowReplacement });
  post({ ready: true, id: conn.id, slot: bus.engine.threadSlot, result });
  for (;;) {
    const m = await conn.recvAsync({ timeout: 15000 });
    const got = [...m.payload];
    m.free();
    if (got.length === 0) break;
    post({ got, by: conn.id });
  }
  conn.close();
  bus.close();
  post({ done: true });
} catch (e) {
  post({ error: e instanceof BusError ? e.code : String((e as Error)?.stack ?? e) });
}
