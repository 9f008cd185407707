// A worker waiting for a message when the bus is shut down: in recvWait (blocking) or in
// recvAsync (waitAsync). It reports the error and how long after `ready` it came, closes its
// connection, leaves the bus and ends (nothing keeps it alive).
import { Bus, BusError, MockProvider, type BusHandle, type EngineKind } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

const inp = await input<{ handle: BusHandle; engine?: EngineKind; mode: 'wait' | 'async' | 'iter' }>();
const bus = await Bus.join(inp.handle, { engine: inp.engine, provider: new MockProvider({ seed: 9 }) });
const conn = bus.connect({ poolSize: 65536 });
const removeMatch = conn.addMatch(''), off = conn.onSignal('type=signal', () => {});
post({ ready: true });
let error = 'none';
try {
  if (inp.mode === 'wait') conn.recvWait(10000);
  else if (inp.mode === 'async') await conn.recvAsync({ timeout: 10000 });
  else for await (const m of conn) void m;
} catch (e) {
  error = e instanceof BusError ? e.code : String(e);
}
// a match's and a handler's removers after the shutdown: no-ops (the connection can never be used again)
let removers = 'ok';
try { removeMatch(); off(); } catch (e) { removers = e instanceof BusError ? `${e.code} ${e.message}` : String(e); }
conn.close();
bus.close();
post({ error, at: performance.now(), removers });
if (typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' && typeof (globalThis as { close?: () => void }).close === 'function') (globalThis as unknown as { close: () => void }).close();
