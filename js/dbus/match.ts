// match: D-Bus match strings ("type='signal',interface='org.example.Foo',arg0='x'") parsed into
// rules, formatted back, and checked against a received message. The bus filters signals by the
// rule's bloom mask (bloom.ts), which lets false positives through: receivers re-check every
// delivered message with matchesRule().
//
// Grammar (D-Bus specification, "Match Rules"): a comma-separated list of key=value; ASCII
// spaces before a key are skipped. A value is a concatenation of quoted and unquoted parts:
// inside single quotes a backslash is itself and an apostrophe ends the quoted part; outside,
// \' is an apostrophe, any other backslash is itself, and a comma ends the value.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { parseSignature, type DType } from './signature.ts';
import { kindOf, isList, isRevoked } from '../args.ts';
import { headerArg, bodyTypes, stringArg, arrayArg } from './check.ts';
import { objectPathError, interfaceNameError, memberNameError, busNameError, namespaceError, canonicalName } from './names.ts';
import type { DBusHeader, MessageType } from './header.ts';
import { MESSAGE_TYPES } from './header.ts';

/** One argument condition: argN (string), argNpath, argNnamespace, argNhas. */
export interface ArgMatch {
  /** argument index, 0..63 */
  n: number;
  kind: 'string' | 'path' | 'namespace' | 'has';
  value: string;
}

export interface MatchRule {
  type?: MessageType | undefined;
  sender?: string | undefined;
  interface?: string | undefined;
  member?: string | undefined;
  path?: string | undefined;
  /** path_namespace */
  pathNamespace?: string | undefined;
  destination?: string | undefined;
  /** argument conditions, in the order given (absent: none; parseMatch always sets it) */
  args?: ArgMatch[] | undefined;
}

/** A rule as parseMatch / matchRuleOf return it: `args` always set. */
export type ParsedMatchRule = MatchRule & { args: ArgMatch[] };

/** Highest argument index a rule may name. */
export const MAX_ARG = 63;

const OP = 'parseMatch';
const KEYS = ['type', 'sender', 'interface', 'member', 'path', 'path_namespace', 'destination', 'argN', 'argNpath', 'argNnamespace', 'argNhas'];

function bad(detail: string): BusError {
  return new BusError(A.EINVAL, OP, detail);
}

const ARG_KEY = /^arg([0-9]+)(path|namespace|has)?$/;

/**
 * Parse a match string. Errors (BusError EINVAL, the message naming the rule): no "=", an
 * unknown key, a key given twice, an unterminated quote, a bad type, argN with N > 63 (or a
 * leading zero), path together with path_namespace, and values that are not valid for their key
 * (object paths, interface and member names, bus names, name namespaces).
 */
export function parseMatch(match: string): ParsedMatchRule {
  if (typeof match !== 'string') throw bad(`a match string must be a string, got ${kindOf(match)}`);
  const rule: ParsedMatchRule = { args: [] };
  const seen = new Set<string>();
  let i = 0;
  const n = match.length;
  for (;;) {
    while (i < n && match.charCodeAt(i) === 32) i++;
    if (i >= n) break;
    const eq = match.indexOf('=', i);
    if (eq < 0) throw bad(`expected key=value at offset ${i}: ${JSON.stringify(match.slice(i))}`);
    const key = match.slice(i, eq);
    // the value: quoted and unquoted parts up to an unquoted comma
    let value = '';
    let quoted = false;
    let j = eq + 1;
    for (; j < n; j++) {
      const c = match[j];
      if (quoted) {
        if (c === "'") quoted = false;
        else value += c;
      } else if (c === "'") {
        quoted = true;
      } else if (c === ',') {
        break;
      } else if (c === '\\' && match[j + 1] === "'") {
        value += "'";
        j++;
      } else {
        value += c;
      }
    }
    if (quoted) throw bad(`unterminated quote in the value of ${JSON.stringify(key)}`);
    i = j + 1; // past the comma (or the end)
    if (seen.has(key)) throw bad(`key ${JSON.stringify(key)} given twice`);
    seen.add(key);
    addKey(rule, key, value);
  }
  if (rule.path !== undefined && rule.pathNamespace !== undefined) {
    throw bad('path and path_namespace cannot both be given');
  }
  return rule;
}

function check(key: string, value: string, rule: (s: string) => string | null): string {
  const e = rule(value);
  if (e !== null) throw bad(`invalid ${key} ${JSON.stringify(value)}: ${e}`);
  return value;
}

function addKey(rule: ParsedMatchRule, key: string, value: string): void {
  switch (key) {
    case 'type':
      if (!(MESSAGE_TYPES as readonly string[]).includes(value)) {
        throw bad(`type must be one of ${MESSAGE_TYPES.join(', ')}, got ${JSON.stringify(value)}`);
      }
      rule.type = value as MessageType;
      return;
    case 'sender': rule.sender = canonicalName(check(key, value, busNameError)); return; // (':1.02' is ':1.2', as send() reads it)
    case 'interface': rule.interface = check(key, value, interfaceNameError); return;
    case 'member': rule.member = check(key, value, memberNameError); return;
    case 'path': rule.path = check(key, value, objectPathError); return;
    case 'path_namespace': rule.pathNamespace = check(key, value, objectPathError); return;
    case 'destination': rule.destination = canonicalName(check(key, value, busNameError)); return;
    case 'eavesdrop':
      throw bad('unknown key "eavesdrop": wasmbus has no eavesdropping (a monitor connection sees every message)');
  }
  const m = ARG_KEY.exec(key);
  if (m === null) throw bad(`unknown key ${JSON.stringify(key)} (known: ${KEYS.join(', ')})`);
  const digits = m[1];
  if (digits.length > 1 && digits[0] === '0') throw bad(`${key}: the argument number has no leading zero`);
  const idx = digits.length > 2 ? Infinity : Number(digits);
  if (idx > MAX_ARG) throw bad(`${key}: argument number ${digits} is over ${MAX_ARG}`);
  const kind = m[2] === undefined ? 'string' : (m[2] as 'path' | 'namespace' | 'has');
  if (kind === 'namespace') check(key, value, namespaceError);
  rule.args.push({ n: idx, kind, value });
}

// a value as the match-string grammar reads it back: quoted, apostrophes as '\''
function quote(v: string): string {
  return "'" + v.split("'").join("'\\''") + "'";
}

/** The match string of a rule (canonical order, every value quoted); parseMatch reads it back. */
const RULE_KEYS = ['type', 'sender', 'interface', 'member', 'path', 'pathNamespace', 'destination', 'args'];
const ARG_KINDS = ['string', 'path', 'namespace', 'has'];

/**
 * A rule given to the public API (onSignal, msg.matches, addMatch): a match string, parsed;
 * or a MatchRule object, checked (its keys, their types, each argument condition) and then
 * checked as a string would be (formatted and parsed again: every name and path). A rule
 * without `args` has none. Throws EINVAL (op `op`) naming what is wrong. The rule returned is
 * frozen; given back (dispatch gives its handlers' rules to matchesRule) it is not checked again.
 */
export function matchRuleOf(op: string, rule: unknown): ParsedMatchRule {
  if (checkedRules.has(rule as object)) return rule as ParsedMatchRule;
  return checked(ruleOf(op, rule));
}

/** the rules matchRuleOf returned: frozen, so still valid whoever reads them later */
const checkedRules = new WeakSet<object>();
function checked(rule: ParsedMatchRule): ParsedMatchRule {
  for (const a of rule.args) Object.freeze(a);
  Object.freeze(rule.args);
  checkedRules.add(Object.freeze(rule));
  return rule;
}

/** matchRuleOf of a rule not checked yet */
function ruleOf(op: string, rule: unknown): ParsedMatchRule {
  const fail = (detail: string) => new BusError(A.EINVAL, op, detail);
  if (typeof rule === 'string') {
    // a match string's errors are the method's too (addMatch, onSignal and matches said
    // parseMatch before stop 39, as they did not for a MatchRule: an outside audit)
    try {
      return parseMatch(rule);
    } catch (err) {
      if (err instanceof BusError && op !== OP) throw fail(err.message.replace(/^parseMatch: EINVAL: /, ''));
      throw err;
    }
  }
  if (rule === null || typeof rule !== 'object' || isRevoked(rule) || isList(rule)) {
    throw fail(`rule must be a match string or a MatchRule (parseMatch's result), got ${kindOf(rule)}`);
  }
  const proto = Object.getPrototypeOf(rule);
  if (proto !== Object.prototype && proto !== null) {
    throw fail('a MatchRule must be a plain object (parseMatch\'s result, or a literal): the keys of its prototype or class are not read');
  }
  // each value read once, into a plain object (a getter may answer differently each time)
  const r: Record<string, unknown> = {};
  for (const k of Object.keys(rule)) r[k] = (rule as Record<string, unknown>)[k];
  for (const k of Object.keys(r)) {
    if (!RULE_KEYS.includes(k)) {
      throw fail(`unknown MatchRule key "${k}" (known: ${RULE_KEYS.join(', ')})${k === 'match' ? '; { match } is a MatchSpec, which only addMatch takes' : ''}`);
    }
    if (k !== 'args' && r[k] !== undefined && typeof r[k] !== 'string') throw fail(`MatchRule.${k} must be a string, got ${typeof r[k]}`);
  }
  const args: ArgMatch[] = [];
  if (r.args !== undefined) {
    if (!isList(r.args)) throw fail(`MatchRule.args must be an array, got ${kindOf(r.args)}`);
    // each entry, and each of its fields, read once: the values checked are the values used
    // (before stop 56 `n` was read five times, `kind` three and `value` twice, the checks on
    // the first reads and the rule made from the last: an `n` answering a string at its fifth
    // read was pasted into the match string, e.g. a sender condition nobody checked; an
    // outside audit)
    const list = r.args as ArrayLike<unknown>, count = list.length;
    for (let i = 0; i < count; i++) {
      const x = list[i] as Record<string, unknown> | null;
      const ok = x !== null && typeof x === 'object' && !isRevoked(x);
      const n = ok ? x.n : undefined, kind = ok ? x.kind : undefined, value = ok ? x.value : undefined;
      if (!ok || typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_ARG ||
        typeof kind !== 'string' || !ARG_KINDS.includes(kind) || typeof value !== 'string') {
        throw fail(`each MatchRule.args entry must be { n: 0..${MAX_ARG}, kind: ${ARG_KINDS.map((k) => `'${k}'`).join(' | ')}, value: string }`);
      }
      args.push({ n, kind: kind as ArgMatch['kind'], value });
    }
  }
  try {
    return parseMatch(formatRule({ ...(r as unknown as MatchRule), args }));
  } catch (err) {
    if (err instanceof BusError) throw fail(err.message.replace(/^parseMatch: EINVAL: /, ''));
    throw err;
  }
}

export function formatMatch(rule: MatchRule): string {
  // (checked first, as onSignal checks a rule: an invalid path or an unknown key was written
  // into a string that parseMatch then refused, before stop 35: an outside audit)
  return formatRule(matchRuleOf('formatMatch', rule));
}

/** formatMatch of a rule whose keys and value types are known good */
function formatRule(rule: MatchRule): string {
  const parts: string[] = [];
  const add = (k: string, v: string | undefined) => { if (v !== undefined) parts.push(`${k}=${quote(v)}`); };
  add('type', rule.type);
  add('sender', rule.sender);
  add('interface', rule.interface);
  add('member', rule.member);
  add('path', rule.path);
  add('path_namespace', rule.pathNamespace);
  add('destination', rule.destination);
  for (const a of rule.args ?? []) add(`arg${a.n}${a.kind === 'string' ? '' : a.kind}`, a.value);
  return parts.join(',');
}

function isStringType(code: string): boolean {
  return code === 's' || code === 'o' || code === 'g';
}

/**
 * Does the message (its header, with sender and destination filled in from the kdbus message,
 * and its decoded body) match the rule? The semantics are sd-bus's:
 * - sender: equal to the header's sender, or one of `senderNames` (the well-known names the
 *   sender owns, e.g. from OWNED_NAME metadata); without `senderNames`, a well-known sender
 *   name in the rule is taken as checked by the bus (its NAME rule) when the header's sender
 *   is a unique name;
 * - path_namespace=P: the path is P or below it ("/" matches every path);
 * - argN, argNpath, argNnamespace: argument N is a string, object path or signature and is
 *   equal / path-matches (equal, or one is a prefix of the other ending in "/") / is in the
 *   namespace (equal, or starts with it and a ".");
 * - argNhas: argument N is an array of strings, object paths or signatures containing it.
 * The arguments are checked first (EINVAL, op `matchesRule`): the rule as onSignal checks one
 * (a match string is parsed), the header and body as signalFilter checks them, `senderNames`
 * an array of strings. Before stop 41 a match string was read as a rule without conditions,
 * which every message matches (an outside audit).
 */
export function matchesRule(rule: MatchRule | string, headerIn: DBusHeader, body: readonly unknown[], senderNames?: readonly string[]): boolean {
  const op = 'matchesRule';
  const r = matchRuleOf(op, rule);
  const header = headerArg(op, headerIn); // (a copy, each field read once)
  bodyTypes(op, header, body);
  namesArg(op, senderNames);
  return ruleMatches(r, header, body, senderNames);
}

/**
 * @internal matchesRule without its argument checks: a rule matchRuleOf returned, on a
 * message the codec decoded (Message.matchesRule, for dispatch's handlers and m.matches: the
 * checks above, per handler and message, would only find what the decoder already ensured).
 */
export function ruleMatches(r: MatchRule, header: DBusHeader, body: readonly unknown[], senderNames?: readonly string[]): boolean {
  if (!fieldsMatch(r, header, senderNames)) return false;
  const args = r.args ?? [];
  return args.length === 0 || argsMatch('matchesRule', args, parseSignature(header.signature ?? '', A.EINVAL, 'matchesRule'), body);
}

/** `senderNames`: undefined or an array of strings */
function namesArg(op: string, names: unknown): void {
  if (names === undefined) return;
  if (!isList(names) || !names.every((n) => typeof n === 'string')) {
    throw new BusError(A.EINVAL, op, `senderNames must be an array of bus names (strings), got ${kindOf(names)}`);
  }
}

/** matchesRule's header fields: type, sender, interface, member, path, path_namespace, destination */
function fieldsMatch(rule: MatchRule, header: DBusHeader, senderNames: readonly string[] | undefined): boolean {
  if (rule.type !== undefined && header.type !== rule.type) return false;
  if (rule.sender !== undefined && header.sender !== rule.sender) {
    if (senderNames !== undefined) {
      if (!senderNames.includes(rule.sender)) return false;
    } else if (rule.sender.startsWith(':') || header.sender === undefined || !header.sender.startsWith(':')) {
      return false;
    }
  }
  if (rule.interface !== undefined && header.interface !== rule.interface) return false;
  if (rule.member !== undefined && header.member !== rule.member) return false;
  if (rule.path !== undefined && header.path !== rule.path) return false;
  if (rule.pathNamespace !== undefined) {
    const p = header.path, ns = rule.pathNamespace;
    if (p === undefined) return false;
    if (!(ns === '/' || p === ns || p.startsWith(ns + '/'))) return false;
  }
  return rule.destination === undefined || header.destination === rule.destination;
}

/** matchesRule's argument conditions, on a body of `types` (an argument read is checked: EINVAL) */
function argsMatch(op: string, args: readonly ArgMatch[], types: readonly DType[], body: readonly unknown[]): boolean {
  for (const a of args) {
    const t = types[a.n];
    if (t === undefined) return false;
    if (a.kind === 'has') {
      if (t.code !== 'a' || !isStringType(t.elem!.code)) return false;
      if (!arrayArg(op, a.n, t, body[a.n]).includes(a.value)) return false;
      continue;
    }
    if (!isStringType(t.code)) return false;
    if (!argMatches(a, stringArg(op, a.n, t, body[a.n]))) return false;
  }
  return true;
}

/** argN, argNpath, argNnamespace against a string argument `v` */
function argMatches(a: ArgMatch, v: string): boolean {
  if (a.kind === 'string') return v === a.value;
  if (a.kind === 'path') return v === a.value || (a.value.endsWith('/') && v.startsWith(a.value)) || (v.endsWith('/') && a.value.startsWith(v));
  return v === a.value || v.startsWith(a.value + '.');
}
