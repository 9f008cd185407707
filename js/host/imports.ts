// imports: the core's host functions, built from a Provider. The wasm core imports them
// (WASI preview1 `clock_time_get`, `random_get`, `args_sizes_get` and `args_get`, and the
// WASI-style extension module "wasmbus" for the rest of the metadata); the twin calls the very
// same functions (js/twin/host.ts), so both engines see one host.
//
// Conventions are preview1's: every function returns 0 or a WASI errno (ENOTSUP 58: the
// provider cannot tell, the core leaves the item out; EINVAL 28: a bad argument), writes its
// results through out-pointers given by the core (the core's per-thread scratch: nothing here
// keeps a static buffer in the memory), integers little-endian. Payloads use the kdbus item
// payload layouts (docs/API.md, "Module exports and imports"). A variable-size value is written
// with a capacity: the function writes the first min(full, cap) bytes (entries) and always
// reports the full size, so the core sees when a value is over its cap
// (js/shared/meta-limits.ts). Strings are written with their terminating NUL, and their
// reported length includes it (the item payload size).
//
// Nothing here allocates per call except random_get (BUS_MAKE only) and a new command line.
// Every answer is checked against the Provider contract first (answers.ts): a wrong one fails
// the command with EINVAL, never becomes metadata.
import type { Audit, Creds, Pids, Provider } from './provider.ts';
import { CREDS_FIELDS } from './provider.ts';
import { checkCreds, checkPids, bytesAnswer, groupsAnswer, capsAnswer, checkAudit, epochAnswer, UNSET } from './answers.ts';
import { META_CMDLINE_ARGS_MAX, META_CMDLINE_MAX } from '../shared/meta-limits.ts';
import { CLOCK_PRECISION_COMMITTED } from '../shared/abi.ts';

/** WASI errno values (preview1 numbering, not Linux's) */
export const WASI_ESUCCESS = 0;
export const WASI_EINVAL = 28;
export const WASI_ENOTSUP = 58;

/** clock_time_get's precision for a read after the command committed (abi.CLOCK_PRECISION_COMMITTED), as the import receives it */
const COMMITTED = BigInt(CLOCK_PRECISION_COMMITTED);

/** comm_get's `which` */
export const COMM_THREAD = 0;
export const COMM_PROCESS = 1;

export interface CoreImports {
  wasi_snapshot_preview1: {
    clock_time_get(id: number, precision: bigint, out: number): number;
    random_get(buf: number, len: number): number;
    args_sizes_get(argc_out: number, size_out: number): number;
    args_get(argv: number, argv_buf: number): number;
  };
  wasmbus: {
    creds_get(out: number): number;
    pids_get(out: number): number;
    groups_get(buf: number, cap: number, n_out: number): number;
    comm_get(which: number, buf: number, cap: number, len_out: number): number;
    exe_get(buf: number, cap: number, len_out: number): number;
    cmdline_size_get(argc_out: number, size_out: number): number;
    cgroup_get(buf: number, cap: number, len_out: number): number;
    caps_get(buf: number, cap: number, len_out: number): number;
    seclabel_get(buf: number, cap: number, len_out: number): number;
    audit_get(out: number): number;
    meta_epoch_get(out: number): number;
  };
}

/** The command line as the core gets it through WASI args: `bytes` holds `argc` NUL-terminated arguments. */
export interface ArgsView { argc: number; bytes: Uint8Array }

/**
 * The capped command line (docs/API.md, "Metadata limits"): the longest prefix of whole
 * arguments that fits in META_CMDLINE_MAX bytes and META_CMDLINE_ARGS_MAX arguments; when
 * not even the first argument fits, that argument cut to META_CMDLINE_MAX - 1 bytes (at a
 * UTF-8 character boundary) and its NUL. `full` holds every argument followed by a NUL.
 */
export function cappedArgs(full: Uint8Array, max = META_CMDLINE_MAX, maxArgs = META_CMDLINE_ARGS_MAX): ArgsView {
  let end = 0, argc = 0;
  while (end < full.length && argc < maxArgs) {
    const nul = full.indexOf(0, end);
    if (nul < 0 || nul + 1 > max) break; // (an unterminated tail is no argument)
    end = nul + 1;
    argc++;
  }
  if (argc === 0 && full.length > 0 && maxArgs > 0 && max > 0) {
    let cut = Math.min(max - 1, full.indexOf(0) < 0 ? full.length : full.indexOf(0));
    // do not split a UTF-8 sequence: back to its lead byte, at most 3 bytes back; bytes that
    // are not UTF-8 there (an argv need not be) are cut at the cap (a run of continuation
    // bytes was walked back to 0, an empty argument, before stop 39: an outside audit)
    const cap = cut;
    while (cut > 0 && cap - cut < 3 && (full[cut] & 0xc0) === 0x80) cut--;
    if ((full[cut] & 0xc0) === 0x80) cut = cap;
    const b = new Uint8Array(cut + 1);
    b.set(full.subarray(0, cut));
    return { argc: 1, bytes: b };
  }
  return { argc, bytes: full.subarray(0, end) };
}

/** Arguments in a NUL-terminated command line. */
function countArgs(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 0) n++;
  return n;
}

/**
 * What an import throws when the provider's call returned on a thread that another thread
 * declared dead meanwhile (its slot recovered, and perhaps joined by another thread since):
 * nothing is written, and the command is abandoned (the engine unwinds it and throws its
 * recovery's ECONNRESET).
 */
export class SlotLost extends Error {
  constructor() { super('wasmbus: this thread was declared dead while its provider ran: nothing of its answer is written'); }
}

/**
 * The core's imports for one thread. `mine` says whether the thread slot is still this
 * thread's (LIVE, its token): read after every provider call, before anything is written,
 * since the answers go into the thread slot (its scratch and metadata cache), which belongs
 * to whoever joined it after a recovery. Before stop 54 a command waiting in a slow provider
 * when its thread was declared dead wrote the answer there after the recovery (the next
 * joiner's messages then carried the dead thread's tid: an outside audit, stop 53).
 */
export function coreImports(provider: Provider, memory: WebAssembly.Memory, mine: () => boolean = () => true): CoreImports {
  /** after a provider call, before a write: throws SlotLost once the slot is no longer this thread's */
  const gate = (): void => { if (!mine()) throw new SlotLost(); };
  const dv = new DataView(memory.buffer);
  const u8 = new Uint8Array(memory.buffer);
  const halves = new Uint32Array(2);
  // the provider's out-objects, made once per thread and set UNSET before each call (answers.ts:
  // a field the provider did not fill is refused, never passed on as an earlier answer or 0)
  const creds: Creds = { uid: UNSET, euid: UNSET, suid: UNSET, fsuid: UNSET, gid: UNSET, egid: UNSET, sgid: UNSET, fsgid: UNSET };
  const pids: Pids = { pid: UNSET, tid: UNSET, ppid: UNSET };
  const audit: Audit = { loginuid: UNSET, sessionid: UNSET };
  // the command line of the last args_sizes_get, so that args_get writes what it announced
  let argsFrom: Uint8Array | null = null;
  let args: ArgsView | null = null;
  // the full command line's argument count, counted once per command line (cmdline_size_get)
  let countFrom: Uint8Array | null = null;
  let countArgc = 0;

  const u64 = (p: number, v: number): void => {
    dv.setUint32(p, v >>> 0, true);
    dv.setUint32(p + 4, Math.floor(v / 4294967296) >>> 0, true);
  };

  /** A string without NUL, written with its NUL: first min(len, cap) bytes; len at lenOut. */
  const putString = (s: Uint8Array | null | undefined, buf: number, cap: number, lenOut: number): number => {
    if (s == null) return WASI_ENOTSUP;
    const len = s.length + 1;
    if (cap >= len) {
      u8.set(s, buf);
      u8[buf + s.length] = 0;
    } else if (cap > 0) {
      u8.set(s.subarray(0, cap), buf);
    }
    dv.setUint32(lenOut, len, true);
    return WASI_ESUCCESS;
  };

  // a command line whose last argument has no NUL reads as if it had one, whatever its place
  // (before stop 44 such a last argument was read when it was the first only; after others it
  // was dropped, and the command line flagged cut although it was not: an outside audit). The
  // terminated copy is made once per answer (the provider's bytes are not to be modified)
  let rawCmd: Uint8Array | null = null, termCmd: Uint8Array | null = null;
  const cmdlineAnswer = (): Uint8Array | null => {
    const b = bytesAnswer(provider, 'cmdline', provider.cmdline ? provider.cmdline() : null, true);
    gate();
    if (b === null || b.length === 0 || b[b.length - 1] === 0) return b;
    if (b !== rawCmd) {
      rawCmd = b;
      termCmd = new Uint8Array(b.length + 1);
      termCmd.set(b);
    }
    return termCmd;
  };

  const view = (): ArgsView | null => {
    const full = cmdlineAnswer();
    if (full === null) return null;
    if (full !== argsFrom || args === null) {
      argsFrom = full;
      args = cappedArgs(full);
    }
    return args;
  };

  return {
    wasi_snapshot_preview1: {
      clock_time_get(id: number, precision: bigint, out: number): number {
        // (2^64 − 1 ns, 584 years, is no reading: a clock that said true without filling
        // `out` reads as no clock, 0, as one that says false, never as its last reading; not
        // an error: the core reads the clocks for a bus notification after the command it
        // belongs to has committed, and a provider's failure there loses the notification, a
        // second look, stop 44)
        halves[0] = halves[1] = 0xffffffff;
        let ok: boolean;
        if (precision === COMMITTED) {
          // a read after the command committed (a notification's TIMESTAMP, the REPLY_DEADs
          // of a close's end): a clock that throws there is read as no clock, as one that says
          // false (the throw failed the call after its change was made, and lost the
          // notification, before stop 45)
          try { ok = provider.clock(id, halves); } catch { return WASI_EINVAL; }
        } else ok = provider.clock(id, halves);
        gate();
        if (!ok) return WASI_EINVAL;
        if (halves[0] === 0xffffffff && halves[1] === 0xffffffff) return WASI_EINVAL;
        dv.setUint32(out, halves[0], true);
        dv.setUint32(out + 4, halves[1], true);
        return WASI_ESUCCESS;
      },
      random_get(buf: number, len: number): number {
        // never hand a view of the shared memory to the provider (browsers refuse it)
        const tmp = new Uint8Array(len);
        provider.random(tmp);
        gate();
        u8.set(tmp, buf);
        return WASI_ESUCCESS;
      },
      /** argc and the byte size of the capped command line (CMDLINE), as WASI defines them. */
      args_sizes_get(argcOut: number, sizeOut: number): number {
        const v = view();
        if (v === null) return WASI_ENOTSUP;
        dv.setUint32(argcOut, v.argc, true);
        dv.setUint32(sizeOut, v.bytes.length, true);
        return WASI_ESUCCESS;
      },
      /**
       * The capped command line announced by the last args_sizes_get of this thread: argc
       * u32 pointers at `argv`, the NUL-terminated arguments at `argv_buf`.
       */
      args_get(argv: number, argvBuf: number): number {
        const v = args ?? view();
        gate();
        if (v === null) return WASI_ENOTSUP;
        u8.set(v.bytes, argvBuf);
        let p = 0;
        for (let i = 0; i < v.argc; i++) {
          dv.setUint32(argv + i * 4, argvBuf + p, true);
          p = v.bytes.indexOf(0, p) + 1;
        }
        return WASI_ESUCCESS;
      },
    },
    wasmbus: {
      /** 8 × u64 at `out`: uid, euid, suid, fsuid, gid, egid, sgid, fsgid (kdbus CREDS). */
      creds_get(out: number): number {
        creds.uid = creds.euid = creds.suid = creds.fsuid = creds.gid = creds.egid = creds.sgid = creds.fsgid = UNSET;
        const ok = provider.creds(creds);
        gate();
        if (!ok) return WASI_ENOTSUP;
        checkCreds(provider, creds);
        for (let i = 0; i < 8; i++) u64(out + i * 8, creds[CREDS_FIELDS[i]]);
        return WASI_ESUCCESS;
      },
      /** 3 × u64 at `out`: pid, tid, ppid (kdbus PIDS; 0: not known). */
      pids_get(out: number): number {
        if (!provider.pids) return WASI_ENOTSUP;
        pids.pid = pids.tid = pids.ppid = UNSET;
        const ok = provider.pids(pids);
        gate();
        if (!ok) return WASI_ENOTSUP;
        checkPids(provider, pids);
        u64(out, pids.pid);
        u64(out + 8, pids.tid);
        u64(out + 16, pids.ppid);
        return WASI_ESUCCESS;
      },
      /** The first min(n, cap) supplementary gids as u64 at `buf` (kdbus AUXGROUPS); n (u32) at `n_out`. */
      groups_get(buf: number, cap: number, nOut: number): number {
        const g = groupsAnswer(provider, provider.groups ? provider.groups() : null);
        gate();
        if (g == null) return WASI_ENOTSUP;
        const n = Math.min(g.length, cap);
        for (let i = 0; i < n; i++) u64(buf + i * 8, g[i]);
        dv.setUint32(nOut, g.length, true);
        return WASI_ESUCCESS;
      },
      /** `which` 0: the thread's comm (TID_COMM), 1: the process's (PID_COMM). */
      comm_get(which: number, buf: number, cap: number, lenOut: number): number {
        if (which !== COMM_THREAD && which !== COMM_PROCESS) return WASI_EINVAL;
        const b = bytesAnswer(provider, 'comm', provider.comm ? provider.comm(which === COMM_THREAD) : null);
        gate();
        return putString(b, buf, cap, lenOut);
      },
      exe_get(buf: number, cap: number, lenOut: number): number {
        const b = bytesAnswer(provider, 'exe', provider.exe ? provider.exe() : null);
        gate();
        return putString(b, buf, cap, lenOut);
      },
      /**
       * The full (uncapped) command line's argc and byte size: more than args_sizes_get's =
       * truncated. Of the command line the last args_sizes_get announced (the core asks right
       * after args_get), not of a new answer: a provider whose cmdline() changed between the
       * two calls had its cut flag taken from the other command line before stop 66.
       */
      cmdline_size_get(argcOut: number, sizeOut: number): number {
        const full = argsFrom ?? cmdlineAnswer();
        gate();
        if (full === null) return WASI_ENOTSUP;
        if (full !== countFrom) {
          countFrom = full;
          countArgc = countArgs(full);
        }
        dv.setUint32(argcOut, countArgc, true);
        dv.setUint32(sizeOut, full.length, true);
        return WASI_ESUCCESS;
      },
      cgroup_get(buf: number, cap: number, lenOut: number): number {
        const b = bytesAnswer(provider, 'cgroup', provider.cgroup ? provider.cgroup() : null);
        gate();
        return putString(b, buf, cap, lenOut);
      },
      /**
       * kdbus CAPS payload: u32 last_cap, then inheritable, permitted, effective and bounding,
       * each ceil((last_cap + 1) / 32) u32 words; first min(len, cap) bytes, len at `len_out`.
       */
      caps_get(buf: number, cap: number, lenOut: number): number {
        const c = capsAnswer(provider, provider.caps ? provider.caps() : null);
        gate();
        if (c == null) return WASI_ENOTSUP;
        const words = c.permitted.length;
        const len = 4 + 16 * words;
        const sets = [c.inheritable, c.permitted, c.effective, c.bounding];
        const w = Math.min(Math.floor(cap / 4), 1 + 4 * words);
        for (let i = 0; i < w; i++) {
          const v = i === 0 ? c.lastCap : sets[Math.floor((i - 1) / words)][(i - 1) % words];
          dv.setUint32(buf + i * 4, v >>> 0, true);
        }
        dv.setUint32(lenOut, len, true);
        return WASI_ESUCCESS;
      },
      seclabel_get(buf: number, cap: number, lenOut: number): number {
        const b = bytesAnswer(provider, 'seclabel', provider.seclabel ? provider.seclabel() : null);
        gate();
        return putString(b, buf, cap, lenOut);
      },
      /** kdbus AUDIT payload: u32 sessionid, u32 loginuid (4294967295: unset, as the kernel reports it). */
      audit_get(out: number): number {
        if (!provider.audit) return WASI_ENOTSUP;
        audit.loginuid = audit.sessionid = UNSET;
        const ok = provider.audit(audit);
        gate();
        if (!ok) return WASI_ENOTSUP;
        checkAudit(provider, audit);
        dv.setUint32(out, audit.sessionid >>> 0, true);
        dv.setUint32(out + 4, audit.loginuid >>> 0, true);
        return WASI_ESUCCESS;
      },
      /** u32 at `out`: the provider's epoch; what was collected under the same epoch is still valid. */
      meta_epoch_get(out: number): number {
        if (!provider.epoch) return WASI_ENOTSUP;
        const ep = epochAnswer(provider, provider.epoch());
        gate();
        dv.setUint32(out, ep, true);
        return WASI_ESUCCESS;
      },
    },
  };
}
