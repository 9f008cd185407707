// liveness: a death signal for threads whose runtime has no exit event (browser and Deno web
// Workers), built on the Web Locks API (navigator.locks).
//
// A thread that joins a bus takes an exclusive lock named `wasmbus:<bus id128 hex>:<token>`
// before it takes its thread slot, and holds it (a callback whose promise never settles)
// until it leaves the bus (bus.close()) or its realm is destroyed. A runtime releases every
// lock a realm holds when that realm ends: worker.terminate(), an uncaught error that ends a
// worker, self.close(). So a watcher that requests the same lock is granted it exactly when
// the holder is gone (or left cleanly): that grant is the death signal. It is never a timeout.
//
// Measured (docs/RUNTIMES.md): Deno 2.9.6 grants the lock only once the terminated worker has
// really stopped (a worker busy in a loop for 1 s when terminated: granted after 1000 ms).
import * as A from '../shared/abi.ts';

/** The part of the Web Locks API this module uses (tsconfig has no DOM lib). */
export interface LockManagerLike {
  request(name: string, opts: { mode?: 'exclusive' | 'shared'; ifAvailable?: boolean; signal?: AbortSignal }, cb: (lock: unknown) => unknown): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[]; pending?: { name?: string }[] }>;
}

/** navigator.locks where the runtime has it (Chromium, Deno 2.9, Node ≥ 22 with Web Locks), else null. */
export function webLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  const l = nav?.locks;
  return l && typeof l.request === 'function' && typeof l.query === 'function' ? l : null;
}

/**
 * The liveness lock's name of the thread that joins bus `id128` with `token`:
 * `wasmbus:<id128 hex>.<key>:<token>`. `key` is the bus's random liveness key (in its header,
 * BUS_LIVENESS_KEY, where the joiner and the watcher both read it; BusHandle.liveness a copy):
 * a mocked provider gives every bus made with the same seed the same id128, and Web Locks are
 * shared by a whole origin (every tab) or a whole Deno process.
 */
export function livenessLockName(id128: Uint8Array, token: number, key = ''): string {
  let hex = '';
  for (const b of id128) hex += b.toString(16).padStart(2, '0');
  return `wasmbus:${hex}${key ? `.${key}` : ''}:${token >>> 0}`;
}

/** A fresh liveness key: 8 random bytes (crypto.getRandomValues) as hex. */
export function livenessKey(): string {
  const b = new Uint8Array(A.LIVENESS_KEY_SIZE);
  crypto.getRandomValues(b);
  return keyHex(b);
}

function keyHex(b: Uint8Array): string {
  let hex = '';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return hex;
}

/** Store the bus's liveness key (livenessKey()'s hex) in its header (Bus.create, after BUS_MAKE). */
export function storeLivenessKey(u8: Uint8Array, key: string): void {
  const at = A.BUS_BASE + A.BUS_LIVENESS_KEY;
  for (let i = 0; i < A.LIVENESS_KEY_SIZE; i++) u8[at + i] = parseInt(key.slice(2 * i, 2 * i + 2), 16);
}

/** The bus's liveness key, from its header (Bus.join: the handle's copy is not trusted). */
export function loadLivenessKey(u8: Uint8Array): string {
  const at = A.BUS_BASE + A.BUS_LIVENESS_KEY;
  return keyHex(u8.subarray(at, at + A.LIVENESS_KEY_SIZE));
}

/**
 * The liveness locks this realm holds or is giving back, by name: `untilEnd`, held until the
 * realm ends (a web Worker's default: its thread may leave the bus and join again with the
 * same handle, and that lock is still its own); else given back at the thread's leave, `gone`
 * settling once the lock manager has released it (asynchronously: a join right after the leave
 * found it still held, EBUSY, 2 times in 3 in Deno: an outside audit, stop 28).
 */
const mine = new Map<string, { untilEnd: boolean; gone: Promise<unknown> | null; giveBack: () => void }>();
/** How long a join waits for this realm's own release of the same lock (it is local and quick). */
const GONE_WAIT_MS = 1000;

/** Does this realm hold the lock `name` until it ends (a join of its, with that token, took it)? */
export function heldUntilEnd(name: string): boolean {
  return mine.get(name)?.untilEnd === true;
}

/**
 * Take the lock `name` and hold it until the returned function is called, or the realm ends
 * (`untilEnd`: the caller calls it only when its join failed: a web Worker whose join failed
 * kept the lock until it ended, and a watch of the token's thread waited for it, an outside
 * audit, stop 28). A lock this realm holds until its end already is taken again as it is; one
 * this realm is giving back is waited for (at most GONE_WAIT_MS). Resolves null when the
 * runtime has no Web Locks, or refuses them (e.g. an opaque origin: SecurityError). Never
 * waits for another holder: the name carries a fresh token, so it is free (`ifAvailable`);
 * false when it is not (a token another realm joined with, or holds the lock of: Bus.join's
 * EBUSY).
 */
export async function holdLock(name: string, untilEnd: boolean): Promise<(() => void) | null | false> {
  const locks = webLocks();
  if (!locks) return null;
  const noop = () => {};
  const have = mine.get(name);
  if (have?.untilEnd) return have.giveBack; // (still this realm's: nothing to take)
  if (have?.gone) await Promise.race([have.gone, new Promise((r) => setTimeout(r, GONE_WAIT_MS))]);
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let got: boolean, done!: Promise<unknown>;
  try {
    got = await new Promise<boolean>((granted, failed) => {
      done = locks.request(name, { mode: 'exclusive', ifAvailable: true }, (lock) => {
        granted(lock !== null);
        return lock !== null ? held : undefined;
      });
      done.catch(failed);
    });
  } catch {
    return null; // Web Locks refused in this context: no liveness lock (documented)
  }
  if (!got) return false;
  let given = false;
  const giveBack = () => {
    if (given) return;
    given = true;
    release();
    const entry = { untilEnd: false, gone: done.then(noop, noop), giveBack: noop };
    mine.set(name, entry);
    void entry.gone.then(() => { if (mine.get(name) === entry) mine.delete(name); });
  };
  mine.set(name, { untilEnd, gone: null, giveBack });
  return giveBack;
}

/**
 * A web Worker (browser or Deno) or a browser window: a thread that never ends by itself (only
 * terminate(), a crash, self.close() or closing the page end it), so a lock held until its
 * realm ends keeps nothing alive that would otherwise have ended. Not Node, not Deno's main
 * thread, not a node:worker_threads Worker (Deno's has no WorkerGlobalScope).
 */
export function neverEndsByItself(): boolean {
  const g = globalThis as { WorkerGlobalScope?: unknown; document?: unknown; Deno?: unknown; process?: { versions?: { node?: string } } };
  if (typeof g.WorkerGlobalScope === 'function' && globalThis instanceof (g.WorkerGlobalScope as new () => object)) return true;
  return typeof g.document === 'object' && g.document !== null && !g.Deno && !g.process?.versions?.node;
}

/** Whether a lock named `name` is held (by any thread of this origin / process). */
export async function lockHeld(name: string): Promise<boolean> {
  const locks = webLocks();
  if (!locks) return false;
  const q = await locks.query();
  return (q.held ?? []).some((l) => l.name === name);
}
