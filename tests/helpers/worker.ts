// worker: test workers in any runtime, both sides.
//
// Parent side: spawn(entry, data) starts a worker running `entry` and hands it `data` (a
// structured-cloneable value: a BusHandle, numbers, ...). Under Node it is a worker_threads
// Worker (through worker.mjs for a .ts entry); under Deno a web Worker ({type: 'module'}, the
// .ts entry run directly) or, with {kind: 'thread'}, Deno's node:worker_threads Worker (the
// only kind whose exit can be observed: a Deno web Worker lives until terminated or
// self.close()). Every spawned worker is remembered until terminateAll() (call it in `after`).
//
// Worker side: input() gives the data, post() sends a message to the parent.
import * as wt from 'node:worker_threads';

declare const Deno: unknown;

/** A web Worker (Deno, browsers), as far as spawn() needs one (tsconfig has no DOM lib). */
interface WebWorker {
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: { message: string; preventDefault(): void }) => void) | null;
  postMessage(msg: unknown): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: URL, opts: { type: 'module' }) => WebWorker;

export const RUNTIME: 'node' | 'deno' = typeof Deno !== 'undefined' ? 'deno' : 'node';

/** 'thread': node:worker_threads (Node, or Deno's compat); 'web': a web Worker (Deno). */
export type WorkerKind = 'thread' | 'web';
export const DEFAULT_KIND: WorkerKind = RUNTIME === 'deno' ? 'web' : 'thread';

export interface TestWorker {
  readonly kind: WorkerKind;
  /** the worker_threads Worker ('thread' kind), e.g. for bus.watch() */
  readonly thread: wt.Worker | null;
  /** the next message the worker posted; rejects after `timeout` ms or when the worker fails */
  next<T = unknown>(timeout: number, what?: string): Promise<T>;
  /** resolves with the exit code when the worker exits ('thread' kind only); rejects after `timeout` ms */
  exited(timeout: number): Promise<number>;
  post(msg: unknown): void;
  terminate(): Promise<void>;
}

const live = new Set<TestWorker>();

/** Reject after `ms` unless `p` settles first. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Inbox {
  queue: unknown[];
  waiting: ((v: { ok: true; msg: unknown } | { ok: false; err: unknown }) => void) | null;
  failed: unknown;
}

function deliver(box: Inbox, msg: unknown): void {
  if (box.waiting) { const w = box.waiting; box.waiting = null; w({ ok: true, msg }); } else box.queue.push(msg);
}
function fail(box: Inbox, err: unknown): void {
  box.failed ??= err;
  if (box.waiting) { const w = box.waiting; box.waiting = null; w({ ok: false, err }); }
}
function nextOf<T>(box: Inbox, timeout: number, what: string): Promise<T> {
  if (box.queue.length) return Promise.resolve(box.queue.shift() as T);
  if (box.failed !== undefined) return Promise.reject(box.failed);
  return within(new Promise<T>((resolve, reject) => {
    box.waiting = (r) => (r.ok ? resolve(r.msg as T) : reject(r.err));
  }), timeout, what).finally(() => { box.waiting = null; });
}

/** Start a worker running `entry` (a module URL) with `data`. */
export function spawn(entry: URL, data: unknown, opts: { kind?: WorkerKind } = {}): TestWorker {
  const kind = opts.kind ?? DEFAULT_KIND;
  const box: Inbox = { queue: [], waiting: null, failed: undefined };
  let w: TestWorker;
  if (kind === 'thread') {
    // Node cannot run a .ts entry directly (see worker.mjs); Deno can
    const viaBootstrap = RUNTIME === 'node' && entry.pathname.endsWith('.ts');
    const t = new wt.Worker(viaBootstrap ? new URL('./worker.mjs', import.meta.url) : entry, {
      workerData: { entry: entry.href, data },
    });
    let code: number | null = null;
    const exits: ((c: number) => void)[] = [];
    t.on('message', (m) => deliver(box, m));
    t.on('error', (err) => fail(box, err));
    t.on('exit', (c) => {
      code = c;
      fail(box, new Error(`worker exited (code ${c})`));
      for (const f of exits.splice(0)) f(c);
      live.delete(w);
    });
    w = {
      kind, thread: t,
      next: (timeout, what = 'a message from the worker') => nextOf(box, timeout, what),
      exited: (timeout) => code !== null ? Promise.resolve(code)
        : within(new Promise<number>((r) => exits.push(r)), timeout, 'the worker to exit by itself'),
      post: (m) => t.postMessage(m),
      terminate: async () => { live.delete(w); if (code === null) await t.terminate(); },
    };
  } else {
    const Ctor = (globalThis as unknown as { Worker?: WebWorkerCtor }).Worker;
    if (!Ctor) throw new Error('no web Worker in this runtime');
    const web = new Ctor(entry, { type: 'module' });
    web.onmessage = (ev) => deliver(box, ev.data);
    web.onerror = (ev) => { ev.preventDefault(); fail(box, new Error(`worker error: ${ev.message}`)); };
    web.postMessage({ __testInput: data });
    w = {
      kind, thread: null,
      next: (timeout, what = 'a message from the worker') => nextOf(box, timeout, what),
      exited: () => Promise.reject(new Error('a web Worker has no exit event')),
      post: (m) => web.postMessage(m),
      terminate: async () => { live.delete(w); web.terminate(); },
    };
  }
  live.add(w);
  return w;
}

/** Terminate every worker still running (an `after` hook of every suite that spawns). */
export async function terminateAll(): Promise<void> {
  await Promise.all([...live].map((w) => w.terminate()));
}

// ---- worker side ----

/** This worker's data (from spawn). */
export function input<T>(): Promise<T> {
  if (wt.parentPort) return Promise.resolve((wt.workerData as { data: T }).data);
  const g = globalThis as unknown as { onmessage: ((ev: { data: unknown }) => void) | null };
  return new Promise((resolve) => {
    g.onmessage = (ev) => {
      const d = ev.data as { __testInput?: T } | null;
      if (d && typeof d === 'object' && '__testInput' in d) {
        g.onmessage = null; // nothing else listens: the worker holds no port for it
        resolve(d.__testInput as T);
      }
    };
  });
}

/** Send a message to the parent. */
export function post(msg: unknown): void {
  if (wt.parentPort) wt.parentPort.postMessage(msg);
  else (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(msg);
}
