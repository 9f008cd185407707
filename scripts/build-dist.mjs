#!/usr/bin/env node
// build-dist: what `tsc -p tsconfig.build.json` leaves to do before dist/ can be published
// (run by `npm run build:ts`, after tsc).
//
// 1. Declarations that resolve from an installed package, under every condition:
//    - tsc (5.9, rewriteRelativeImportExtensions) rewrites `./bus.ts` to `./bus.js` in the
//      emitted JS but not in the .d.ts files; Deno resolves specifiers literally and there is no
//      dist/js/bus.ts, so each relative `.ts` specifier in dist/**/*.d.ts becomes `.js`.
//    - `WebAssembly.Memory` / `WebAssembly.Module` in the declarations become `WasmMemory` /
//      `WasmModule` (dist/js/host/wasm-types.d.ts): the runtime's own WebAssembly types where
//      the consumer has them (DOM lib, Deno), else a minimal structural fallback, so that a
//      TypeScript project with a Node-only lib needs no WebAssembly declarations of its own.
//    - Connection and Message (made only by the bus) get a private constructor, and the
//      internal interface Connection implements goes with the internal members tsc leaves out.
// 2. The browser build, dist/browser/wasmbus.js (the package's `browser` condition): one ES
//    module bundled by esbuild from dist/js/index.js, in which
//    - host/node.js and host/deno.js (the Node and Deno providers; node: imports) are replaced
//      by host/none.js, so nothing in the browser graph imports a `node:` module;
//    - host/load.js (which reads build/core.wasm from the file system or by URL) is replaced by
//      host/load-inline.js, and the core's bytes are inlined (base64) into host/core-inline.js,
//      so a bundler needs no wasm plugin, no asset rule and no URL it cannot see.
import { readFile, writeFile, readdir, mkdir } from 'node:fs/promises';
import { join, relative, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { hostSwap } from './host-swap.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const HOST = join(DIST, 'js', 'host');
const CORE = join(ROOT, 'build', 'core.wasm');

async function* walk(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

// ---- 1. declarations ----
const SPEC = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;
const WASM_TYPES = join(HOST, 'wasm-types.d.ts');
let rewritten = 0;
/** classes made only by the library (bus.connect(), received messages): [their file in dist/js, the class, the internal interface it implements] */
const NO_CONSTRUCT = [['connection.d.ts', 'Connection', 'RoomOwner, PumpOwner, CallOwner'], ['message.d.ts', 'Message', null]];
for await (const file of walk(join(DIST, 'js'))) {
  if (!file.endsWith('.d.ts')) continue;
  const before = await readFile(file, 'utf8');
  let text = before.replace(SPEC, (_, kw, q, path) => `${kw}${q}${path}.js${q}`);
  if (file !== WASM_TYPES && /\bWebAssembly\.(Memory|Module)\b/.test(text)) {
    let rel = relative(dirname(file), WASM_TYPES).split(sep).join('/').replace(/\.d\.ts$/, '.js');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    text = text.replace(/\bWebAssembly\.Memory\b/g, 'WasmMemory').replace(/\bWebAssembly\.Module\b/g, 'WasmModule');
    text = `import type { WasmMemory, WasmModule } from '${rel}';\n${text}`;
  }
  if (/\bWebAssembly\./.test(text) && file !== WASM_TYPES) {
    throw new Error(`${relative(ROOT, file)}: a WebAssembly type other than Memory / Module: add it to js/host/wasm-types.ts`);
  }
  // members marked @internal are left out (stripInternal): so is the internal interface a
  // public class implements, and a class the user must not construct gets a private
  // constructor (tsc leaves out an internal one, which would make an implicit public one)
  for (const [name, cls, iface] of NO_CONSTRUCT) {
    if (file !== join(DIST, 'js', name)) continue;
    const head = new RegExp(`(export declare class ${cls})(?: implements ${iface ?? '\\w+'})? \\{\\n`);
    const at = text.search(head);
    if (at < 0) throw new Error(`${relative(ROOT, file)}: no declaration of class ${cls} to fix`);
    const body = text.slice(at, text.indexOf('\n}\n', at));
    if (/\bconstructor\(/.test(body)) throw new Error(`${relative(ROOT, file)}: ${cls} declares a constructor: mark it @internal`);
    text = text.replace(head, (line, decl) => `${iface ? `${decl} {\n` : line}    private constructor();\n`);
  }
  if (text !== before) {
    await writeFile(file, text);
    rewritten++;
  }
}

// ---- 1b. each module names its declarations, for Deno ----
// `deno check` does not look for a .d.ts beside a .js it imports by path (only the package's
// `types` condition, for a bare `wasmbus` specifier, reached them): code that imported
// dist/js/index.js by path got every type-only export refused (TS2305) and the values typed by
// inference (an outside audit, stop 49). Each module with a declaration file gets Deno's
// `// @ts-self-types="./<name>.d.ts"` as its first line (every module: a declaration's imports
// resolve to the .js files beside it), and its source map one line more (a leading ';').
let selfTyped = 0;
for await (const file of walk(join(DIST, 'js'))) {
  if (!file.endsWith('.js')) continue;
  const dts = file.replace(/\.js$/, '.d.ts');
  let has = true;
  try { await readFile(dts); } catch { has = false; }
  if (!has) continue;
  const text = await readFile(file, 'utf8');
  if (text.startsWith('// @ts-self-types=')) continue;
  const base = dts.slice(dts.lastIndexOf(sep) + 1);
  await writeFile(file, `// @ts-self-types="./${base}"\n${text}`);
  try {
    const map = JSON.parse(await readFile(`${file}.map`, 'utf8'));
    map.mappings = `;${map.mappings}`;
    await writeFile(`${file}.map`, JSON.stringify(map));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  selfTyped++;
}

// ---- 2. the browser build ----
const core = await readFile(CORE);
const OUT = join(DIST, 'browser', 'wasmbus.js');
await mkdir(dirname(OUT), { recursive: true });
const browserHost = hostSwap('wasmbus-browser-host', HOST, '.js', {
  more: { load: 'load-inline' },
  loads: [
    { filter: /[\\/]core-inline\.js$/, contents: `export const CORE_BASE64 = ${JSON.stringify(core.toString('base64'))};\n` },
    // the twin's hooks core (fault injection for tests) left out, as the wasm hooks core is: an
    // empty module, which TwinEngine refuses with EOPNOTSUPP (about 52 KB of the bundle); its
    // one name that twin/boundary.js reads, undefined (esbuild warned of an import that is
    // always undefined)
    { filter: /[\\/]twin[\\/]core-hooks[\\/]index\.js$/, contents: 'export const bus_make = undefined;\n' },
  ],
});
const result = await esbuild.build({
  entryPoints: [join(DIST, 'js', 'index.js')],
  outfile: OUT,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: false,
  legalComments: 'none',
  // (the classes keep their names: without it, those that refer to themselves were renamed
  // _Bus, _BusError, _DBusError, _WasmEngine in this build only, an outside audit, stop 45)
  keepNames: true,
  logLevel: 'warning',
  metafile: true,
  plugins: [browserHost],
  banner: { js: '// wasmbus browser build (dist/browser/wasmbus.js): generated by scripts/build-dist.mjs, the core inlined.' },
});
const inputs = Object.keys(result.metafile.inputs);
const leaked = inputs.filter((p) => /host[\\/](node|deno|load)\.js$/.test(p) || p.startsWith('node:'));
const nodeImports = Object.values(result.metafile.outputs).flatMap((o) => o.imports).filter((i) => i.path.startsWith('node:'));
if (leaked.length || nodeImports.length) {
  throw new Error(`the browser build still imports ${[...leaked, ...nodeImports.map((i) => i.path)].join(', ')}`);
}
const size = (await readFile(OUT)).length;
console.log(`build-dist: ${rewritten} declaration files fixed, ${selfTyped} modules self-typed; ${relative(ROOT, OUT)} ${(size / 1024).toFixed(1)} KiB ` +
  `(core ${core.length} bytes inlined)`);
