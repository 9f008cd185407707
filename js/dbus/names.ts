// names: the D-Bus specification's rules for object paths, interface, member and error names,
// bus names and name namespaces. Each check returns null when the string is valid, else the
// rule it breaks (callers wrap that into a BusError with their own errno and op); a value that
// is not a string breaks the first rule ("an object path must be a string, got number").
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { kindOf, shown } from '../args.ts';

const MAX_NAME = 255;

/**
 * The rule a value that is not a string breaks, as a check's answer: before stop 41 a number
 * gave a TypeError (objectPathError) or null, "valid" (signatureError): an outside audit.
 */
export function notString(what: string, v: unknown): string {
  return `${what} must be a string, got ${kindOf(v)}`;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95; // A-Z a-z _
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Object path: "/" or "/" elements of [A-Za-z0-9_], none empty, no trailing "/". */
export function objectPathError(s: string): string | null {
  if (typeof s !== 'string') return notString('an object path', s);
  if (s.length === 0 || s.charCodeAt(0) !== 47) return 'an object path must start with "/"';
  if (s.length === 1) return null;
  let prevSlash = true;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 47) {
      if (prevSlash) return 'an object path has no empty elements ("//")';
      prevSlash = true;
    } else if (isAlpha(c) || isDigit(c)) {
      prevSlash = false;
    } else {
      return `an object path element has only [A-Za-z0-9_], got ${JSON.stringify(s[i])}`;
    }
  }
  if (prevSlash) return 'an object path other than "/" does not end with "/"';
  return null;
}

// dot-separated elements; `dash` allows '-', `digitStart` allows an element to start with a digit,
// `min` is the fewest elements
function dotted(s: string, what: string, dash: boolean, digitStart: boolean, min: number): string | null {
  if (typeof s !== 'string') return notString(what, s);
  if (s.length === 0) return `${what} is empty`;
  if (s.length > MAX_NAME) return `${what} is longer than ${MAX_NAME} bytes`;
  let elements = 1, start = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (start) return `${what} has an empty element`;
      elements++;
      start = true;
      continue;
    }
    if (isAlpha(c) || (dash && c === 45)) {
      start = false;
    } else if (isDigit(c)) {
      if (start && !digitStart) return `${what} has an element starting with a digit`;
      start = false;
    } else {
      return `${what} has only [A-Za-z0-9_${dash ? '-' : ''}] and ".", got ${JSON.stringify(s[i])}`;
    }
  }
  if (start) return `${what} has an empty element`;
  if (elements < min) return `${what} has at least ${min} elements`;
  return null;
}

/** Interface name (also error names): >= 2 elements of [A-Za-z0-9_], not starting with a digit. */
export function interfaceNameError(s: string): string | null {
  return dotted(s, 'an interface name', false, false, 2);
}

/** Error name: the rules of interface names. */
export function errorNameError(s: string): string | null {
  return dotted(s, 'an error name', false, false, 2);
}

/** Member name: [A-Za-z0-9_], 1..255 bytes, not starting with a digit, no ".". */
export function memberNameError(s: string): string | null {
  if (typeof s !== 'string') return notString('a member name', s);
  if (s.length === 0) return 'a member name is empty';
  if (s.length > MAX_NAME) return `a member name is longer than ${MAX_NAME} bytes`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isAlpha(c)) continue;
    if (isDigit(c)) {
      if (i === 0) return 'a member name does not start with a digit';
      continue;
    }
    return `a member name has only [A-Za-z0-9_], got ${JSON.stringify(s[i])}`;
  }
  return null;
}

/**
 * Bus name: a unique name (":" then >= 2 elements of [A-Za-z0-9_-], digits allowed first) or a
 * well-known name (>= 2 elements of [A-Za-z0-9_-], not starting with a digit); <= 255 bytes.
 */
export function busNameError(s: string): string | null {
  if (typeof s !== 'string') return notString('a bus name', s);
  if (s.charCodeAt(0) === 58) {
    if (s.length > MAX_NAME) return `a bus name is longer than ${MAX_NAME} bytes`;
    return dotted(s.slice(1), 'a unique name', true, true, 2);
  }
  return dotted(s, 'a bus name', true, false, 2);
}

/** Name namespace (arg0namespace): a bus name that may have a single element. */
export function namespaceError(s: string): string | null {
  return dotted(s, 'a name namespace', true, false, 1);
}

/**
 * null when `v` is a kdbus u64 (a connection id, a cookie, a bloom generation): an integer
 * 0..2^64-1, a safe integer or a bigint; else why not, naming it `what`.
 */
export function u64Error(what: string, v: unknown): string | null {
  const ok = typeof v === 'number' ? Number.isSafeInteger(v) && v >= 0 : typeof v === 'bigint' && v >= 0n && v <= 0xffffffffffffffffn;
  if (ok) return null;
  // (a number past 2^53 - 1 may be an integer in range yet not exact: say so, stop 56)
  const inexact = typeof v === 'number' && Number.isInteger(v) && v > Number.MAX_SAFE_INTEGER && v < 2 ** 64;
  return `${what} must be an integer 0..2^64-1 (a number or a bigint), got ${shown(v)}${inexact ? ' (a number past 2^53 - 1 is not exact: give it as a bigint)' : ''}`;
}

/**
 * The unique name of connection `id` (":1.<id>"); id 0 is the bus, "org.freedesktop.DBus".
 * Anything but a connection id is EINVAL (before stop 41, -1 gave ":1.-1", "x" ":1.x" and 1.5
 * a RangeError: an outside audit).
 */
export function uniqueName(id: number | bigint): string {
  const e = u64Error('a connection id', id);
  if (e !== null) throw new BusError(A.EINVAL, 'uniqueName', e);
  if (typeof id !== 'number') return id === 0n ? 'org.freedesktop.DBus' : `:1.${id}`;
  if (id === 0) return 'org.freedesktop.DBus';
  if (id === lastId) return lastName; // a service answering one caller again and again
  lastName = `:1.${id}`;
  lastId = id;
  return lastName;
}
let lastId = -1;
let lastName = '';

/**
 * The connection id of a unique name ":1.<digits>", or null for any other name. The digits
 * are read as send() reads a ":1.<digits>" destination (Number(digits): ":1.02" is id 2), so
 * that a match rule and a send agree on what a unique name means.
 */
export function uniqueNameId(name: string): number | null {
  if (typeof name !== 'string') throw new BusError(A.EINVAL, 'uniqueNameId', `name must be a string, got ${kindOf(name)}`);
  if (!name.startsWith(':1.')) return null;
  const t = name.slice(3);
  if (!/^[0-9]{1,16}$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : null;
}

/** A unique name in its canonical form (":1.02" → ":1.2"); any other name as it is. */
export function canonicalName(name: string): string {
  const id = uniqueNameId(name);
  return id === null ? name : `:1.${id}`;
}
