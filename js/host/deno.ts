// deno: the real process, for Deno. Everything from Linux /proc (procfs.ts), which Deno 2.9
// opens only with --allow-all (-A): even --allow-read=/proc is refused ("Requires all access").
// Without -A: Deno.pid and Deno.ppid (no permission), Deno.execPath() for EXE, Deno.uid() /
// Deno.gid() for CREDS (--allow-sys, or --allow-sys=uid,gid; the effective, saved and fs ids
// taken to equal them); every other item is unsupported (never made up), and the first failure
// to read credentials of a thread is reported once on console.warn, naming the missing
// permission. Deno has no API that changes credentials, so only the TTL and invalidate()
// renew the cache. Clocks from performance.
import type { Creds } from './provider.ts';
import { ProcProvider, type ProcOptions } from './procfs.ts';
import { denoAllAccess } from './os-thread.ts';
import { denoGranted as granted } from './deno-granted.ts';

declare const Deno: {
  readFileSync(path: string): Uint8Array;
  readLinkSync(path: string): string;
  uid(): number | null;
  gid(): number | null;
  execPath(): string;
  readonly pid: number;
  readonly ppid: number;
};

let warned = false;

/** Report, once per thread, that credentials are not available and why. */
function warnOnce(why: string): void {
  if (warned) return;
  warned = true;
  console.warn(`wasmbus: the Deno provider cannot read this thread's credentials (${why}); CREDS items ` +
    'will be left out of messages. Run Deno with -A, or with --allow-sys=uid,gid ' +
    '(real uid and gid only), or pass options.provider.');
}

export class DenoProvider extends ProcProvider {
  readonly name = 'deno';
  private gen = 0;

  constructor(opts: ProcOptions = {}) {
    super(opts);
  }

  /** Forget this provider's cached metadata. */
  invalidate(): void {
    this.gen = (this.gen + 1) | 0;
  }

  protected generation(): number {
    return this.gen;
  }

  protected read(path: string): Uint8Array | null {
    if (!denoAllAccess()) return null; // (Deno opens /proc only with -A)
    try { return Deno.readFileSync(path); } catch { return null; }
  }

  protected readLink(path: string): string | null {
    if (!denoAllAccess()) return null;
    try { return Deno.readLinkSync(path); } catch { return null; }
  }

  protected pid(): number | null {
    try { return Deno.pid; } catch { return null; }
  }

  protected override fallbackPpid(): number {
    try { return Deno.ppid; } catch { return 0; }
  }

  protected override fallbackExe(): Uint8Array | null {
    try { return new TextEncoder().encode(Deno.execPath()); } catch { return null; } // (needs no permission)
  }

  protected override fallbackCreds(c: Creds): boolean {
    let uid: number | null = null, gid: number | null = null;
    if (!granted({ name: 'sys', kind: 'uid' }) || !granted({ name: 'sys', kind: 'gid' })) {
      warnOnce('no -A and no --allow-sys');
      return false;
    }
    try {
      uid = Deno.uid();
      gid = Deno.gid();
    } catch (e) {
      warnOnce((e as { name?: string })?.name === 'NotCapable' ? 'no -A and no --allow-sys' : String(e));
      return false;
    }
    if (uid === null || gid === null) {
      warnOnce('Deno.uid() / Deno.gid() are not available on this platform');
      return false;
    }
    // Deno has no API for the effective, saved and fs ids: they are taken to equal the real ones
    c.uid = c.euid = c.suid = c.fsuid = uid;
    c.gid = c.egid = c.sgid = c.fsgid = gid;
    return true;
  }
}
