// docs/API.md against the package's declarations: every member of every class and interface
// that API.md shows in a ```ts block is declared under that name in dist/js/**/*.d.ts (the
// types a consumer gets). Stop 17 left members marked internal out of the declarations
// (stripInternal); `conn.spinner` and `engine.lockWaitMs`, both documented, were dropped with
// them, and this test caught the second. Needs the build (npm run build), as every consumer does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** inherited from Error, not declared again */
const INHERITED = new Set(['name', 'message', 'stack', 'cause']);

function declarations(): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.d.ts')) out.push(readFileSync(p, 'utf8'));
    }
  };
  walk(join(ROOT, 'dist', 'js'));
  return out.join('\n');
}

test('every member API.md shows of a class or an interface is in the declarations', () => {
  const api = readFileSync(join(ROOT, 'docs', 'API.md'), 'utf8');
  const all = declarations();
  const esc = (s: string) => s.replace(/[[\].$]/g, '\\$&');
  const missing: string[] = [];
  let members = 0;
  for (const [, block] of api.matchAll(/```ts\n([\s\S]*?)```/g)) {
    // multi-line blocks only: `interface X { a: b }` on one line is a summary
    for (const [, kind, name, body] of block!.matchAll(/^(?:export )?(?:declare )?(class|interface) (\w+)[^{\n]*\{\n([\s\S]*?)^\}/gm)) {
      const bodies = [...all.matchAll(new RegExp(`(?:class|interface) ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`, 'g'))].map((x) => x[1]).join('\n');
      if (bodies === '') { missing.push(`${kind} ${name}: not declared`); continue; }
      for (const [, member] of body!.matchAll(/^\s{2}(?:readonly |get |static |set )*(\[?[\w.]+\]?)\??[(:<]/gm)) {
        if (member === 'constructor' || INHERITED.has(member!)) continue;
        members++;
        if (!new RegExp(`^\\s+(?:readonly |get |static |set |private |protected )*${esc(member!)}\\??\\s*[(:<=]`, 'm').test(bodies)) missing.push(`${name}.${member}`);
      }
    }
  }
  assert.ok(members > 150, `API.md's members were found (${members})`);
  assert.equal(missing, [], 'documented but not declared');
});

test('API.md\'s export block lists every name js/index.ts exports, and nothing else', () => {
  // (it left out metaLimits, MockCaps, PartialCreds and EmitAsyncOptions: an outside audit, stop 55)
  const names = (text: string): string[] => {
    const out: string[] = [];
    for (const [, list] of text.matchAll(/^export (?:type )?\{([^}]*)\}/gm)) for (const n of list!.split(',')) if (n.trim()) out.push(n.trim().split(/\s+as\s+/).pop()!);
    for (const [, n] of text.matchAll(/^export \* as (\w+)/gm)) out.push(n!);
    return out.sort();
  };
  const index = readFileSync(join(ROOT, 'js', 'index.ts'), 'utf8');
  const api = readFileSync(join(ROOT, 'docs', 'API.md'), 'utf8');
  const block = /```ts\n(export [\s\S]*?)```/.exec(api)![1]!;
  // (one line of the block may hold two statements: `export { Message }; export type { Timestamp }`)
  const documented = names(block.replace(/; export/g, '\nexport'));
  const exported = names(index);
  assert.ok(exported.length > 100, `js/index.ts's exports were found (${exported.length})`);
  assert.equal(documented, exported);
});

test('no declaration has a setter without its getter (half an accessor marked internal)', () => {
  // (stop 56, an outside audit: `listening`'s getter was @internal and its setter not, so the
  // package declared a write-only `set listening`, and setting it hung call())
  const lone: string[] = [];
  for (const [, body] of declarations().matchAll(/(?:class|interface) \w+[^{]*\{([\s\S]*?)\n\}/g)) {
    for (const [, name] of body!.matchAll(/^\s+(?:static )?set (\w+)\(/gm)) {
      if (!new RegExp(`^\\s+(?:static )?(?:readonly )?(?:get ${name}\\(|${name}\\??:)`, 'm').test(body!)) lone.push(name!);
    }
  }
  assert.equal(lone, [], 'setters declared without a getter');
});

test.run();
