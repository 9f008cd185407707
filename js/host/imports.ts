// imports: the core's host functions, built from a Provider. The wasm core imports them
// (WASI preview1 `clock_time_get` and `random_get`, and the WASI-style `wasmbus.creds_get`);
// the twin calls the very same functions, so both engines see one host.
//
// Conventions are preview1's: out-pointers into the memory, u64 little-endian, return 0 or
// a WASI errno. Nothing here allocates per call except random_get (BUS_MAKE only).
import type { Creds, Provider } from './provider.ts';
import { CREDS_FIELDS } from './provider.ts';

/** WASI errno values (preview1 numbering, not Linux's) */
export const WASI_ESUCCESS = 0;
export const WASI_EINVAL = 28;
export const WASI_ENOTSUP = 58;

export interface CoreImports {
  wasi_snapshot_preview1: {
    clock_time_get(id: number, precision: bigint, out: number): number;
    random_get(buf: number, len: number): number;
  };
  wasmbus: {
    creds_get(out: number): number;
  };
}

export function coreImports(provider: Provider, memory: WebAssembly.Memory): CoreImports {
  const dv = new DataView(memory.buffer);
  const u8 = new Uint8Array(memory.buffer);
  const halves = new Uint32Array(2);
  const creds: Creds = { uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0 };
  return {
    wasi_snapshot_preview1: {
      clock_time_get(id: number, _precision: bigint, out: number): number {
        if (!provider.clock(id, halves)) return WASI_EINVAL;
        dv.setUint32(out, halves[0], true);
        dv.setUint32(out + 4, halves[1], true);
        return WASI_ESUCCESS;
      },
      random_get(buf: number, len: number): number {
        // never hand a view of the shared memory to the provider (browsers refuse it)
        const tmp = new Uint8Array(len);
        provider.random(tmp);
        u8.set(tmp, buf);
        return WASI_ESUCCESS;
      },
    },
    wasmbus: {
      creds_get(out: number): number {
        if (!provider.creds(creds)) return WASI_ENOTSUP;
        for (let i = 0; i < 8; i++) {
          dv.setUint32(out + i * 8, creds[CREDS_FIELDS[i]] >>> 0, true);
          dv.setUint32(out + i * 8 + 4, 0, true);
        }
        return WASI_ESUCCESS;
      },
    },
  };
}
