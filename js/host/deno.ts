// deno: the real process, for Deno. Everything from Linux /proc (procfs.ts), which Deno 2.9
// opens only with --allow-all (-A): even --allow-read=/proc is refused ("Requires all access").
// Without -A: Deno.pid and Deno.ppid (no permission), Deno.execPath() for EXE; every other
// item is unsupported (never made up), CREDS included (Deno.uid() / Deno.gid() are the real
// ids only: the effective, saved and fs ids would be guesses), and the first failure to read
// credentials of a thread is reported once on console.warn, naming -A. Deno has no API that
// changes credentials, so only the TTL and invalidate() renew the cache. Clocks from performance.
import type { Creds } from './provider.ts';
import { ProcProvider, type ProcOptions } from './procfs.ts';
import { denoAllAccess } from './os-thread.ts';

declare const Deno: {
  readFileSync(path: string): Uint8Array;
  readLinkSync(path: string): string;
  execPath(): string;
  readonly pid: number;
  readonly ppid: number;
};

let warned = false;

/** Report, once per thread, that credentials are not available and why. */
function warnOnce(): void {
  if (warned) return;
  warned = true;
  console.warn("wasmbus: the Deno provider cannot read this thread's credentials: Deno opens /proc only with -A, " +
    'and without it the effective, saved and fs ids are not known (Deno.uid() and Deno.gid() are the real ids only); ' +
    'CREDS items will be left out of messages. Run Deno with -A and no --deny-* flag (a --deny-* flag, a permission ' +
    'revoked at run time, or a worker started with narrower permissions closes /proc as well), or pass options.provider.');
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

  protected override fallbackCreds(_c: Creds): boolean {
    // Deno.uid() / Deno.gid() (--allow-sys) give the real ids only; Deno has no API for the
    // effective, saved and fs ids, and /proc opens only with -A. Before stop 43 the other six
    // were taken to equal the real ones: a process running as nobody with real uid 0 was
    // reported as effective root (an outside audit). A made-up id would be read as a real
    // one (DIFFERENCES.md F2): CREDS are left out instead.
    warnOnce();
    return false;
  }
}
