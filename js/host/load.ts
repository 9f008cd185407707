// load: find and compile build/core.wasm under Node, Deno or a browser that loads dist/js/ as
// plain modules, from the sources (js/host/) or from dist/ (dist/js/host/). The browser build
// (dist/browser/wasmbus.js) uses host/load-inline.ts instead.
import { denoGranted } from './deno-granted.ts';
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { kindOf } from '../args.ts';

declare const Deno: {
  readFile(path: URL): Promise<Uint8Array>;
  permissions?: { querySync?: unknown };
} | undefined;

// build/ is two levels up from js/host/load.ts and three from dist/js/host/load.js. Try the one
// that matches this file first: a browser logs a 404 for every miss.
const SRC = '../../build/core.wasm', DIST = '../../../build/core.wasm';
const CANDIDATES = new URL(import.meta.url).pathname.endsWith('.ts') ? [SRC, DIST] : [DIST, SRC];
/**
 * This file runs as itself (js/host/load.ts, dist/js/host/load.js), not inlined into a bundle
 * (esbuild, webpack, Rollup for Node: import.meta.url is then the bundle's). A bundle has no
 * build/ beside it at those relative places: looked up there, it read an unrelated directory
 * (a bundle at /srv/app/main.mjs: /build/core.wasm) and sent its user to "npm run build" or
 * "reinstall" (an outside audit, stop 44).
 */
const UNBUNDLED = /\/js\/host\/load\.[jt]s$/.test(new URL(import.meta.url).pathname);

/** What a bundled copy says instead of looking for the core. */
export function bundledError(hooks: boolean): Error {
  return new Error(`wasmbus: this copy of the package was bundled (it runs from ${new URL(import.meta.url).href}, not from its own dist/js/), ` +
    `so it cannot find build/core.wasm${hooks ? ' (nor core.hooks.wasm)' : ''} by itself: ship node_modules/wasmbus/build/core.wasm with the bundle and ` +
    'pass it compiled, Bus.create({ module: await WebAssembly.compile(bytes) }) (threads that join get it from the handle); or keep wasmbus ' +
    'out of the bundle (esbuild --external:wasmbus); or use the twin engine (Bus.create({ engine: \'twin\' })). docs/API.md, "Installing and importing"');
}

async function readBytes(url: URL): Promise<Uint8Array> {
  if (typeof Deno !== 'undefined') return Deno.readFile(url);
  if (typeof process !== 'undefined' && process.versions?.node && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Under Deno, the read of `url` is not granted: it is not tried, since in a terminal Deno would
 * ask rather than fail it ("Nothing prompts", docs/API.md; Bus.create of a wasm bus without
 * --allow-read asked twice, once for each candidate place: an outside audit, stop 38). The
 * error it stands for, as Deno names it. null: granted, or not Deno (or a Deno that cannot
 * tell without asking: the read is tried).
 */
function denoReadRefused(url: URL): Error | null {
  if (typeof Deno === 'undefined' || typeof Deno.permissions?.querySync !== 'function') return null;
  const path = decodeURIComponent(url.pathname);
  if (denoGranted({ name: 'read', path })) return null;
  return Object.assign(new Error(`Requires read access to "${path}"`), { name: 'NotCapable' });
}

/** A read refused for want of a permission (Deno without --allow-read: NotCapable). */
function isPermissionError(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  const code = (e as { code?: unknown } | null)?.code;
  return name === 'NotCapable' || name === 'PermissionDenied' || code === 'EACCES' || code === 'EPERM';
}

function hint(url: URL, e: unknown): string {
  const where = url.protocol === 'file:' ? decodeURIComponent(url.pathname) : String(url);
  if (isPermissionError(e)) {
    return typeof Deno !== 'undefined'
      ? `wasmbus: no permission to read ${where}: run Deno with --allow-read (at least --allow-read=${where}): ${String(e)}`
      : `wasmbus: no permission to read ${where}: ${String(e)}`;
  }
  return `wasmbus: cannot load ${where} (in a checkout of the repository: npm run build; ` +
    `in an installed package the file is missing: reinstall it): ${String(e)}`;
}

const cache: Array<Promise<WebAssembly.Module> | null> = [null, null];

/**
 * The compiled core, compiled once per thread and shared by every bus of that thread.
 * `hooks`: the build with the test hooks compiled in (build/core.hooks.wasm), for tests.
 */
export function loadCore(hooks = false): Promise<WebAssembly.Module> {
  // (checked since stop 48: loadCore('x') took the string as hooks: true, an outside audit)
  if (hooks !== true && hooks !== false) return Promise.reject(new BusError(A.EINVAL, 'loadCore', `hooks must be a boolean, got ${kindOf(hooks)}`));
  const k = hooks ? 1 : 0;
  return cache[k] ??= (async () => {
    if (!UNBUNDLED) { cache[k] = null; throw bundledError(hooks); }
    let first: { url: URL; e: unknown } | null = null;
    let denied: { url: URL; e: unknown } | null = null;
    for (const rel of CANDIDATES) {
      const url = new URL(hooks ? rel.replace('core.wasm', 'core.hooks.wasm') : rel, import.meta.url);
      const refused = denoReadRefused(url);
      if (refused) {
        first ??= { url, e: refused };
        denied ??= { url, e: refused };
        continue;
      }
      try {
        const bytes = await readBytes(url);
        return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        first ??= { url, e };
        if (!denied && isPermissionError(e)) denied = { url, e };
      }
    }
    cache[k] = null;
    const why = denied ?? first!;
    if (hooks && !denied) {
      // (files: in package.json ships core.wasm and core.debug.wasm only)
      throw new Error('wasmbus: the test-hooks build of the core (core.hooks.wasm, for Bus.create({ hooks: true }): fault injection) ' +
        'is not in the npm package; it is built in a checkout of the repository (npm run build). The twin engine has its hooks in the Node and Deno build of the package. ' + String(why.e));
    }
    throw new Error(hint(why.url, why.e));
  })();
}

/**
 * loadCore for a bus that can do without the core (a twin bus, whose handles carry the core
 * for workers when it can be had): null when it cannot be loaded, and, under Deno, without
 * reading when the read is not granted (deno-granted.ts: the read would ask the terminal,
 * when there is one: an outside audit, stop 31).
 */
export async function loadCoreIfAllowed(hooks = false): Promise<WebAssembly.Module | null> {
  const k = hooks ? 1 : 0;
  if (!UNBUNDLED) return null;
  if (typeof Deno === 'undefined' || cache[k] !== null) return loadCore(hooks).catch(() => null);
  // each place the core may be, read only where reading is granted
  for (const rel of CANDIDATES) {
    const url = new URL(hooks ? rel.replace('core.wasm', 'core.hooks.wasm') : rel, import.meta.url);
    if (!denoGranted({ name: 'read', path: decodeURIComponent(url.pathname) })) continue;
    try {
      return await WebAssembly.compile(await readBytes(url) as Uint8Array<ArrayBuffer>);
    } catch { /* the next place */ }
  }
  return null;
}
