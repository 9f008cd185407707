// common: what the thread tests share: a bus with room for many threads, and peers (workers
// running peer.worker.ts) that join it.
import * as assert from 'uvu/assert';
import { Bus, MockProvider, type BusHandle, type EngineKind, type BusOptions } from '../../js/index.ts';
import { spawn, type TestWorker, type WorkerKind } from '../helpers/worker.ts';
import type { PeerInput } from './peer.worker.ts';

export { ENGINE } from '../helpers/harness.ts';

/** A worker's start-up (tsx in Node, a module graph in Deno) can take a while on 2 busy cores. */
export const READY_MS = 20000;
export const MSG_MS = 5000;

export const THREAD_LIMITS: BusOptions['limits'] = { threads: 16, connections: 24, poolMax: 1 << 20, names: 16, matches: 16, replies: 16 };

export async function threadBus(engine: EngineKind, limits = THREAD_LIMITS): Promise<Bus> {
  return Bus.create({ engine, provider: new MockProvider({ seed: 42 }), limits });
}

export interface Ready { ready: true; id: number; engine: EngineKind; slot: number; id128: number[] }

export interface Peer { w: TestWorker; h: BusHandle; ready: Ready }

const PEER = new URL('./peer.worker.ts', import.meta.url);

/** Spawn a peer with `role` on `bus` and wait until it has joined and connected. */
export async function peer(bus: Bus, inp: Omit<PeerInput, 'handle'>, kind?: WorkerKind): Promise<Peer> {
  const h = bus.handle();
  const w = spawn(PEER, { ...inp, handle: h }, { kind });
  const ready = await w.next<Ready | { error: string }>(READY_MS, `peer ${inp.role} to join`);
  if ('error' in ready) assert.unreachable(`peer ${inp.role} failed: ${ready.error}`);
  const r = ready as Ready;
  assert.ok(r.ready);
  return { w, h, ready: r };
}
