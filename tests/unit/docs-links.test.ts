// Every link between the README and docs/*.md that names a heading (`file.md#anchor` or
// `#anchor`) finds that heading, by GitHub's rule for anchors (lower case, punctuation dropped,
// spaces to '-', a repeated heading suffixed -1, -2, ...). The docs link by anchor a great
// deal (the BENCHMARKS sections per stop, API.md's sections), and a heading reworded without
// its links breaks them silently.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's anchor of a heading's text */
const slug = (h: string) => h.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

/** the anchors of a Markdown file's headings (outside code blocks) */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>(), out = new Set<string>();
  let code = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) code = !code;
    const m = code ? null : /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    let s = slug(m[1]!);
    const n = seen.get(s);
    seen.set(s, n === undefined ? 0 : n + 1);
    if (n !== undefined) s = `${s}-${n + 1}`;
    out.add(s);
  }
  return out;
}

test('every link to a heading of the README or docs/*.md finds it', () => {
  const texts = new Map(FILES.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
  const anchors = new Map([...texts].map(([f, t]) => [f, anchorsOf(t)]));
  const broken: string[] = [];
  let links = 0;
  for (const [f, text] of texts) {
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path, frag] = target!.split('#');
      if (frag === undefined) continue;
      const file = path === '' ? f : join(dirname(f), path!);
      const set = anchors.get(file);
      if (set === undefined) continue; // (a source file, not a page)
      links++;
      if (!set.has(frag)) broken.push(`${f}: ${target}`);
    }
  }
  assert.ok(links > 100, `links were found (${links})`);
  assert.equal(broken, []);
});

test.run();
