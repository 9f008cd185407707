// The twin engine's boundary: the generated core (js/twin/core/, or core-hooks/ with the
// test hooks compiled in) behind the same exports object as the wasm instance's, each
// argument converted as the wasm boundary converts a JS number to an i32 (ToInt32, read as
// u32 by the core: 0.99 -> 0, -1 -> 4294967295, 2^32 -> 0, NaN -> 0) and each result
// returned as the i32 the wasm export returns. No logic lives here.
import * as release from './core/index.ts';
import * as hooked from './core-hooks/index.ts';
export { bind } from './mem.ts';
export type { HostImports } from './mem.ts';

/** The core's exports, by their wasm names (assembly/index.ts). */
export interface CoreExports {
  bus_make(cmd: number): number;
  thread_join(token: number): number;
  thread_leave(): number;
  hello(): number;
  byebye(slot: number, gen: number): number;
  send(slot: number, gen: number): number;
  send_commit(): number;
  send_cancel(): number;
  recv(slot: number, gen: number): number;
  free(slot: number, gen: number): number;
  recover(slot: number, force: number): number;
  unwind(): number;
  abi_fingerprint(): number;
  bus_layout(nThreads: number, nConns: number, poolMax: number, nNames: number, nMatches: number, nReplies: number, bloomSize: number): number;
  match_add(slot: number, gen: number): number;
  match_remove(slot: number, gen: number): number;
  // names issue
  name_acquire(slot: number, gen: number): number;
  name_release(slot: number, gen: number): number;
  list(slot: number, gen: number): number;
  update(slot: number, gen: number): number;
  conn_info(slot: number, gen: number): number;
  bus_creator_info(slot: number, gen: number): number;
}

function wrap(c: typeof release): CoreExports {
  return {
    bus_make: (cmd) => c.bus_make(cmd >>> 0) | 0,
    thread_join: (token) => c.thread_join(token >>> 0) | 0,
    thread_leave: () => c.thread_leave() | 0,
    hello: () => c.hello() | 0,
    byebye: (slot, gen) => c.byebye(slot >>> 0, gen >>> 0) | 0,
    send: (slot, gen) => c.send(slot >>> 0, gen >>> 0) | 0,
    send_commit: () => c.send_commit() | 0,
    send_cancel: () => c.send_cancel() | 0,
    recv: (slot, gen) => c.recv(slot >>> 0, gen >>> 0) | 0,
    free: (slot, gen) => c.free(slot >>> 0, gen >>> 0) | 0,
    recover: (slot, force) => c.recover(slot >>> 0, force >>> 0) | 0,
    unwind: () => c.unwind() | 0,
    abi_fingerprint: () => c.abi_fingerprint() | 0,
    bus_layout: (a, b, p, n, m, r, s) => c.bus_layout(a >>> 0, b >>> 0, p >>> 0, n >>> 0, m >>> 0, r >>> 0, s >>> 0) | 0,
    match_add: (slot, gen) => c.match_add(slot >>> 0, gen >>> 0) | 0,
    match_remove: (slot, gen) => c.match_remove(slot >>> 0, gen >>> 0) | 0,
    name_acquire: (slot, gen) => c.name_acquire(slot >>> 0, gen >>> 0) | 0,
    name_release: (slot, gen) => c.name_release(slot >>> 0, gen >>> 0) | 0,
    list: (slot, gen) => c.list(slot >>> 0, gen >>> 0) | 0,
    update: (slot, gen) => c.update(slot >>> 0, gen >>> 0) | 0,
    conn_info: (slot, gen) => c.conn_info(slot >>> 0, gen >>> 0) | 0,
    bus_creator_info: (slot, gen) => c.bus_creator_info(slot >>> 0, gen >>> 0) | 0,
  };
}

/** the twin core without test hooks (what ships) and with them (fault injection) */
export const twinRelease: CoreExports = wrap(release);
export const twinHooks: CoreExports = wrap(hooked);
