// deno: the real process, for Deno. Credentials from /proc/thread-self/status (Deno opens it
// only with -A), else Deno.uid()/gid() (--allow-sys, or --allow-sys=uid,gid), else "not
// supported": creds() returns false (the core's creds_get import then returns WASI ENOTSUP and a
// CREDS item carries all-ones), and the first such failure of a thread is reported once on
// console.warn, naming the missing permission. Clocks from performance.
import type { Creds, Provider } from './provider.ts';
import { performanceClock, cryptoRandom } from './provider.ts';
import { parseStatusCreds } from './status.ts';

declare const Deno: {
  readTextFileSync(path: string): string;
  uid(): number | null;
  gid(): number | null;
};

let warned = false;

/** Report, once per thread, that credentials are not available and why. */
function warnOnce(why: string): void {
  if (warned) return;
  warned = true;
  console.warn(`wasmbus: the Deno provider cannot read this thread's credentials (${why}); CREDS items ` +
    'will carry 4294967295 ("unknown") in every field. Run Deno with -A, or with --allow-sys=uid,gid ' +
    '(real uid and gid only), or pass options.provider.');
}

export class DenoProvider implements Provider {
  readonly name = 'deno';
  private cached: Creds | null = null;

  clock = performanceClock;
  random = cryptoRandom;

  invalidate(): void {
    this.cached = null;
  }

  creds(out: Creds): boolean {
    if (!this.cached) {
      const c: Creds = { uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0 };
      let ok = false;
      try { ok = parseStatusCreds(Deno.readTextFileSync('/proc/thread-self/status'), c); } catch { ok = false; }
      if (!ok) {
        let uid: number | null = null, gid: number | null = null;
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
      }
      this.cached = c;
    }
    Object.assign(out, this.cached);
    return true;
  }
}
