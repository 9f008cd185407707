// mock: a deterministic provider for tests and the browser demo. Clocks advance by a fixed
// step on every read from a seeded start; random bytes come from a seeded PRNG; the
// credentials are whatever the test sets (per thread: each thread has its own provider;
// per connection: set them before connect()).
import type { Creds, Provider } from './provider.ts';
import { nsToHalves } from './provider.ts';

export interface MockOptions {
  seed?: number;
  creds?: Partial<Creds>;
  /** nanoseconds a clock advances per read (default 1000) */
  step?: number;
}

export const MOCK_REALTIME_SEC = 1767225600; // 2026-01-01T00:00:00Z

export class MockProvider implements Provider {
  readonly name = 'mock';
  private state: number;
  private ticks = 0;
  private readonly step: number;
  private current: Creds;

  constructor(opts: MockOptions = {}) {
    this.state = (opts.seed ?? 1) >>> 0 || 1;
    this.step = opts.step ?? 1000;
    this.current = { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000 };
    this.setCreds(opts.creds ?? {});
  }

  /** Change the identity the provider reports (fields not given keep their value). */
  setCreds(c: Partial<Creds>): void {
    this.current = { ...this.current, ...c };
  }

  get credentials(): Creds {
    return { ...this.current };
  }

  clock(id: number, out: Uint32Array): boolean {
    if (id !== 0 && id !== 1) return false;
    this.ticks++;
    const ns = this.ticks * this.step; // monotonic, exact below 2^53
    const sec = Math.floor(ns / 1e9);
    nsToHalves(id === 0 ? MOCK_REALTIME_SEC + sec : sec, ns - sec * 1e9, out);
    return true;
  }

  /** xorshift32: deterministic bytes from the seed */
  random(buf: Uint8Array): void {
    let x = this.state;
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      buf[i] = x & 0xff;
    }
    this.state = x;
  }

  creds(out: Creds): boolean {
    Object.assign(out, this.current);
    return true;
  }
}
