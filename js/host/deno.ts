// deno: the real process, for Deno. Credentials from /proc/thread-self/status (Deno opens it
// only with -A), else Deno.uid()/gid() (--allow-sys), else "not supported"; clocks from performance.
import type { Creds, Provider } from './provider.ts';
import { performanceClock, cryptoRandom } from './provider.ts';
import { parseStatusCreds } from './status.ts';

declare const Deno: {
  readTextFileSync(path: string): string;
  uid(): number | null;
  gid(): number | null;
};

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
        try { uid = Deno.uid(); gid = Deno.gid(); } catch { return false; } // no --allow-sys
        if (uid === null || gid === null) return false;
        c.uid = c.euid = c.suid = c.fsuid = uid;
        c.gid = c.egid = c.sgid = c.fsgid = gid;
      }
      this.cached = c;
    }
    Object.assign(out, this.cached);
    return true;
  }
}
