// node: the real process, for Node. Credentials from /proc/thread-self/status (real,
// effective, saved and fs ids), else process.get*id(); clocks from performance.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import type { Creds, Provider } from './provider.ts';
import { performanceClock, cryptoRandom } from './provider.ts';
import { parseStatusCreds } from './status.ts';

export class NodeProvider implements Provider {
  readonly name = 'node';
  private cached: Creds | null = null;

  clock = performanceClock;
  random = cryptoRandom;

  /** Forget cached credentials (call after changing them, e.g. process.setuid()). */
  invalidate(): void {
    this.cached = null;
  }

  creds(out: Creds): boolean {
    if (!this.cached) {
      const c: Creds = { uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0 };
      let ok = false;
      for (const f of ['/proc/thread-self/status', '/proc/self/status']) {
        try { ok = parseStatusCreds(readFileSync(f, 'utf8'), c); } catch { ok = false; }
        if (ok) break;
      }
      if (!ok) {
        if (typeof process.getuid !== 'function') return false;
        c.uid = c.suid = c.fsuid = process.getuid();
        c.euid = process.geteuid!();
        c.gid = c.sgid = c.fsgid = process.getgid!();
        c.egid = process.getegid!();
      }
      this.cached = c;
    }
    Object.assign(out, this.cached);
    return true;
  }
}
