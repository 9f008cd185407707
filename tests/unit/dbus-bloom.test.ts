// Bloom filters and masks (js/dbus/bloom.ts): byte for byte against sd-bus's own code, the
// element strings, the bus's check with generations, and a seeded property test: every signal
// that matches a rule passes that rule's mask.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Bloom, ElementList, BLOOM_DEFAULT, bloomParamsError, prefixes, signalElements, signalFilter, ruleElements,
  ruleMask, bloomCheck, parseMatch, matchesRule, BusErrorLike, type DBusHeader, type MatchRule, type ParsedMatchRule,
} from './dbus-helpers.ts';
import { signalFilterOfMessage } from '../../js/dbus/bloom.ts';
import { encodeMessage } from '../../js/dbus/header.ts';
import { parseSignature } from '../../js/dbus/signature.ts';

// Reference filters and masks computed by sd-bus's own bloom code: bloom_add_data,
// bloom_add_pair and bloom_add_prefixes of systemd's src/libsystemd/sd-bus/bus-bloom.c (v225+)
// and add_bloom_arg / add_bloom_arg_has of bus-kernel.c, compiled with a separately written
// SipHash-2-4 and driven the way bus_message_setup_bloom and bus_add_match_internal_kernel
// drive them (F3 with the intended argument rule: every leading string argument).
const SD = {
  // NameOwnerChanged, arg0 'org.example.Name' (64 bytes, 8 hashes)
  F1:
    '02100808044029681800648454115120148480e008180322e4898020700458825621010a8a2d2121200006084400089b' +
    '352008451e4003820028100600404039',
  // org.example.Foo.Changed at /org/example/Obj, args (as ['x','yy','/z/w'], o '/org/b')
  F2:
    '002280000022610490003e466210110072860858088a1b504002290140088098fe8b0294820528252060d00004210090' +
    '10900ca59022318801152c523e080482',
  // org.example.Foo.Changed at /, args (s 'a.b.c', s 'héllo', g '/p/q')
  F3:
    'e8848061c0812383a402000042760700b1841a08092988910014cb0620dc8298360c052b601438e7e66458200b401090' +
    '1452088412000918080004c16c120400',
  // org.example.Foo.Changed at /a, arg0 'org.example.Name', 8 bytes 1 hash / 256 bytes 5 hashes
  F4: '40a001c500983000',
  F5:
    '000000000000000000000000100000400400008000000000800000000000081000000000000008000000020000000001' +
    '000008800000000200000000000000010000000000000800080020004010000000040000000000200000080000000088' +
    '000100000804040000000000000000001010040400400002000000000000400000000000000000008000000000000100' +
    '000000000811001000800000000000000000000000080000000002080000008000000000000002000000000200000010' +
    '000000000000000000000000000000001000000000080000000800001000800002000000000001000000000040000048' +
    '20000000000000020028000008000000',
  // the same, 4096 bytes and 32 hashes: 415 bits set, the first 16 of them
  F6_BITS: 415,
  F6_FIRST: [69, 114, 194, 229, 285, 338, 346, 386, 420, 498, 520, 701, 725, 727, 730, 763],
  // the mask of "type='signal',interface='org.example.Foo',member='Changed',
  // path_namespace='/org/example',arg0='x',arg1has='yy',arg2namespace='a.b'"
  M1:
    '100000010000000080008803411000003004000020041810000008000080801820000000100028254020210080200080' +
    '1890008000400008000404004d000402',
};

const hex = (u: Uint8Array) => Array.from(u, (b) => b.toString(16).padStart(2, '0')).join('');
const signal = (iface: string, member: string, path: string, signature: string): DBusHeader =>
  ({ type: 'signal', serial: 1, interface: iface, member, path, signature });

test('filters equal sd-bus bloom code byte for byte (64/8, 8/1, 256/5, 4096/32)', () => {
  assert.is(hex(signalFilter(signal('org.freedesktop.DBus', 'NameOwnerChanged', '/org/freedesktop/DBus', 's'), ['org.example.Name'])), SD.F1);
  assert.is(hex(signalFilter(signal('org.example.Foo', 'Changed', '/org/example/Obj', 'aso'), [['x', 'yy', '/z/w'], '/org/b'])), SD.F2);
  assert.is(hex(signalFilter(signal('org.example.Foo', 'Changed', '/', 'ssg'), ['a.b.c', 'héllo', '/p/q'])), SD.F3);
  const h = signal('org.example.Foo', 'Changed', '/a', 's');
  assert.is(hex(signalFilter(h, ['org.example.Name'], { size: 8, nHash: 1 })), SD.F4);
  assert.is(hex(signalFilter(h, ['org.example.Name'], { size: 256, nHash: 5 })), SD.F5);
  const f6 = signalFilter(h, ['org.example.Name'], { size: 4096, nHash: 32 });
  const bits: number[] = [];
  for (let i = 0; i < f6.length * 8; i++) if (f6[i >> 3] & (1 << (i & 7))) bits.push(i);
  assert.is(bits.length, SD.F6_BITS);
  assert.equal(bits.slice(0, 16), SD.F6_FIRST);
  assert.is(BLOOM_DEFAULT.size, 64);
  assert.is(BLOOM_DEFAULT.nHash, 8);
});

/** emit's filter: computed from the encoded message (signalFilterOfMessage), not from the values */
const ofMessage = (h: DBusHeader, body: unknown[], params = BLOOM_DEFAULT): Uint8Array => {
  const out = new Uint8Array(params.size);
  signalFilterOfMessage(h, parseSignature(h.signature ?? ''), encodeMessage(h, body), params, out);
  return out;
};

test('a filter computed from the encoded message equals sd-bus, and signalFilter, for seeded random signals', () => {
  // (emit computes its filter from the bytes it sends since stop 54, so that a getter in the
  // body cannot make the filter disagree with them)
  assert.is(hex(ofMessage(signal('org.freedesktop.DBus', 'NameOwnerChanged', '/org/freedesktop/DBus', 's'), ['org.example.Name'])), SD.F1);
  assert.is(hex(ofMessage(signal('org.example.Foo', 'Changed', '/org/example/Obj', 'aso'), [['x', 'yy', '/z/w'], '/org/b'])), SD.F2);
  // (F3's 'g' argument, '/p/q', is no valid signature: the codec refuses it, so no message has it)
  assert.is(hex(ofMessage(signal('org.example.Foo', 'Changed', '/a', 's'), ['org.example.Name'], { size: 8, nHash: 1 })), SD.F4);
  let x = 0x2545f491;
  const rnd = (n: number) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n; };
  const words = ['a', 'a.b', 'org.example.Name', '/', '/p/q/', 'héllo.wörld', '', 'x'.repeat(300), '/org/freedesktop/DBus'];
  const str = () => words[rnd(words.length)]!;
  const path = () => ['/', '/a', '/a/b', '/org/example/Obj'][rnd(4)]!;
  const sig = () => ['', 'g', 'i', 'ai', 'y'][rnd(5)]!;
  const kinds: [string, () => unknown][] = [
    ['s', str], ['o', path], ['g', sig], ['as', () => Array.from({ length: rnd(4) }, str)], ['ao', () => Array.from({ length: rnd(3) }, path)],
    ['ag', () => Array.from({ length: rnd(3) }, sig)], ['i', () => rnd(1000)], ['ay', () => new Uint8Array(rnd(9))], ['(si)', () => [str(), 1]], ['v', () => ({ signature: 's', value: 'v' })],
  ];
  for (let k = 0; k < 400; k++) {
    const n = rnd(6), types: string[] = [], body: unknown[] = [];
    for (let i = 0; i < n; i++) { const [t, v] = kinds[rnd(kinds.length)]!; types.push(t); body.push(v()); }
    const h = signal('org.example.I' + rnd(3), 'M', path(), types.join(''));
    const params = [BLOOM_DEFAULT, { size: 8, nHash: 1 }, { size: 256, nHash: 5 }][rnd(3)]!;
    assert.is(hex(ofMessage(h, body, params)), hex(signalFilter(h, body, params)), `signal ${k}: ${types.join('')} ${JSON.stringify(body)}`);
  }
});

test('a filter built from inside another one (a body value\'s getter) leaves the outer one whole', () => {
  // (both used one cached Bloom: the outer filter then held the inner one's bits, and missed
  // its own subscribers; an outside audit, stop 54)
  const h = signal('org.example.Outer', 'M', '/o', 'ss');
  const plain = hex(signalFilter(h, ['a.b', 'c']));
  const body = ['a.b', 'c'];
  let inner = '';
  Object.defineProperty(body, 1, { get() { if (inner === '') inner = hex(signalFilter(signal('org.example.Inner', 'N', '/i', 's'), ['z'])); return 'c'; } });
  assert.is(hex(signalFilter(h, body)), plain);
  assert.is(inner, hex(signalFilter(signal('org.example.Inner', 'N', '/i', 's'), ['z'])));
});

test('a mask equals sd-bus (bus_add_match_internal_kernel) byte for byte', () => {
  const rule = parseMatch("type='signal',interface='org.example.Foo',member='Changed',path_namespace='/org/example',arg0='x',arg1has='yy',arg2namespace='a.b'");
  assert.is(hex(ruleMask(rule)), SD.M1);
});

test('element strings of a signal and of a rule (KDBUS.md)', () => {
  const el = new ElementList();
  signalElements(signal('org.ex.Foo', 'Changed', '/a/b', 'sasoi'), ['org.ex.Name', ['p', 'q'], '/x/y', 7], el);
  assert.equal(el.elements, [
    'message-type:signal', 'interface:org.ex.Foo', 'member:Changed', 'path:/a/b',
    'path-slash-prefix:/a/b', 'path-slash-prefix:/a/', 'path-slash-prefix:/a', 'path-slash-prefix:/',
    'arg0:org.ex.Name',
    'arg0-dot-prefix:org.ex.Name', 'arg0-dot-prefix:org.ex.', 'arg0-dot-prefix:org.ex', 'arg0-dot-prefix:org.', 'arg0-dot-prefix:org',
    'arg0-slash-prefix:org.ex.Name',
    'arg1-has:p', 'arg1-has:q',
    'arg2:/x/y', 'arg2-dot-prefix:/x/y', 'arg2-slash-prefix:/x/y', 'arg2-slash-prefix:/x/', 'arg2-slash-prefix:/x', 'arg2-slash-prefix:/',
  ]);
  const rl = new ElementList();
  ruleElements(parseMatch("type='signal',sender=':1.4',path='/a',arg0path='/x/',arg1='v',arg2has='w',arg3namespace='org.ex',destination=':1.9'"), rl);
  assert.equal(rl.elements, ['message-type:signal', 'path:/a', 'arg1:v', 'arg2-has:w', 'arg3-dot-prefix:org.ex']);
  assert.equal(prefixes('/a/b', '/'), ['/a/b', '/a/', '/a', '/']);
  assert.equal(prefixes('org.ex.Foo', '.'), ['org.ex.Foo', 'org.ex.', 'org.ex', 'org.', 'org']);
  assert.equal(prefixes('/', '/'), ['/', '/']);
  assert.equal(prefixes('abc', '.'), ['abc']);
  // the same elements hashed one by one give the same filter
  const b = new Bloom();
  for (const e of el.elements) b.add(e);
  assert.is(hex(b.data), hex(signalFilter(signal('org.ex.Foo', 'Changed', '/a/b', 'sasoi'), ['org.ex.Name', ['p', 'q'], '/x/y', 7])));
});

test('a filter can be built in place in a caller-supplied view (e.g. shared memory)', () => {
  const mem = new Uint8Array(new SharedArrayBuffer(256));
  const view = mem.subarray(64, 128);
  view.fill(0xff);
  const f = signalFilter(signal('org.ex.Foo', 'M', '/', ''), [], BLOOM_DEFAULT, view);
  assert.is(f, view);
  assert.is(hex(f), hex(signalFilter(signal('org.ex.Foo', 'M', '/', ''), [])));
  assert.is(mem[63], 0);
  assert.is(mem[128], 0);
});

test('bloom parameters: kdbus bounds and sd-bus k * w <= 64', () => {
  assert.is(bloomParamsError({ size: 64, nHash: 8 }), null);
  assert.is(bloomParamsError({ size: 8, nHash: 64 }), null, 'w = 1: 64 hashes fit');
  assert.ok(bloomParamsError({ size: 8, nHash: 65 })!.includes('hash bytes'));
  assert.is(bloomParamsError({ size: 4096, nHash: 32 }), null);
  assert.ok(bloomParamsError({ size: 4096, nHash: 33 })!.includes('hash bytes'));
  assert.ok(bloomParamsError({ size: 12, nHash: 1 })!.includes('multiple of 8'));
  assert.ok(bloomParamsError({ size: 4104, nHash: 1 })!.includes('8..4096'));
  assert.ok(bloomParamsError({ size: 64, nHash: 0 })!.includes('nHash'));
  BusErrorLike(() => new Bloom({ size: 0, nHash: 1 }), 'EINVAL', /bloom size/);
  BusErrorLike(() => new Bloom({ size: 64, nHash: 8 }, new Uint8Array(32)), 'EINVAL', /must be 64 bytes/);
});

test('bloomCheck: filter & mask == mask; generations pick mask[min(gen, n - 1)]; EDOM', () => {
  const f = new Uint8Array(8), m0 = new Uint8Array(8);
  f[0] = 0b1011; m0[0] = 0b0011;
  assert.ok(bloomCheck(f, 0, m0));
  m0[7] = 0x80;
  assert.not.ok(bloomCheck(f, 0, m0), 'a bit in the high word missing');
  f[7] = 0x80;
  assert.ok(bloomCheck(f, 0, m0));
  assert.ok(bloomCheck(f, 0, new Uint8Array(8)), 'an all-zero mask matches everything');
  // three generations: gen 0 fails, gen 1 passes, gen 2 fails; later generations use the last
  const masks = new Uint8Array(24);
  masks[0] = 0x40; masks[8] = 0x01; masks[16] = 0x04;
  assert.not.ok(bloomCheck(f, 0, masks));
  assert.ok(bloomCheck(f, 1, masks));
  assert.not.ok(bloomCheck(f, 2, masks));
  assert.not.ok(bloomCheck(f, 99, masks));
  assert.not.ok(bloomCheck(f, 2n ** 64n - 1n, masks));
  masks[16] = 0x02;
  assert.ok(bloomCheck(f, 7n, masks));
  BusErrorLike(() => bloomCheck(f, 0, new Uint8Array(0)), 'EDOM', /non-zero multiple/);
  BusErrorLike(() => bloomCheck(f, 0, new Uint8Array(12)), 'EDOM', /non-zero multiple/);
  BusErrorLike(() => bloomCheck(new Uint8Array(6), 0, new Uint8Array(12)), 'EDOM', /multiple of 8/);
  // ruleMask with generations: identical blocks
  const mm = ruleMask(parseMatch("member='M'"), BLOOM_DEFAULT, 3);
  assert.is(mm.length, 192);
  assert.is(hex(mm.subarray(0, 64)), hex(mm.subarray(128, 192)));
  assert.is(hex(ruleMask(parseMatch("sender=':1.2',arg0path='/a/'"))), '00'.repeat(64), 'no bloom part: all zero');
});

// ---- property test -------------------------------------------------------------------------

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  return { int: (n: number) => next() % n, pick: <T>(a: readonly T[]) => a[next() % a.length], chance: (p: number) => next() / 4294967296 < p };
}

const SEGS = ['org', 'example', 'Foo', 'a', 'b', 'x1', 'Obj', 'é'];
const NAMES = ['org.example', 'org.example.Foo', 'org.ex', 'a.b', 'a.b.c', 'com.x.Y'];
const MEMBERS = ['Changed', 'Ping', 'NameOwnerChanged', 'M'];

function randomSignal(r: ReturnType<typeof prng>): { h: DBusHeader; body: unknown[] } {
  const segs = (n: number) => Array.from({ length: n }, () => r.pick(SEGS.slice(0, 7)));
  const path = r.chance(0.1) ? '/' : '/' + segs(1 + r.int(3)).join('/');
  const types = ['s', 's', 'o', 'g', 'as', 'ao', 'i', 'ay'];
  let sig = '';
  const body: unknown[] = [];
  const nArgs = r.int(6);
  for (let i = 0; i < nArgs; i++) {
    const t = r.pick(types);
    sig += t;
    if (t === 's') body.push(r.chance(0.5) ? r.pick(NAMES) : r.pick(SEGS) + (r.chance(0.3) ? '.' + r.pick(SEGS) : ''));
    else if (t === 'o') body.push('/' + segs(1 + r.int(2)).join('/'));
    else if (t === 'g') body.push(r.pick(['', 's', 'a{sv}', '(ii)']));
    else if (t === 'as') body.push(Array.from({ length: r.int(4) }, () => r.pick(NAMES)));
    else if (t === 'ao') body.push(Array.from({ length: r.int(3) }, () => '/' + segs(1 + r.int(2)).join('/')));
    else if (t === 'i') body.push(r.int(100));
    else body.push(new Uint8Array(r.int(4)));
  }
  return { h: { type: 'signal', serial: 1 + r.int(1000), path, interface: r.pick(NAMES.filter((n) => n.includes('.'))), member: r.pick(MEMBERS), signature: sig }, body };
}

// a rule built from the signal (so that many match), some parts changed at random
function randomRule(r: ReturnType<typeof prng>, h: DBusHeader, body: unknown[]): string {
  const parts: string[] = [];
  const q = (v: string) => "'" + v.split("'").join("'\\''") + "'";
  if (r.chance(0.5)) parts.push(`type=${q(r.chance(0.9) ? 'signal' : 'method_call')}`);
  if (r.chance(0.4)) parts.push(`interface=${q(r.chance(0.8) ? h.interface! : 'org.other.If')}`);
  if (r.chance(0.4)) parts.push(`member=${q(r.chance(0.8) ? h.member! : 'Other')}`);
  if (r.chance(0.2)) parts.push(`path=${q(r.chance(0.8) ? h.path! : '/zz')}`);
  else if (r.chance(0.3)) {
    const p = h.path!.split('/').slice(0, 1 + r.int(3)).join('/') || '/';
    parts.push(`path_namespace=${q(r.chance(0.85) ? p : '/org/ex')}`);
  }
  if (r.chance(0.2)) parts.push(`sender=${q(':1.' + (1 + r.int(3)))}`);
  const used = new Set<string>();
  for (let k = r.int(4); k > 0; k--) {
    const n = r.int(6);
    const arg = body[n];
    const kind = r.pick(['', '', 'has', 'namespace', 'path']);
    const key = `arg${n}${kind}`;
    if (used.has(key)) continue;
    used.add(key);
    let v: string;
    if (kind === 'has') v = Array.isArray(arg) && arg.length > 0 && r.chance(0.8) ? r.pick(arg as string[]) : r.pick(NAMES);
    else if (kind === 'namespace') {
      const s = typeof arg === 'string' && /^[A-Za-z_][A-Za-z0-9_.]*$/.test(arg) && !arg.endsWith('.') && !arg.includes('..') ? arg : 'org.example';
      v = r.chance(0.8) ? s.split('.').slice(0, 1 + r.int(3)).join('.') : 'org';
    } else v = typeof arg === 'string' && r.chance(0.8) ? arg : r.pick(NAMES);
    parts.push(`${key}=${q(v)}`);
  }
  return parts.join(',');
}

// the leading arguments that go into a filter: strings, object paths, signatures and arrays of them
function leadingRun(sig: string): number {
  const types = sig.match(/a?[a-z]/g) ?? [];
  let n = 0;
  for (const t of types) {
    if (['s', 'o', 'g', 'as', 'ao', 'ag'].includes(t)) n++;
    else break;
  }
  return n;
}

test('property: every signal that matches a rule passes its mask (seeded, 3 seeds x 3000 pairs)', () => {
  for (const seed of [1, 2, 3]) {
    const r = prng(seed);
    let matched = 0, beyond = 0, falsePositives = 0, rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const { h, body } = randomSignal(r);
      const sender = ':1.' + (1 + r.int(3));
      const hs = { ...h, sender };
      const src = randomRule(r, h, body);
      let rule: ParsedMatchRule;
      try { rule = parseMatch(src); } catch { continue; }
      const filter = signalFilter(hs, body);
      const mask = ruleMask(rule);
      const passes = bloomCheck(filter, 0, mask);
      const run = leadingRun(h.signature!);
      if (rule.args.some((a) => a.n >= run && a.kind !== 'path')) { beyond++; continue; }
      if (matchesRule(rule, hs, body)) {
        matched++;
        if (!passes) assert.unreachable(`seed ${seed} case ${i}: ${src} matches ${JSON.stringify(h)} ${JSON.stringify(body)} but fails its mask`);
      } else if (passes) falsePositives++;
      else rejected++;
    }
    assert.ok(matched > 300, `seed ${seed}: enough matching pairs (${matched})`);
    assert.ok(rejected > 300, `seed ${seed}: enough rejected pairs (${rejected})`);
    assert.ok(beyond > 0);
    void falsePositives;
  }
});

test('known limit: an argument after the leading string arguments is not in the filter', () => {
  // arg2 follows an int: matchesRule accepts, the bloom filter cannot (sd-bus's design)
  const h = signal('a.b', 'M', '/', 'sis');
  const rule = parseMatch("arg2='z'");
  assert.ok(matchesRule(rule, h, ['x', 1, 'z']));
  assert.not.ok(bloomCheck(signalFilter(h, ['x', 1, 'z']), 0, ruleMask(rule)));
  // and after a plain string the intended rule goes on (shipped sd-bus stopped here)
  const h2 = signal('a.b', 'M', '/', 'ss');
  assert.ok(bloomCheck(signalFilter(h2, ['x', 'z']), 0, ruleMask(parseMatch("arg1='z'"))));
});

test('signalFilter keeps the last header\'s bits: interleaved signals get the filters of fresh Blooms', () => {
  const fresh = (h: DBusHeader, body: unknown[]) => { const b = new Bloom(); signalElements(h, body, b); return [...b.data]; };
  const hs: [DBusHeader, unknown[]][] = [
    [signal('org.example.Foo', 'Changed', '/org/example/Obj', 'ss'), ['x', 'y.z']],
    [signal('org.example.Foo', 'Changed', '/org/example/Obj', 'ss'), ['other', '/p/q']],
    [signal('org.example.Foo', 'Gone', '/org/example/Obj', ''), []],
    [signal('org.example.Bar', 'Changed', '/', 's'), ['x']],
    [signal('org.example.Foo', 'Changed', '/org/example', 'ss'), ['x', 'y.z']],
  ];
  let seed = 7;
  for (let k = 0; k < 200; k++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const [h, body] = hs[seed % hs.length];
    assert.equal([...signalFilter(h, body)], fresh(h, body), `step ${k}`);
    const into = new Uint8Array(8);
    assert.equal([...signalFilter(h, body, { size: 8, nHash: 1 }, into)], (() => { const b = new Bloom({ size: 8, nHash: 1 }); signalElements(h, body, b); return [...b.data]; })(), `step ${k}, 8 bytes`);
  }
});

// (an outside audit, stop 35: a number in a string argument's place sent signalFilter into an
// endless loop; ruleMask took a match string as an empty rule, an all-zero mask that passes
// every filter; formatMatch wrote rules parseMatch then refused)
test('the helpers check their arguments: EINVAL, never a hang or a TypeError', () => {
  const h: DBusHeader = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 's' };
  for (const v of [5, null, {}, true]) {
    BusErrorLike(() => signalFilter(h, [v]), 'EINVAL', /arg0 \(type 's'\) must be a string/);
    BusErrorLike(() => signalElements(h, [v], new ElementList()), 'EINVAL', /arg0 \(type 's'\) must be a string/);
  }
  BusErrorLike(() => signalFilter({ ...h, signature: 'as' }, [5]), 'EINVAL', /arg0 \(type 'as'\) must be an array of strings/);
  BusErrorLike(() => signalFilter({ ...h, signature: 'as' }, [['x', 5]]), 'EINVAL', /arg0\[1\] must be a string/);
  BusErrorLike(() => signalFilter({ ...h, signature: 'o' }, [5]), 'EINVAL', /arg0 \(type 'o'\)/);
  BusErrorLike(() => signalFilter(h, 'x' as never), 'EINVAL', /body must be an array/);
  BusErrorLike(() => signalFilter({ ...h, member: 5 } as never, ['x']), 'EINVAL', /header.member must be a string/);
  BusErrorLike(() => new Bloom().addPrefixes('arg0', 5 as never, '.'), 'EINVAL', /value must be a string/);
  BusErrorLike(() => new Bloom().addPrefixes('arg0', 'a.b', '' as never), 'EINVAL', /sep must be one ASCII character/);
  BusErrorLike(() => new Bloom().add(7 as never), 'EINVAL', /element must be a string/);
  BusErrorLike(() => prefixes(5 as never, '.'), 'EINVAL', /value must be a string/);
  assert.equal(prefixes('a.b', '.'), ['a.b', 'a.', 'a']);
  // a match string is read as the rule it writes; an invalid rule is refused
  assert.equal([...ruleMask("member='M'")], [...ruleMask(parseMatch("member='M'"))]);
  assert.ok(ruleMask("member='M'").some((x) => x !== 0), 'not the all-zero mask');
  BusErrorLike(() => ruleMask({ path: 'bad' } as never), 'EINVAL', /^ruleMask: EINVAL: invalid path "bad"/);
  BusErrorLike(() => ruleMask({ foo: 1 } as never), 'EINVAL', /unknown MatchRule key "foo"/);
  BusErrorLike(() => ruleMask(parseMatch("member='M'"), BLOOM_DEFAULT, '2' as never), 'EINVAL', /generations must be an integer >= 1 whose mask .* got string/);
  // (stop 56, an outside audit: 2^32 generations threw a RangeError, 2^26 made 4 GiB)
  BusErrorLike(() => ruleMask("member='M'", BLOOM_DEFAULT, 2 ** 32), 'EINVAL', /fits a command \(32768 bytes; a match of this bus holds 2\), got 4294967296/);
  assert.is(ruleMask("member='M'", BLOOM_DEFAULT, 512).length, 32768, 'the largest mask a command carries');
  BusErrorLike(() => ruleMask("member='M'", BLOOM_DEFAULT, 513), 'EINVAL', /fits a command/);
  // the bus's own { size, hashes } (bus.bloom) is taken as { size, nHash } (it was refused:
  // "bloom nHash must be an integer >= 1, got undefined")
  const hdr: DBusHeader = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 's' };
  for (const [size, n] of [[64, 8], [128, 3], [8, 1]] as const) {
    assert.equal([...signalFilter(hdr, ['x'], { size, hashes: n })], [...signalFilter(hdr, ['x'], { size, nHash: n })]);
    assert.equal([...ruleMask("member='M'", { size, hashes: n }, 2)], [...ruleMask("member='M'", { size, nHash: n }, 2)]);
    assert.equal([...new Bloom({ size, hashes: n }).add('a:b').data], [...new Bloom({ size, nHash: n }).add('a:b').data]);
  }
  BusErrorLike(() => new Bloom({ size: 64, hashes: 0 }), 'EINVAL', /^Bloom: EINVAL: bloom hashes must be an integer >= 1, got 0$/);
  BusErrorLike(() => new Bloom({ size: 64, hashes: 40 }), 'EINVAL', /bloom hashes 40 needs more than the 64 hash bytes/);
  BusErrorLike(() => new Bloom({ size: 64, nHash: 8, hashes: 4 } as never), 'EINVAL', /bloom nHash and hashes name one count and differ \(8, 4\): give one/);
  BusErrorLike(() => new Bloom({ size: '64', nHash: 8 } as never), 'EINVAL', /bloom size must be .*, got string "64"$/);
  // each key read once: a getter's second answer is never used (stop 56, a second look: a size
  // checked as 64 and read again as 12 made a 12-byte Bloom, a hash count of 1000 a TypeError)
  const flip = (first: number, then: number) => { let n = 0; return () => (n++ === 0 ? first : then); };
  const sizeFlip = { get size() { return this.s(); }, s: flip(64, 12), hashes: 8 };
  assert.is(new Bloom(sizeFlip as never).data.length, 64);
  const sz = flip(64, 4);
  assert.is(ruleMask("member='M'", { get size() { return sz(); }, nHash: 8 } as never).length, 64);
  const hashFlip = { size: 64, get hashes() { return hf(); } };
  const hf = flip(8, 1000);
  assert.equal([...new Bloom(hashFlip as never).add('a:b').data], [...new Bloom({ size: 64, nHash: 8 }).add('a:b').data]);
  // undefined is absent; NaN is no count however given; ops name the helper called
  assert.is(bloomParamsError({ size: 64, nHash: 8, hashes: undefined } as never), null);
  assert.match(bloomParamsError({ size: 64, nHash: NaN, hashes: NaN } as never)!, /^bloom nHash must be an integer >= 1, got NaN$/);
  BusErrorLike(() => ruleMask("member='M'", { size: 12, nHash: 8 }), 'EINVAL', /^ruleMask: EINVAL: bloom size must be/);
  BusErrorLike(() => signalFilter(hdr, ['x'], BLOOM_DEFAULT, new Uint8Array(8)), 'EINVAL', /^signalFilter: EINVAL: into must be 64 bytes/);
  BusErrorLike(() => ruleMask("member='M'", null as never), 'EINVAL', /got null$/);
  // the target is a Uint8Array (stop 56, a second look: a Float64Array took a byte per element
  // past the filter, a plain object with a length was written into, null was a TypeError)
  for (const bad of [null, new Array(64), { length: 64 }, new Float64Array(64), new Uint16Array(64)]) {
    BusErrorLike(() => signalFilter(hdr, ['x'], BLOOM_DEFAULT, bad as never), 'EINVAL', /^signalFilter: EINVAL: into must be a Uint8Array/);
    BusErrorLike(() => new Bloom(BLOOM_DEFAULT, bad as never), 'EINVAL', /^Bloom: EINVAL: data must be a Uint8Array/);
  }
  BusErrorLike(() => ruleElements(5 as never, new ElementList()), 'EINVAL', /rule must be a match string or a MatchRule/);
});

// (an outside audit, stop 41: a filter was built for a body that lacks its argument, and a null
// sink was a TypeError)
test('signalFilter, signalElements, ruleElements, bloomCheck check their arguments: EINVAL naming the rule', () => {
  const h: DBusHeader = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 's' };
  BusErrorLike(() => signalFilter(h, []), 'EINVAL', /^signalFilter: EINVAL: the body has 0 values and its signature "s" 1 complete types/);
  BusErrorLike(() => signalFilter(h, ['x', 'y']), 'EINVAL', /^signalFilter: EINVAL: the body has 2 values/);
  BusErrorLike(() => signalFilter(h, ['x'], null as never), 'EINVAL', /^signalFilter: EINVAL: bloom parameters must be an object/);
  BusErrorLike(() => signalElements(h, [], new ElementList()), 'EINVAL', /^signalElements: EINVAL: the body has 0 values/);
  BusErrorLike(() => signalElements(h, ['x'], null as never), 'EINVAL', /^signalElements: EINVAL: sink must be an ElementSink/);
  BusErrorLike(() => ruleElements("member='M'", null as never), 'EINVAL', /^ruleElements: EINVAL: sink must be an ElementSink/);
  BusErrorLike(() => ruleElements("member='M'", { addPair() {} } as never), 'EINVAL', /^ruleElements: EINVAL: sink must be an ElementSink/);
  BusErrorLike(() => bloomCheck([0] as never, 0, new Uint8Array(8)), 'EINVAL', /^bloomCheck: EINVAL: filter must be a Uint8Array, got array/);
  BusErrorLike(() => bloomCheck(new Uint8Array(8), 0, 'x' as never), 'EINVAL', /^bloomCheck: EINVAL: masks must be a Uint8Array, got string/);
  BusErrorLike(() => bloomCheck(new Uint8Array(8), -1, new Uint8Array(8)), 'EINVAL', /^bloomCheck: EINVAL: generation must be an integer 0\.\.2\^64-1/);
  assert.ok(bloomCheck(new Uint8Array(8), 2n ** 64n - 1n, new Uint8Array(8)));
  const list = new ElementList();
  signalElements(h, ['x'], list);
  assert.ok(list.elements.includes('arg0:x'));
});

test.run();
