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

let cached: Promise<WebAssembly.Module> | null = null;

/** The compiled core, compiled once per thread and shared by every bus of that thread. */
export function loadCore(): Promise<WebAssembly.Module> {
  cached ??= (async () => {
    let last: unknown;
    for (const rel of CANDIDATES) {
      try {
        const bytes = await readBytes(new URL(rel, import.meta.url));
        return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        last = e;
      }
    }
    cached = null;
    throw new Error(`wasmbus: cannot load build/core.wasm (run npm run build): ${String(last)}`);
  })();
  return cached;
}
