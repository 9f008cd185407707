#!/usr/bin/env node
// gen-core: the build step that makes one core source serve two compilers.
//
//  1. js/shared/fingerprint.ts: a hash of every constant in js/shared/abi.ts (name and
//     value), compiled into the wasm core and into the host, so that a core and a host
//     built from different layouts refuse to run together.
//  2. js/twin/core/ and js/twin/core-hooks/: the core of assembly/ (every file but the wasm
//     engine layer, mem.ts and host.ts) as TypeScript for the twin engine, with the test
//     hooks compiled out or in. Each file is the AssemblyScript source with its import
//     paths pointed at the twin's engine layer (js/twin/mem.ts, host.ts, portable.ts) and
//     the HOOKS constant replaced by a literal: edits made at positions found in the
//     TypeScript compiler's syntax tree, so comments and layout survive.
//
// It also checks the portable subset (docs/ARCHITECTURE.md, "One source, two compilers")
// where it can be recognised in the syntax tree, and fails the build on a violation: a
// bare cast (<u32>x, x as u32), a decorator, a 64-bit or float type, an AssemblyScript
// builtin, an unwrapped integer division, a bigint, a bare `-A.Exxx` (a failure without its
// reason: write fail(A.Exxx, A.R_xxx)); and that js/twin/ exports every name
// the wasm engine layer exports. Generated files are not committed (.gitignore).
import ts from 'typescript';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CORE = join(ROOT, 'assembly');
const TWIN = join(ROOT, 'js', 'twin');
/** the wasm engine layer: the only files of assembly/ that may use builtins (js/twin/ has its own) */
const ENGINE_LAYER = new Map([['mem.ts', 'mem.ts'], ['host.ts', 'host.ts']]);
/** portable conversions (AssemblyScript builtins; js/twin/portable.ts for the twin) */
const PORTABLE_FNS = new Set(['u8', 'u16', 'u32', 'i8', 'i16', 'i32', 'bool']);
const PORTABLE_TYPES = new Set(['u8', 'u16', 'u32', 'i8', 'i16', 'i32', 'bool']);
/** types the core may not use: 64-bit and float arithmetic differs between the engines */
const FORBIDDEN_TYPES = new Set(['u64', 'i64', 'usize', 'isize', 'f32', 'f64', 'v128', 'number', 'bigint', 'boolean']);
/** AssemblyScript builtins that only the engine layer may call */
const FORBIDDEN_IDS = new Set(['load', 'store', 'atomic', 'memory', 'unreachable', 'changetype', 'isDefined',
  'sizeof', 'offsetof', 'alignof', 'unchecked', 'idof', 'nameof', 'instantiate', 'v128', 'i64', 'u64', 'f32',
  'f64', 'isize', 'usize', 'heap', 'Atomics', 'BigInt', '__arena_init']);

const errors = [];
function fail(sf, node, msg) {
  const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  errors.push(`${relative(ROOT, sf.fileName)}:${line + 1}:${character + 1}: ${msg}`);
}

/** Is `node` the direct argument of a u32()/i32() conversion (parentheses skipped)? */
function insideConversion(node) {
  let p = node.parent;
  while (p && ts.isParenthesizedExpression(p)) p = p.parent;
  return !!p && ts.isCallExpression(p) && ts.isIdentifier(p.expression) &&
    (p.expression.text === 'u32' || p.expression.text === 'i32');
}

/** Check the portable subset; collect the portable names the file uses. */
function check(sf) {
  const values = new Set(), types = new Set();
  const visit = (node) => {
    if (ts.isTypeAssertionExpression(node)) fail(sf, node, 'bare cast <T>x: a cast does nothing in JavaScript, write u32(x) or i32(x)');
    else if (ts.isAsExpression(node)) fail(sf, node, '`x as T`: a cast does nothing in JavaScript, write u32(x) or i32(x)');
    else if (ts.isBigIntLiteral(node)) fail(sf, node, 'bigint literal: no 64-bit values in the core');
    else if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
      const n = node.typeName.text;
      if (FORBIDDEN_TYPES.has(n)) fail(sf, node, `type ${n}: the core computes in u32/i32 only (64-bit and float arithmetic belong to the engine layer)`);
      if (PORTABLE_TYPES.has(n)) types.add(n);
    } else if ((node.kind === ts.SyntaxKind.NumberKeyword || node.kind === ts.SyntaxKind.BigIntKeyword || node.kind === ts.SyntaxKind.BooleanKeyword) && node.parent && !ts.isLiteralTypeNode(node.parent)) {
      fail(sf, node, `type ${node.getText(sf)}: use the portable types (u32, i32, bool)`);
    } else if (ts.isBinaryExpression(node)) {
      const op = node.operatorToken.kind;
      if (op === ts.SyntaxKind.SlashToken && !insideConversion(node)) fail(sf, node, 'integer division must be converted where it is computed: u32(a / b) or i32(a / b)');
      if (op === ts.SyntaxKind.SlashEqualsToken) fail(sf, node, '`/=`: write x = u32(x / y)');
      if (op === ts.SyntaxKind.AsteriskAsteriskToken) fail(sf, node, '`**` is not portable');
    } else if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken &&
      ts.isPropertyAccessExpression(node.operand) && /^E[A-Z0-9]+$/.test(node.operand.name.text)) {
      fail(sf, node, `-${node.operand.getText(sf)}: a failure goes through fail(errno, reason) of reason.ts, which reports its R_* reason to the host`);
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && PORTABLE_FNS.has(node.expression.text)) {
      values.add(node.expression.text);
    } else if (ts.isIdentifier(node) && FORBIDDEN_IDS.has(node.text) && !ts.isTypeReferenceNode(node.parent)) {
      const p = node.parent;
      const isMemberName = p && (ts.isPropertyAccessExpression(p) && p.name === node || ts.isPropertyAssignment(p) && p.name === node);
      if (!isMemberName) fail(sf, node, `${node.text}: an AssemblyScript builtin, allowed in the engine layer (mem.ts, host.ts) only`);
    }
    if (ts.canHaveDecorators(node) && ts.getDecorators(node)?.length) fail(sf, node, 'decorators are allowed in the engine layer only');
    ts.forEachChild(node, visit);
  };
  visit(sf);
  // a name used both as a conversion and as a type is imported once, as a value
  for (const v of values) types.delete(v);
  return { values, types };
}

/** Rewrite one core file for the twin: import paths, HOOKS, portable imports. */
function rewrite(sf, src, hooks, used, from) {
  const edits = [];
  let hooksImported = false;
  for (const st of sf.statements) {
    if (!(ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) || !st.moduleSpecifier) continue;
    const spec = st.moduleSpecifier.text;
    let to;
    if (spec.startsWith('../js/shared/')) to = `../../shared/${spec.slice('../js/shared/'.length)}.ts`;
    else if (spec.startsWith('./') && ENGINE_LAYER.has(spec.slice(2) + '.ts')) to = `../${ENGINE_LAYER.get(spec.slice(2) + '.ts')}`;
    else if (spec.startsWith('./')) to = `${spec}.ts`;
    else { fail(sf, st, `import from ${spec}: the core imports only its own files, the engine layer and js/shared/`); continue; }
    edits.push([st.moduleSpecifier.getStart(sf), st.moduleSpecifier.end, `'${to}'`]);
    // HOOKS is a compile-time constant: drop it from the import, replace its uses below
    const named = ts.isImportDeclaration(st) && st.importClause?.namedBindings;
    if (named && ts.isNamedImports(named)) {
      const keep = named.elements.filter((e) => e.name.text !== 'HOOKS');
      if (keep.length !== named.elements.length) {
        hooksImported = true;
        edits.push([named.getStart(sf), named.end, `{ ${keep.map((e) => e.getText(sf)).join(', ')} }`]);
      }
    }
  }
  if (hooksImported) {
    const visit = (node) => {
      if (ts.isIdentifier(node) && node.text === 'HOOKS' && !ts.isImportSpecifier(node.parent)) {
        edits.push([node.getStart(sf), node.end, hooks ? 'true' : 'false']);
      }
      ts.forEachChild(node, visit);
    };
    sf.statements.forEach((s) => { if (!ts.isImportDeclaration(s)) visit(s); });
  }
  edits.sort((a, b) => b[0] - a[0]);
  let out = src;
  for (const [s, e, t] of edits) out = out.slice(0, s) + t + out.slice(e);
  const names = [...used.values].sort().concat([...used.types].sort().map((t) => `type ${t}`));
  const header = `// GENERATED by tools/gen-core.mjs from ${from} (${hooks ? 'hooks build' : 'release build'}): do not edit.\n`;
  return header + (names.length ? `import { ${names.join(', ')} } from '../portable.ts';\n` : '') + out;
}

/** Export names of a module (functions, consts, lets, re-exports). */
function exportNames(file) {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const names = new Set();
  for (const st of sf.statements) {
    const exported = ts.canHaveModifiers(st) && ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isFunctionDeclaration(st) && st.name) names.add(st.name.text);
    else if (ts.isVariableStatement(st)) st.declarationList.declarations.forEach((d) => names.add(d.name.getText(sf)));
  }
  return names;
}

// 1. the ABI fingerprint: FNV-1a over "NAME=value;" of every constant, in file order
const abiFile = join(ROOT, 'js', 'shared', 'abi.ts');
const abiJs = ts.transpileModule(readFileSync(abiFile, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
const abi = await import('data:text/javascript;base64,' + Buffer.from(abiJs).toString('base64'));
let h = 0x811c9dc5;
for (const [k, v] of Object.entries(abi)) {
  for (const ch of `${k}=${v};`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
}
const fingerprint = h & 0x7fffffff; // below 2^31: the same number through an i32 export
writeFileSync(join(ROOT, 'js', 'shared', 'fingerprint.ts'),
  `// GENERATED by tools/gen-core.mjs: a hash of every constant of js/shared/abi.ts (${Object.keys(abi).length} constants).\n` +
  `// Compiled into the wasm core and the host; they refuse to run together when it differs.\n` +
  `export const ABI_FINGERPRINT = ${fingerprint};\n`);

// 2. the twin's core, twice
const files = readdirSync(CORE).filter((f) => f.endsWith('.ts') && !ENGINE_LAYER.has(f)).sort();
const parsed = files.map((f) => {
  const path = join(CORE, f);
  const src = readFileSync(path, 'utf8');
  const sf = ts.createSourceFile(path, src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  return { f, src, sf, used: check(sf) };
});
for (const [asFile, twinFile] of ENGINE_LAYER) {
  const twinNames = exportNames(join(TWIN, twinFile));
  for (const n of exportNames(join(CORE, asFile))) {
    if (n !== 'HOOKS' && !twinNames.has(n)) errors.push(`js/twin/${twinFile}: does not export ${n}, which assembly/${asFile} (the wasm engine layer) exports`);
  }
}
if (errors.length) {
  console.error(`gen-core: the core is not portable (${errors.length} problem${errors.length > 1 ? 's' : ''}):\n  ` + errors.join('\n  '));
  process.exit(1);
}
for (const [dir, hooks] of [['core', false], ['core-hooks', true]]) {
  const out = join(TWIN, dir);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const { f, src, sf, used } of parsed) writeFileSync(join(out, f), rewrite(sf, src, hooks, used, `assembly/${f}`));
}
// 3. the twin's boundary (js/twin/boundary.ts, not committed): every export of assembly/index.ts,
//    with its parameters converted as the wasm boundary converts a JS number (u32: x >>> 0,
//    i32: x | 0) and its result returned as the i32 a wasm export returns. Adding an export to
//    assembly/index.ts adds it here: the engine needs only its op and method (js/engine.ts).
{
  const bySource = new Map(parsed.map((p) => [p.f.replace(/\.ts$/, ''), p.sf]));
  const params = (fn) => fn.parameters.map((q) => ({ name: q.name.getText(fn.getSourceFile()), type: q.type ? q.type.getText(fn.getSourceFile()) : 'u32' }));
  const findFn = (sf, name) => sf.statements.find((st) => ts.isFunctionDeclaration(st) && st.name?.text === name);
  const exportsList = [];
  const index = bySource.get('index');
  for (const st of index.statements) {
    if (ts.isExportDeclaration(st) && st.exportClause && ts.isNamedExports(st.exportClause)) {
      const from = st.moduleSpecifier.text.replace(/^\.\//, '');
      const sf = bySource.get(from);
      for (const el of st.exportClause.elements) {
        const local = (el.propertyName ?? el.name).text, name = el.name.text;
        const fn = sf && findFn(sf, local);
        if (!fn) { errors.push(`assembly/index.ts: export ${name}: no function ${local} in assembly/${from}.ts`); continue; }
        exportsList.push({ name, params: params(fn) });
      }
    } else if (ts.isFunctionDeclaration(st) && st.name && ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      exportsList.push({ name: st.name.text, params: params(st) });
    }
  }
  const conv = (q) => (q.type === 'i32' ? `${q.name} | 0` : q.type === 'u32' ? `${q.name} >>> 0` : null);
  for (const e of exportsList) for (const q of e.params) if (!conv(q)) errors.push(`assembly/index.ts: export ${e.name}: parameter ${q.name} of type ${q.type} (exports take u32 / i32 only)`);
  if (!errors.length) {
    const sig = (e) => `${e.name}(${e.params.map((q) => `${q.name}: number`).join(', ')}): number;`;
    const arrow = (e) => `${e.name}: (${e.params.map((q) => q.name).join(', ')}) => c.${e.name}(${e.params.map(conv).join(', ')}) | 0,`;
    writeFileSync(join(TWIN, 'boundary.ts'),
      `// GENERATED by tools/gen-core.mjs from assembly/index.ts: do not edit.\n` +
      `// The twin's exports object, the same names as the wasm instance's, each argument converted\n` +
      `// as the wasm boundary converts a JS number (u32: >>> 0, i32: | 0), each result an i32.\n` +
      `import * as release from './core/index.ts';\nimport * as hooked from './core-hooks/index.ts';\n\n` +
      `/** The core's exports, by their wasm names (assembly/index.ts). */\nexport interface CoreExports {\n` +
      exportsList.map((e) => `  ${sig(e)}\n`).join('') + `}\n\n` +
      `function wrap(c: typeof release): CoreExports {\n  return {\n` + exportsList.map((e) => `    ${arrow(e)}\n`).join('') + `  };\n}\n\n` +
      `/** the twin core without test hooks (what ships) and with them (fault injection) */\n` +
      `export const twinRelease: CoreExports = wrap(release);\nexport const twinHooks: CoreExports = wrap(hooked);\n` +
      `/** false in the browser build, which leaves the hooks core out (scripts/build-dist.mjs) */\n` +
      `export const twinHooksBuilt: boolean = typeof (hooked as { bus_make?: unknown }).bus_make === 'function';\n`);
  }
}
if (errors.length) {
  console.error('gen-core:\n  ' + errors.join('\n  '));
  process.exit(1);
}
console.log(`gen-core: fingerprint ${fingerprint}; twin core: ${parsed.length} files × 2 (release, hooks) in js/twin/core*/`);
