// node: the real process, for Node. Everything from Linux /proc (procfs.ts: the calling
// thread's credentials, pids, groups, comms, exe, cmdline, cgroup, caps, label, audit), with
// process.* fallbacks where /proc cannot be read; clocks from performance.
//
// Invalidation. Node changes credentials only through process.setuid, setgid, seteuid,
// setegid, setgroups and initgroups, which exist on the main thread only and change every
// thread of the process. Loading this module on the main thread wraps them: after each call
// the process-wide generation word is incremented, and every provider of every thread sees
// the new value at its next answer and reads /proc again. The word is an Int32Array on a
// SharedArrayBuffer handed to workers through worker_threads' environment data (a Worker
// started after this module was loaded inherits it). What changes behind the host's back is
// seen after the provider's TTL (procfs.ts, META_TTL_MS).
import { readFileSync, readlinkSync } from 'node:fs';
import process from 'node:process';
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';
import type { Creds } from './provider.ts';
import { ProcProvider, type ProcOptions } from './procfs.ts';

const GEN_KEY = 'wasmbus:meta-generation';

function sharedGeneration(): Int32Array {
  let sab: unknown;
  try { sab = getEnvironmentData(GEN_KEY); } catch { sab = undefined; }
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < 4) {
    sab = new SharedArrayBuffer(4);
    try { setEnvironmentData(GEN_KEY, sab as SharedArrayBuffer); } catch { /* no worker_threads: this thread only */ }
  }
  return new Int32Array(sab as SharedArrayBuffer);
}

const GEN = sharedGeneration();

/** The process-wide generation of credentials (all threads read the same word). */
export function metaGeneration(): number {
  return Atomics.load(GEN, 0);
}

/** Tell every thread's provider that credentials changed (e.g. after a native addon's setuid). */
export function bumpMetaGeneration(): void {
  Atomics.add(GEN, 0, 1);
}

/** The SharedArrayBuffer holding the generation word (for a worker started another way). */
export function metaGenerationBuffer(): SharedArrayBuffer {
  return GEN.buffer as SharedArrayBuffer;
}

/** The functions through which Node changes the process's credentials. */
export const CREDENTIAL_SETTERS = ['setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups'] as const;
const WRAPPED = Symbol.for('wasmbus.credentialSetter');

function wrapCredentialSetters(): void {
  const p = process as unknown as Record<string, unknown>;
  for (const k of CREDENTIAL_SETTERS) {
    const f = p[k] as ((...a: unknown[]) => unknown) & { [WRAPPED]?: true };
    if (typeof f !== 'function' || f[WRAPPED]) continue;
    const w = function (this: unknown, ...a: unknown[]): unknown {
      try {
        return f.apply(this, a);
      } finally {
        bumpMetaGeneration(); // also after a failure: a partial change stays a change
      }
    } as typeof f;
    Object.defineProperty(w, 'name', { value: k });
    Object.defineProperty(w, 'length', { value: f.length });
    w[WRAPPED] = true;
    p[k] = w;
  }
}

if (isMainThread) wrapCredentialSetters();

export class NodeProvider extends ProcProvider {
  readonly name = 'node';

  constructor(opts: ProcOptions = {}) {
    super(opts);
  }

  /** Forget every thread's cached metadata (the generation moves; kept from the old API). */
  invalidate(): void {
    bumpMetaGeneration();
  }

  protected generation(): number {
    return Atomics.load(GEN, 0);
  }

  protected read(path: string): Uint8Array | null {
    try { return readFileSync(path); } catch { return null; }
  }

  protected readLink(path: string): string | null {
    try { return readlinkSync(path); } catch { return null; }
  }

  protected override readLinkBytes(path: string): Uint8Array | null {
    try { return readlinkSync(path, { encoding: 'buffer' }); } catch { return null; }
  }

  protected pid(): number | null {
    return process.pid;
  }

  protected override fallbackCreds(c: Creds): boolean {
    if (typeof process.getuid !== 'function') return false;
    // no /proc (macOS, say): the real and effective ids from the runtime; the saved and fs ids
    // are not available and are reported equal to the effective ones, what exec leaves them at
    // and what file access uses (DIFFERENCES.md F2: the one exception to "never made up"; before
    // stop 43 they were taken to equal the real ones, which no exec gives a setuid program)
    c.uid = process.getuid();
    c.euid = c.suid = c.fsuid = process.geteuid!();
    c.gid = process.getgid!();
    c.egid = c.sgid = c.fsgid = process.getegid!();
    return true;
  }

  protected override fallbackGroups(): number[] | null {
    return typeof process.getgroups === 'function' ? process.getgroups() : null;
  }

  protected override fallbackPpid(): number {
    return process.ppid;
  }

  protected override fallbackExe(): Uint8Array | null {
    return process.execPath ? new TextEncoder().encode(process.execPath) : null;
  }
}
