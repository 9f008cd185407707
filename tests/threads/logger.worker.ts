// A worker that logs one line to the bus and goes away: joins, sends its message (with every
// metadata item its mock identity has), closes its connection, leaves the bus and exits.
import { Bus, MockProvider, type BusHandle, type EngineKind } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

const inp = await input<{ handle: BusHandle; engine?: EngineKind; dst: number }>();
try {
  const bus = await Bus.join(inp.handle, {
    engine: inp.engine,
    provider: new MockProvider({ seed: 9, creds: { uid: 4242, gid: 4243 }, pids: { pid: 777, tid: 778, ppid: 1 }, comm: { thread: 'logger', process: 'app' } }),
  });
  const conn = bus.connect({ description: 'logger' });
  conn.sendText(inp.dst, 'disk almost full');
  conn.close();
  bus.close();
  post({ done: true });
} catch (e) {
  post({ error: String((e as Error)?.stack ?? e) });
}
