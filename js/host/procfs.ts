// procfs: the metadata of the calling thread from Linux /proc, for the Node and Deno providers
// (each gives its synchronous file reads; nothing here imports a runtime module).
//
// Sources (the calling thread's where the kernel keeps it per thread):
//   creds, groups, caps   /proc/thread-self/status (Uid, Gid, Groups, CapInh/Prm/Eff/Bnd)
//   caps' lastCap         /proc/sys/kernel/cap_last_cap
//   pids                  pid from the runtime, tid from readlink /proc/thread-self
//                         ("<pid>/task/<tid>"), ppid from the status's PPid line
//   comm                  /proc/thread-self/comm (thread), /proc/self/comm (process)
//   exe                   readlink /proc/self/exe
//   cmdline               /proc/self/cmdline
//   cgroup                the "0::" line of /proc/thread-self/cgroup
//   seclabel              /proc/thread-self/attr/current (EINVAL without an LSM: unsupported)
//   audit                 /proc/self/loginuid, /proc/self/sessionid
//
// Caching: every answer but pid and tid is kept until the epoch moves, which it does when the
// process-wide generation word changes (the host changed the credentials: see node.ts) or
// when `ttlMs` passed since the answers were collected (what changes behind the host's back:
// cgroup moves, a native addon's setuid or capset, the parent's exit, process.title).
import type { Audit, Caps, Creds, Pids, Provider } from './provider.ts';
import { performanceClock, cryptoRandom } from './provider.ts';
import { parseStatusCreds } from './status.ts';

/** Default lifetime of cached metadata, in milliseconds. */
export const META_TTL_MS = 1000;

export interface ProcOptions {
  /**
   * Milliseconds a collected answer is reused (default META_TTL_MS); 0: read every time;
   * Infinity: only a generation change renews it.
   */
  ttlMs?: number | undefined;
}

interface Status {
  creds: Creds | null;
  groups: number[] | null;
  ppid: number;
  sets: string[] | null; // hex CapInh, CapPrm, CapEff, CapBnd
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // (a leading U+FEFF kept: the default drops it)

/** Bytes without trailing newlines / NULs (a comm or a label as the kernel prints it). */
function chomp(b: Uint8Array): Uint8Array {
  let n = b.length;
  while (n > 0 && (b[n - 1] === 10 || b[n - 1] === 0)) n--;
  return b.subarray(0, n);
}

function parseStatus(text: string): Status {
  const c: Creds = { uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0 };
  const g = /^Groups:[ \t]*([0-9 \t]*)$/m.exec(text);
  const pp = /^PPid:\s+(\d+)/m.exec(text);
  const sets: string[] = [];
  for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd']) {
    const m = new RegExp(`^${k}:\\s+([0-9a-f]+)$`, 'm').exec(text);
    if (m) sets.push(m[1]);
  }
  return {
    creds: parseStatusCreds(text, c) ? c : null,
    groups: g ? g[1].trim().split(/\s+/).filter((x) => x !== '').map(Number) : null,
    ppid: pp ? Number(pp[1]) : 0,
    sets: sets.length === 4 ? sets : null,
  };
}

/** A capability set printed in hex (any width) as `words` u32 words, bits above lastCap clear. */
function capWords(hex: string, lastCap: number, words: number): Uint32Array {
  const w = new Uint32Array(words);
  for (let i = 0; i < words; i++) {
    const end = hex.length - i * 8;
    if (end <= 0) break;
    w[i] = parseInt(hex.slice(Math.max(0, end - 8), end), 16) >>> 0;
  }
  const bits = lastCap + 1 - (words - 1) * 32; // valid bits of the top word, 1 … 32
  if (bits < 32) w[words - 1] &= (2 ** bits - 1);
  return w;
}

/** A u32 printed in decimal (a /proc number), or null. */
function decimal(t: string | null): number | null {
  const m = t === null ? null : /^\s*(\d{1,10})\s*$/.exec(t);
  return m && Number(m[1]) <= 0xffffffff ? Number(m[1]) : null;
}

const ABSENT = Symbol('absent');
type Slot<T> = T | typeof ABSENT;

/** A provider reading Linux /proc; subclasses give the file access and the fallbacks. */
export abstract class ProcProvider implements Provider {
  abstract readonly name: string;
  clock = performanceClock;
  random = cryptoRandom;

  private readonly ttl: number;
  private seenGen = -1;
  private stamp = 0;
  private ep = 0;
  private tidCache = -1;
  private status: Slot<Status | null> = ABSENT;
  private cred: Slot<Creds | null> = ABSENT;
  private grp: Slot<readonly number[] | null> = ABSENT;
  private pcomm: Slot<Uint8Array | null> = ABSENT;
  private tcomm: Slot<Uint8Array | null> = ABSENT;
  private exePath: Slot<Uint8Array | null> = ABSENT;
  private cmd: Slot<Uint8Array | null> = ABSENT;
  private cg: Slot<Uint8Array | null> = ABSENT;
  private capSets: Slot<Caps | null> = ABSENT;
  private label: Slot<Uint8Array | null> = ABSENT;
  private aud: Slot<Audit | null> = ABSENT;

  constructor(opts: ProcOptions = {}) {
    this.ttl = opts.ttlMs ?? META_TTL_MS;
  }

  /** The file's bytes, or null when it cannot be read (absent, refused, EINVAL). */
  protected abstract read(path: string): Uint8Array | null;
  /** The link's target, or null. */
  protected abstract readLink(path: string): string | null;
  /** The process-wide generation word (changes when the host changed the credentials). */
  protected abstract generation(): number;
  /** This process's id, from the runtime (null: not known). */
  protected abstract pid(): number | null;
  /** Fallbacks where /proc cannot be read (default: none). */
  protected fallbackCreds(_out: Creds): boolean { return false; }
  protected fallbackGroups(): number[] | null { return null; }
  protected fallbackPpid(): number { return 0; }
  protected fallbackExe(): Uint8Array | null { return null; }

  /** Renew the epoch (and forget every cached answer) when the generation or the TTL says so. */
  private fresh(): void {
    const g = this.generation();
    const now = performance.now();
    if (g !== this.seenGen || now - this.stamp >= this.ttl) {
      this.seenGen = g;
      this.stamp = now;
      this.ep = (this.ep + 1) >>> 0;
      this.status = this.pcomm = this.tcomm = this.exePath = this.cmd = this.cg = this.label = ABSENT;
      this.capSets = ABSENT;
      this.aud = ABSENT;
      this.cred = this.grp = ABSENT;
    }
  }

  epoch(): number {
    this.fresh();
    return this.ep;
  }

  private text(path: string): string | null {
    const b = this.read(path);
    return b === null ? null : decoder.decode(b);
  }

  private st(): Status | null {
    this.fresh();
    if (this.status === ABSENT) {
      const t = this.text('/proc/thread-self/status') ?? this.text('/proc/self/status');
      this.status = t === null ? null : parseStatus(t);
    }
    return this.status;
  }

  creds(out: Creds): boolean {
    const s = this.st();
    if (this.cred === ABSENT) {
      const c: Creds = { uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0 };
      this.cred = s?.creds ?? (this.fallbackCreds(c) ? c : null);
    }
    if (this.cred === null) return false;
    Object.assign(out, this.cred);
    return true;
  }

  pids(out: Pids): boolean {
    const pid = this.pid();
    if (pid === null) return false;
    if (this.tidCache < 0) {
      // "<pid>/task/<tid>"; read synchronously, on the calling thread (an async read would
      // report a libuv pool thread)
      const l = this.readLink('/proc/thread-self');
      const m = l === null ? null : /^(\d+)\/task\/(\d+)$/.exec(l);
      this.tidCache = m ? Number(m[2]) : 0;
    }
    const s = this.st();
    out.pid = pid;
    out.tid = this.tidCache;
    out.ppid = s ? s.ppid : this.fallbackPpid();
    return true;
  }

  groups(): readonly number[] | null {
    const s = this.st();
    if (this.grp === ABSENT) this.grp = s?.groups ?? this.fallbackGroups();
    return this.grp;
  }

  comm(thread: boolean): Uint8Array | null {
    this.fresh();
    if (thread) {
      if (this.tcomm === ABSENT) {
        const b = this.read('/proc/thread-self/comm');
        this.tcomm = b === null ? null : chomp(b);
      }
      return this.tcomm;
    }
    if (this.pcomm === ABSENT) {
      const b = this.read('/proc/self/comm');
      this.pcomm = b === null ? null : chomp(b);
    }
    return this.pcomm;
  }

  exe(): Uint8Array | null {
    this.fresh();
    if (this.exePath === ABSENT) {
      const l = this.readLinkBytes('/proc/self/exe');
      this.exePath = l ?? this.fallbackExe();
    }
    return this.exePath;
  }

  /** readlink as bytes (default: the string target, UTF-8 encoded). */
  protected readLinkBytes(path: string): Uint8Array | null {
    const l = this.readLink(path);
    return l === null ? null : new TextEncoder().encode(l);
  }

  cmdline(): Uint8Array | null {
    this.fresh();
    if (this.cmd === ABSENT) {
      let b = this.read('/proc/self/cmdline');
      if (b !== null && b.length > 0 && b[b.length - 1] !== 0) {
        // a process that rewrote its argv area may leave no final NUL: end the last argument
        const t = new Uint8Array(b.length + 1);
        t.set(b);
        b = t;
      }
      this.cmd = b;
    }
    return this.cmd;
  }

  cgroup(): Uint8Array | null {
    this.fresh();
    if (this.cg === ABSENT) {
      const t = this.text('/proc/thread-self/cgroup') ?? this.text('/proc/self/cgroup');
      const m = t === null ? null : /^0::(.*)$/m.exec(t);
      this.cg = m ? new TextEncoder().encode(m[1]) : null;
    }
    return this.cg;
  }

  caps(): Caps | null {
    this.fresh();
    if (this.capSets === ABSENT) {
      const s = this.st();
      const lc = this.text('/proc/sys/kernel/cap_last_cap');
      const lastCap = decimal(lc);
      if (!s?.sets || lastCap === null || lastCap > 32 * 64) {
        this.capSets = null;
      } else {
        const words = Math.floor(lastCap / 32) + 1;
        const [inh, prm, eff, bnd] = s.sets.map((h) => capWords(h, lastCap, words));
        this.capSets = { lastCap, inheritable: inh, permitted: prm, effective: eff, bounding: bnd };
      }
    }
    return this.capSets;
  }

  seclabel(): Uint8Array | null {
    this.fresh();
    if (this.label === ABSENT) {
      const b = this.read('/proc/thread-self/attr/current');
      this.label = b === null ? null : chomp(b);
      if (this.label !== null && this.label.length === 0) this.label = null;
    }
    return this.label;
  }

  audit(out: Audit): boolean {
    this.fresh();
    if (this.aud === ABSENT) {
      const l = this.text('/proc/self/loginuid');
      const s = this.text('/proc/self/sessionid');
      const lv = decimal(l), sv = decimal(s);
      this.aud = lv !== null && sv !== null ? { loginuid: lv, sessionid: sv } : null;
    }
    if (this.aud === null) return false;
    out.loginuid = this.aud.loginuid;
    out.sessionid = this.aud.sessionid;
    return true;
  }
}
