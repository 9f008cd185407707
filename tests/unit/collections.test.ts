// The host's churn-proof collections (stop 58): LinkedSet (js/linked-set.ts: a connection's
// waiters, the reply pump's waiting calls, the parked waits' deadlines) and CookieTable
// (js/cookie-table.ts: a connection's pending calls by cookie), each driven by seeded random
// operations against a Set / Map doing the same, compared after every step: members, size,
// lookups and order (insertion order, as the Set and the Map keep it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LinkedSet, type Linked } from '../../js/linked-set.ts';
import { CookieTable } from '../../js/cookie-table.ts';
import { prng } from '../helpers/diffkit.ts';

interface Item extends Linked { readonly id: number }
const item = (id: number): Item => ({ linkPrev: null, linkNext: null, linkIn: null, id });

interface Entry { readonly cookie: number; order: number; readonly n: number }

test('LinkedSet: seeded random adds and deletes agree with a Set (members, size, order)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const r = prng(seed);
    const pool = Array.from({ length: 64 }, (_, i) => item(i));
    const ls = new LinkedSet<Item>(), ref = new Set<Item>();
    for (let step = 0; step < 4000; step++) {
      const x = r.pick(pool), op = r.int(10);
      if (op < 5) { ls.add(x); ref.add(x); }
      else if (op < 9) assert.is(ls.delete(x), ref.delete(x), `seed ${seed} step ${step}: delete`);
      else if (r.int(50) === 0) { ls.clear(); ref.clear(); }
      assert.is(ls.size, ref.size, `seed ${seed} step ${step}: size`);
      assert.is(ls.has(x), ref.has(x), `seed ${seed} step ${step}: has`);
      if (step % 97 === 0) assert.equal([...ls].map((i) => i.id), [...ref].map((i) => i.id), `seed ${seed} step ${step}: order`);
    }
    assert.equal(ls.toArray().map((i) => i.id), [...ref].map((i) => i.id), `seed ${seed}: order at the end`);
  }
});

test('LinkedSet: a member that leaves keeps no link to another (nothing it pointed at is kept alive by it)', () => {
  const ls = new LinkedSet<Item>();
  const [a, b, c] = [item(1), item(2), item(3)];
  ls.add(a).add(b).add(c);
  ls.delete(b);
  assert.equal([b.linkPrev, b.linkNext, b.linkIn], [null, null, null]);
  assert.is(a.linkNext, c);
  assert.is(c.linkPrev, a);
  ls.clear();
  for (const x of [a, c]) assert.equal([x.linkPrev, x.linkNext, x.linkIn], [null, null, null]);
  assert.is(ls.first, null);
});

test('LinkedSet: iteration skips members deleted before they are reached; an object in another set is refused', () => {
  const ls = new LinkedSet<Item>();
  const items = [1, 2, 3, 4, 5].map(item);
  for (const x of items) ls.add(x);
  const seen: number[] = [];
  for (const x of ls) {
    seen.push(x.id);
    if (x.id === 2) { ls.delete(items[3]); ls.delete(items[1]); } // (4 not reached yet; 2 itself)
  }
  assert.equal(seen, [1, 2, 3, 5]);
  const other = new LinkedSet<Item>();
  assert.throws(() => other.add(items[0]), /another/);
  assert.is(other.size, 0);
  assert.is(ls.has(items[0]), true);
});

test('CookieTable: seeded random sets, deletes and lookups agree with a Map (entries, size, insertion order)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const r = prng(seed);
    // cookies as calls take them (consecutive, wrapping at 2^32 to 2^31), a few far apart
    // (the high word of a 64-bit cookie_reply read from a message), and some that collide
    const keys: number[] = [];
    for (let i = 0; i < 40; i++) keys.push(1 + i, 0xfffffff0 + i, 0x80000000 + i * 64);
    keys.push(2 ** 52 + 7, 2 ** 40, 4294967296 * 3 + 1, 4294967296 * 5 + 1);
    const t = new CookieTable<Entry>(), ref = new Map<number, Entry>();
    for (let step = 0; step < 6000; step++) {
      const k = r.pick(keys), op = r.int(10);
      if (op < 5) {
        const e: Entry = { cookie: k, order: 0, n: step };
        t.set(e);
        ref.delete(k); // (a Map keeps a replaced key's first place; the table stamps it anew: calls never replace)
        ref.set(k, e);
      } else if (op < 9) assert.is(t.delete(k), ref.delete(k), `seed ${seed} step ${step}: delete ${k}`);
      else if (r.int(80) === 0) { t.clear(); ref.clear(); }
      assert.is(t.size, ref.size, `seed ${seed} step ${step}: size`);
      assert.is(t.get(k), ref.get(k), `seed ${seed} step ${step}: get ${k}`);
      assert.is(t.has(k + 0.5), false);
      if (step % 101 === 0) {
        assert.equal(t.values().map((e) => e.n), [...ref.values()].map((e) => e.n), `seed ${seed} step ${step}: order`);
        assert.is(t.unordered.filter((e) => e !== null).length, ref.size);
      }
    }
    for (const k of keys) assert.is(t.get(k), ref.get(k), `seed ${seed}: get ${k} at the end`);
  }
});

test('CookieTable: grows past its first capacity and keeps every entry; a delete that empties it finds nothing after', () => {
  const t = new CookieTable<Entry>();
  for (let c = 1; c <= 1000; c++) t.set({ cookie: c, order: 0, n: c });
  assert.is(t.size, 1000);
  for (let c = 1; c <= 1000; c++) assert.is(t.get(c)?.n, c);
  for (let c = 1; c <= 1000; c += 2) assert.ok(t.delete(c));
  for (let c = 1; c <= 1000; c++) assert.is(t.has(c), c % 2 === 0, `cookie ${c}`);
  assert.equal(t.values().map((e) => e.n).slice(0, 3), [2, 4, 6]);
  for (let c = 2; c <= 1000; c += 2) assert.ok(t.delete(c));
  assert.is(t.size, 0);
  assert.is(t.get(500), undefined);
  assert.is(t.delete(500), false);
});

test.run();
