// A worker for the clock test: joins with the runtime's default provider (real clocks), then
// calls `dst` with a 1 s timeout and reports how the call ended. Every wait has a timeout.
import { Bus, BusError, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

const inp = await input<{ handle: BusHandle; dst: number }>();
const errText = (e: unknown) => (e instanceof BusError ? e.code : String((e as Error)?.stack ?? e));
try {
  const bus = await Bus.join(inp.handle);
  const conn = bus.connect();
  post({ ready: true });
  let outcome: string;
  try {
    const r = await conn.call(inp.dst, new Uint8Array([1]), { timeout: 1000 });
    outcome = `reply ${r.payload[0]}`;
    r.free();
  } catch (e) {
    outcome = errText(e);
  }
  conn.close();
  bus.close();
  post({ outcome });
} catch (e) {
  post({ error: errText(e) });
}
