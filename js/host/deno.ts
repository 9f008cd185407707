// deno: the real process, for Deno. Credentials from /proc (needs --allow-read), else
// Deno.uid()/gid(); clocks from performance.
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
        const uid = Deno.uid(), gid = Deno.gid();
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
