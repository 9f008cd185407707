// check: the argument checks that the exported helpers share (matchesRule, signalFilter,
// signalElements, ruleElements, withKdbusAddresses). Each failure is a BusError EINVAL that
// names the argument and the rule it breaks; none of them changes any state.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { kindOf, isList, isRevoked } from '../args.ts';
import { parseSignature, type DType } from './signature.ts';
import type { DBusHeader } from './header.ts';
import type { ElementSink } from './bloom.ts';

/**
 * A string argument, checked. Without it a number or an object in a string's place sent the
 * element writer into an endless loop (signalFilter with [5] for an 's' argument: an outside
 * audit, stop 35).
 */
export function str(op: string, name: string, v: unknown): string {
  if (typeof v !== 'string') throw new BusError(A.EINVAL, op, `${name} must be a string, got ${kindOf(v)}`);
  return v;
}

/** the header fields that are strings when present */
const HEADER_STRINGS = ['interface', 'member', 'path', 'signature', 'errorName', 'sender', 'destination'] as const;

/** every key of a DBusHeader (headerArg reads each once) */
const HEADER_FIELDS = ['type', 'flags', 'serial', 'replySerial', ...HEADER_STRINGS] as const;

/**
 * A header as the helpers read it: an object whose `type` and other string fields are strings,
 * returned as a plain copy of its fields, each read once (the helpers use the copy: before
 * stop 56 they checked one read of a getter and used another, e.g. a filter built for a
 * signature the check never saw; an outside audit).
 */
export function headerArg(op: string, header: unknown): DBusHeader {
  if (header === null || typeof header !== 'object' || isRevoked(header)) throw new BusError(A.EINVAL, op, `header must be a DBusHeader object, got ${kindOf(header)}`);
  const src = header as Record<string, unknown>, h: Record<string, unknown> = {};
  for (let i = 0; i < HEADER_FIELDS.length; i++) {
    const k = HEADER_FIELDS[i]!, v = src[k];
    if (v !== undefined) h[k] = v;
  }
  str(op, 'header.type', h.type);
  // (the field's name made only for the error: a string per field and per message before stop 54)
  for (let i = 0; i < HEADER_STRINGS.length; i++) {
    const k = HEADER_STRINGS[i]!, v = h[k];
    if (v !== undefined && typeof v !== 'string') str(op, `header.${k}`, v);
  }
  return h as unknown as DBusHeader;
}

/**
 * A body for `header`: an array with one value per complete type of its signature (a body
 * that lacks an argument its signature names was read as having none, before stop 41: an
 * outside audit). Returns the signature's types.
 */
export function bodyTypes(op: string, header: DBusHeader, body: unknown): readonly DType[] {
  if (!isList(body)) throw new BusError(A.EINVAL, op, `body must be an array, got ${kindOf(body)}`);
  const sig = header.signature ?? '';
  const types = parseSignature(sig, A.EINVAL, op);
  if (types.length !== body.length) {
    throw new BusError(A.EINVAL, op, `the body has ${body.length} values and its signature ${JSON.stringify(sig)} ${types.length} complete types: one value per type`);
  }
  return types;
}

/** Argument `i` of type `t` (s, o or g): a string. */
export function stringArg(op: string, i: number, t: DType, v: unknown): string {
  if (typeof v !== 'string') throw new BusError(A.EINVAL, op, `arg${i} (type '${t.code}') must be a string, got ${kindOf(v)}`);
  return v;
}

/** Argument `i` of type `t` (as, ao or ag): an array. */
export function arrayArg(op: string, i: number, t: DType, v: unknown): readonly unknown[] {
  if (!isList(v)) throw new BusError(A.EINVAL, op, `arg${i} (type '${t.sig}') must be an array of strings, got ${kindOf(v)}`);
  return v;
}

/** Where elements go: an object with addPair and addPrefixes (a Bloom, an ElementList). */
export function sinkArg(op: string, sink: unknown): ElementSink {
  const s = sink as Partial<ElementSink> | null;
  if (s === null || typeof s !== 'object' || typeof s.addPair !== 'function' || typeof s.addPrefixes !== 'function') {
    throw new BusError(A.EINVAL, op, `sink must be an ElementSink ({ addPair, addPrefixes }: a Bloom or an ElementList), got ${kindOf(sink)}`);
  }
  return sink as ElementSink;
}
