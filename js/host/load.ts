// load: find and compile build/core.wasm in any runtime (Node, Deno, browser), from the
// sources (js/host/) or from dist/ (dist/js/host/).
declare const Deno: { readFile(path: URL): Promise<Uint8Array> } | undefined;

// build/ is two levels up from js/host/load.ts and three from dist/js/host/load.js. Try the one
// that matches this file first: a browser logs a 404 for every miss.
const SRC = '../../build/core.wasm', DIST = '../../../build/core.wasm';
const CANDIDATES = new URL(import.meta.url).pathname.endsWith('.ts') ? [SRC, DIST] : [DIST, SRC];

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

const cache: Array<Promise<WebAssembly.Module> | null> = [null, null];

/**
 * The compiled core, compiled once per thread and shared by every bus of that thread.
 * `hooks`: the build with the test hooks compiled in (build/core.hooks.wasm), for tests.
 */
export function loadCore(hooks = false): Promise<WebAssembly.Module> {
  const k = hooks ? 1 : 0;
  return cache[k] ??= (async () => {
    let last: unknown;
    for (const rel of CANDIDATES) {
      try {
        const bytes = await readBytes(new URL(hooks ? rel.replace('core.wasm', 'core.hooks.wasm') : rel, import.meta.url));
        return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        last = e;
      }
    }
    cache[k] = null;
    throw new Error(`wasmbus: cannot load build/core.wasm (run npm run build): ${String(last)}`);
  })();
}
