// meta-collect: read every metadata item of a provider the way the core will, through the
// import object (js/host/imports.ts) on a shared memory, and decode the payloads. Used by
// providers.test.ts and by its child processes (provider-child.ts, provider-deno-child.ts).
import { coreImports, WASI_ENOTSUP } from '../../js/host/imports.ts';
import type { Provider } from '../../js/host/provider.ts';
import * as L from '../../js/shared/meta-limits.ts';

export interface Collected {
  creds: number[] | number;
  pids: number[] | number;
  groups: { n: number; gids: number[] } | number;
  tcomm: { len: number; s: string } | number;
  pcomm: { len: number; s: string } | number;
  exe: { len: number; s: string } | number;
  cgroup: { len: number; s: string } | number;
  seclabel: { len: number; s: string } | number;
  caps: { len: number; words: number[] } | number;
  audit: { sessionid: number; loginuid: number } | number;
  args: { argc: number; size: number; argv: string[]; nulTerminated: boolean } | number;
  cmdlineFull: { argc: number; size: number } | number;
  epoch: number;
}

const dec = new TextDecoder();
const OUT = 1024; // scratch: small outputs
const BUF = 4096; // scratch: a value's bytes
const ARGV = 65536; // scratch: argv pointers
const ARGS = 69632; // scratch: argv bytes

/** Decode a string written with capacity `cap` at BUF (length incl. NUL at OUT). */
function str(u8: Uint8Array, dv: DataView, r: number): { len: number; s: string } | number {
  if (r !== 0) return r;
  const len = dv.getUint32(OUT, true);
  const n = Math.min(len, BUF_CAP);
  if (n === len && u8[BUF + len - 1] !== 0) throw new Error('string without its NUL');
  return { len, s: dec.decode(u8.slice(BUF, BUF + Math.min(n, len - 1))) };
}
let BUF_CAP = 0;

export function collect(p: Provider, cap = 4096): Collected {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const imp = coreImports(p, memory);
  const w = imp.wasmbus, wasi = imp.wasi_snapshot_preview1;
  const u8 = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  const u64s = (at: number, n: number) => Array.from({ length: n }, (_, i) => dv.getUint32(at + i * 8, true) + dv.getUint32(at + i * 8 + 4, true) * 2 ** 32);
  BUF_CAP = cap;
  const out: Partial<Collected> = {};
  let r = w.creds_get(OUT);
  out.creds = r === 0 ? u64s(OUT, 8) : r;
  r = w.pids_get(OUT);
  out.pids = r === 0 ? u64s(OUT, 3) : r;
  r = w.groups_get(BUF, Math.floor(cap / 8), OUT);
  out.groups = r === 0 ? { n: dv.getUint32(OUT, true), gids: u64s(BUF, Math.min(dv.getUint32(OUT, true), Math.floor(cap / 8))) } : r;
  out.tcomm = str(u8, dv, w.comm_get(0, BUF, cap, OUT));
  out.pcomm = str(u8, dv, w.comm_get(1, BUF, cap, OUT));
  out.exe = str(u8, dv, w.exe_get(BUF, cap, OUT));
  out.cgroup = str(u8, dv, w.cgroup_get(BUF, cap, OUT));
  out.seclabel = str(u8, dv, w.seclabel_get(BUF, cap, OUT));
  r = w.caps_get(BUF, cap, OUT);
  out.caps = r === 0 ? { len: dv.getUint32(OUT, true), words: Array.from({ length: Math.min(dv.getUint32(OUT, true), cap) / 4 }, (_, i) => dv.getUint32(BUF + i * 4, true)) } : r;
  r = w.audit_get(OUT);
  out.audit = r === 0 ? { sessionid: dv.getUint32(OUT, true), loginuid: dv.getUint32(OUT + 4, true) } : r;
  r = wasi.args_sizes_get(OUT, OUT + 4);
  if (r === 0) {
    const argc = dv.getUint32(OUT, true), size = dv.getUint32(OUT + 4, true);
    if (argc * 4 > ARGS - ARGV || size > u8.length - ARGS) throw new Error(`args too large for the test's scratch: ${argc}, ${size}`);
    const r2 = wasi.args_get(ARGV, ARGS);
    if (r2 !== 0) throw new Error(`args_get after args_sizes_get: ${r2}`);
    const argv: string[] = [];
    for (let i = 0; i < argc; i++) {
      const a = dv.getUint32(ARGV + i * 4, true);
      argv.push(dec.decode(u8.slice(a, u8.indexOf(0, a))));
    }
    out.args = { argc, size, argv, nulTerminated: size === 0 || u8[ARGS + size - 1] === 0 };
  } else {
    out.args = r;
  }
  r = w.cmdline_size_get(OUT, OUT + 4);
  out.cmdlineFull = r === 0 ? { argc: dv.getUint32(OUT, true), size: dv.getUint32(OUT + 4, true) } : r;
  r = w.meta_epoch_get(OUT);
  out.epoch = r === 0 ? dv.getUint32(OUT, true) : -r;
  return out as Collected;
}

export { WASI_ENOTSUP, L };
