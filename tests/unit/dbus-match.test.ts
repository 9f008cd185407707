// Match strings (js/dbus/match.ts): the D-Bus specification's quoting, the errors, formatting
// back, and matchesRule's re-check of header fields and arguments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMatch, formatMatch, matchesRule, BusErrorLike, type DBusHeader } from './dbus-helpers.ts';

test('parses keys and values; spaces before keys; empty string matches everything', () => {
  const r = parseMatch("type='signal', interface='org.example.Foo',member='Changed',path_namespace='/org/example',arg0='x',arg3path='/a/',arg1has=y,arg2namespace='org.ex',sender=':1.4',destination='org.ex.Svc'");
  assert.equal(r, {
    type: 'signal', interface: 'org.example.Foo', member: 'Changed', pathNamespace: '/org/example', sender: ':1.4', destination: 'org.ex.Svc',
    args: [{ n: 0, kind: 'string', value: 'x' }, { n: 3, kind: 'path', value: '/a/' }, { n: 1, kind: 'has', value: 'y' }, { n: 2, kind: 'namespace', value: 'org.ex' }],
  });
  assert.equal(parseMatch(''), { args: [] });
  assert.equal(parseMatch("member='M',"), { member: 'M', args: [] }, 'a trailing comma');
  assert.equal(parseMatch('arg63=x').args, [{ n: 63, kind: 'string', value: 'x' }]);
  assert.equal(parseMatch("arg0=''").args[0].value, '');
});

test('quoting as the D-Bus specification spells it', () => {
  // both rules of the specification's example mean: ', \, the comma, and two backslashes
  const want = ["'", '\\', ',', '\\\\'];
  assert.equal(parseMatch("arg0=''\\''',arg1='\\',arg2=',',arg3='\\\\'").args.map((a) => a.value), want);
  assert.equal(parseMatch("arg0=\\',arg1=\\,arg2=',',arg3=\\\\").args.map((a) => a.value), want);
  assert.equal(parseMatch("arg0='don'\\''t'").args[0].value, "don't");
  assert.equal(parseMatch("arg0='a'b'c'").args[0].value, 'abc', 'quoted and unquoted parts concatenate');
  // formatMatch quotes every value and parseMatch reads it back
  const src = "type='signal',sender='org.ex.Svc',path='/a',arg0='it'\\''s, ok',arg5has='\\',arg7namespace='a.b'";
  const r = parseMatch(src);
  assert.is(formatMatch(r), src);
  assert.equal(parseMatch(formatMatch(r)), r);
});

test('errors: EINVAL naming the rule', () => {
  BusErrorLike(() => parseMatch('foo=bar'), 'EINVAL', /unknown key "foo" \(known: type, sender/);
  BusErrorLike(() => parseMatch("member='a',member='b'"), 'EINVAL', /key "member" given twice/);
  BusErrorLike(() => parseMatch("type='sgnal'"), 'EINVAL', /type must be one of method_call, method_return, error, signal, got "sgnal"/);
  BusErrorLike(() => parseMatch('arg64=x'), 'EINVAL', /argument number 64 is over 63/);
  BusErrorLike(() => parseMatch('arg100path=x'), 'EINVAL', /over 63/);
  BusErrorLike(() => parseMatch('arg05=x'), 'EINVAL', /leading zero/);
  BusErrorLike(() => parseMatch("arg0='x"), 'EINVAL', /unterminated quote/);
  BusErrorLike(() => parseMatch('member'), 'EINVAL', /expected key=value/);
  BusErrorLike(() => parseMatch("path='/a',path_namespace='/'"), 'EINVAL', /path and path_namespace/);
  BusErrorLike(() => parseMatch("path='a'"), 'EINVAL', /invalid path "a"/);
  BusErrorLike(() => parseMatch("path_namespace='/a/'"), 'EINVAL', /invalid path_namespace/);
  BusErrorLike(() => parseMatch("interface='x'"), 'EINVAL', /invalid interface/);
  BusErrorLike(() => parseMatch("member='1x'"), 'EINVAL', /invalid member/);
  BusErrorLike(() => parseMatch("sender='x'"), 'EINVAL', /invalid sender/);
  BusErrorLike(() => parseMatch("destination=':'"), 'EINVAL', /invalid destination/);
  BusErrorLike(() => parseMatch("arg0namespace='a..b'"), 'EINVAL', /invalid arg0namespace/);
  BusErrorLike(() => parseMatch("eavesdrop='true'"), 'EINVAL', /eavesdrop/);
  BusErrorLike(() => parseMatch("argx='1'"), 'EINVAL', /unknown key "argx"/);
});

const sig = (o: Partial<DBusHeader> = {}): DBusHeader =>
  ({ type: 'signal', serial: 1, path: '/org/example/Obj', interface: 'org.example.Foo', member: 'Changed', sender: ':1.3', ...o });

test('matchesRule: header fields, path_namespace, sender (unique / well-known)', () => {
  const m = (rule: string, h: DBusHeader, body: unknown[] = [], names?: string[]) => matchesRule(parseMatch(rule), h, body, names);
  assert.ok(m('', sig()));
  assert.ok(m("type='signal',interface='org.example.Foo',member='Changed',path='/org/example/Obj'", sig()));
  assert.not.ok(m("type='method_call'", sig()));
  assert.not.ok(m("member='Other'", sig()));
  assert.not.ok(m("path='/org/example'", sig()));
  assert.ok(m("path_namespace='/org/example'", sig()));
  assert.ok(m("path_namespace='/org/example/Obj'", sig()));
  assert.ok(m("path_namespace='/'", sig()));
  assert.not.ok(m("path_namespace='/org/ex'", sig()), 'not a prefix at an element boundary');
  assert.ok(m("sender=':1.3'", sig()));
  assert.not.ok(m("sender=':1.4'", sig()));
  assert.ok(m("sender='org.ex.Svc'", sig()), 'a well-known name: the bus checked it');
  assert.ok(m("sender='org.ex.Svc'", sig(), [], ['org.ex.Svc']));
  assert.not.ok(m("sender='org.ex.Svc'", sig(), [], ['org.ex.Other']));
  assert.ok(m("destination=':1.9'", sig({ destination: ':1.9' })));
  assert.not.ok(m("destination=':1.9'", sig()), 'a broadcast has no destination');
});

test('matchesRule: argN, argNpath, argNnamespace, argNhas on s / o / g and arrays of them', () => {
  const h = sig({ signature: 'soasgi' });
  const body = ['org.example.Foo.Bar', '/a/b', ['x', 'y'], 'a{sv}', 5];
  const m = (rule: string) => matchesRule(parseMatch(rule), h, body);
  assert.ok(m("arg0='org.example.Foo.Bar',arg1='/a/b',arg3='a{sv}'"));
  assert.not.ok(m("arg0='org.example'"));
  assert.not.ok(m("arg4='5'"), 'an int is no string');
  assert.not.ok(m("arg9='x'"), 'no such argument');
  assert.ok(m("arg0namespace='org.example'"));
  assert.ok(m("arg0namespace='org.example.Foo.Bar'"));
  assert.not.ok(m("arg0namespace='org.exam'"));
  assert.ok(m("arg1path='/a/'"));
  assert.ok(m("arg1path='/a/b'"));
  assert.ok(m("arg1path='/a/b/c/'") === false);
  assert.not.ok(m("arg1path='/a'"));
  assert.ok(matchesRule(parseMatch("arg0path='/a/b/c'"), sig({ signature: 's' }), ['/a/']), 'the argument is the prefix ending in /');
  assert.ok(m("arg2has='y'"));
  assert.not.ok(m("arg2has='z'"));
  assert.not.ok(m("arg0has='org.example.Foo.Bar'"), 'has needs an array');
  assert.not.ok(m("arg2='x'"), 'argN needs a string');
});

// (an outside audit, stop 35: formatMatch wrote what parseMatch then refused)
test('formatMatch checks the rule first: an invalid value or an unknown key is EINVAL, not a string parseMatch refuses', () => {
  BusErrorLike(() => formatMatch({ path: 'bad' }), 'EINVAL', /^formatMatch: EINVAL: invalid path "bad"/);
  BusErrorLike(() => formatMatch({ foo: 1 } as never), 'EINVAL', /unknown MatchRule key "foo"/);
  assert.is(formatMatch({ member: 'M', path: '/a' }), "member='M',path='/a'");
});

// (an outside audit, stop 41: matchesRule took a match string as a rule without conditions,
// which every message matched, ignored an unknown key, and threw TypeErrors for null)
test('matchesRule checks its arguments as m.matches does: a match string is parsed, a MatchRule checked; a bad rule, header, body or senderNames is EINVAL, op matchesRule', () => {
  const h = sig({ signature: 's' });
  assert.not.ok(matchesRule("member='Other'", h, ['x']), 'a match string is parsed, not read as a rule without conditions');
  assert.ok(matchesRule("member='Changed',arg0='x'", h, ['x']));
  assert.not.ok(matchesRule("member='Changed',arg0='y'", h, ['x']));
  BusErrorLike(() => matchesRule("member='a.b'", h, ['x']), 'EINVAL', /^matchesRule: EINVAL: invalid member "a\.b"/);
  BusErrorLike(() => matchesRule({ membr: 'Other' } as never, h, ['x']), 'EINVAL', /^matchesRule: EINVAL: unknown MatchRule key "membr"/);
  BusErrorLike(() => matchesRule({ member: 5 } as never, h, ['x']), 'EINVAL', /^matchesRule: EINVAL: MatchRule\.member must be a string, got number/);
  BusErrorLike(() => matchesRule({ args: [{ n: 0, kind: 'regex', value: 'y' }] } as never, h, ['x']), 'EINVAL', /each MatchRule\.args entry must be/);
  BusErrorLike(() => matchesRule(null as never, h, ['x']), 'EINVAL', /^matchesRule: EINVAL: rule must be a match string or a MatchRule/);
  BusErrorLike(() => matchesRule({ member: 'Changed' }, null as never, ['x']), 'EINVAL', /^matchesRule: EINVAL: header must be a DBusHeader object, got null/);
  BusErrorLike(() => matchesRule({ member: 'Changed' }, { ...h, path: 5 } as never, ['x']), 'EINVAL', /^matchesRule: EINVAL: header\.path must be a string, got number/);
  BusErrorLike(() => matchesRule("arg0='x'", h, null as never), 'EINVAL', /^matchesRule: EINVAL: body must be an array, got null/);
  BusErrorLike(() => matchesRule("arg0='x'", h, []), 'EINVAL', /^matchesRule: EINVAL: the body has 0 values and its signature "s" 1 complete types/);
  BusErrorLike(() => matchesRule("arg0='x'", h, [5]), 'EINVAL', /^matchesRule: EINVAL: arg0 \(type 's'\) must be a string, got number/);
  BusErrorLike(() => matchesRule("arg0has='b'", sig({ signature: 'as' }), ['abc']), 'EINVAL', /^matchesRule: EINVAL: arg0 \(type 'as'\) must be an array of strings, got string/);
  BusErrorLike(() => matchesRule("sender='org.ex.Svc'", h, ['x'], 'org.ex.Svc' as never), 'EINVAL', /^matchesRule: EINVAL: senderNames must be an array of bus names/);
  // a parsed rule given back is read as it is now (a change after parseMatch counts)
  const r = parseMatch("member='Changed'");
  assert.ok(matchesRule(r, h, ['x']));
  r.member = 'Other';
  assert.not.ok(matchesRule(r, h, ['x']));
  (r as { member: unknown }).member = 5;
  BusErrorLike(() => matchesRule(r, h, ['x']), 'EINVAL', /MatchRule\.member must be a string/);
});

// (stop 56, an outside audit: an args entry's n was read five times, kind three and value
// twice, the checks on the first reads and the rule made from the last)
test('a MatchRule args entry is read once: the rule checked is the rule made', () => {
  const seq = (...vals: unknown[]) => { let i = 0; return () => vals[Math.min(i++, vals.length - 1)]; };
  const reads: Record<string, number> = { n: 0, kind: 0, value: 0 };
  const n = seq(0, "0='x',sender='org.evil.Name',arg1"), kind = seq('string', 'path'), value = seq('x', 5);
  const entry = {
    get n() { reads.n!++; return n(); },
    get kind() { reads.kind!++; return kind(); },
    get value() { reads.value!++; return value(); },
  };
  assert.is(formatMatch({ args: [entry as never] }), "arg0='x'");
  assert.equal(reads, { n: 1, kind: 1, value: 1 });
  let len = 0;
  const lying = new Proxy([{ n: 1, kind: 'string', value: 'y' }], { get: (t, k) => (k === 'length' ? [1, 3][Math.min(len++, 1)] : Reflect.get(t, k)) });
  assert.is(formatMatch({ args: lying as never }), "arg1='y'");
});

test.run();
