// load-inline: loadCore() of the browser build (scripts/build-dist.mjs swaps it in for
// host/load.ts). The core (about 57 KiB) is inlined as base64 (about 76 KiB of text) and compiled
// on first use, so the build needs no file system, no fetch and no URL a bundler would have to
// see: a bundler takes it as plain JavaScript (tests/consumer bundles it with esbuild, webpack, Rollup and Vite).
import { CORE_BASE64 } from './core-inline.ts';
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { kindOf } from '../args.ts';

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const fromBase64 = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array<ArrayBuffer> }).fromBase64;
  if (fromBase64) return fromBase64(text);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let cached: Promise<WebAssembly.Module> | null = null;

/** The compiled core, compiled once per thread and shared by every bus of that thread. */
export function loadCore(hooks = false): Promise<WebAssembly.Module> {
  // (checked since stop 48: loadCore('x') took the string as hooks: true, an outside audit)
  if (hooks !== true && hooks !== false) return Promise.reject(new BusError(A.EINVAL, 'loadCore', `hooks must be a boolean, got ${kindOf(hooks)}`));
  if (hooks) return Promise.reject(new Error('wasmbus: the browser build has no hooks build of the core (tests load build/core.hooks.wasm from a checkout)'));
  cached ??= (async () => {
    if (!CORE_BASE64) throw new Error('wasmbus: this build has no inlined core (use the browser build, dist/browser/wasmbus.js)');
    return WebAssembly.compile(decodeBase64(CORE_BASE64));
  })().catch((e: unknown) => {
    cached = null;
    throw e;
  });
  return cached;
}

/** loadCore for a bus that can do without the core (load.ts says why): null when it cannot be had. */
export function loadCoreIfAllowed(hooks = false): Promise<WebAssembly.Module | null> {
  return loadCore(hooks).catch(() => null);
}
