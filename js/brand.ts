// brand: how an object of wasmbus is told from another copy of the package in the same program.
// npm installs a package twice when two dependants pin it apart, a bundle inlines its own copy,
// a worker loads it from another path: each copy has its own classes, so `instanceof` and the
// private-field checks of one copy fail for the other's objects. A BusError or a DBusError
// thrown by one copy (a library's) and tested by another (the app's: `err instanceof BusError`,
// a method handler's DBusError) must still be one (an outside audit, stop 44: a handler's
// DBusError of the other copy was answered as Failed, its error name lost). Each such class
// carries a brand under a Symbol.for key, which every copy (and every realm of a thread) shares,
// and answers `instanceof` by it. The brand says what the object is; only its own copy can use
// a Message or a Connection (their state is private to it): a method given one of the other
// copy's says so (foreignKind) instead of "got object".

/** the brand keys (Symbol.for: one symbol per key for every copy of the package) */
export const BRAND = Object.freeze({
  BusError: Symbol.for('wasmbus.BusError'),
  DBusError: Symbol.for('wasmbus.DBusError'),
  Message: Symbol.for('wasmbus.Message'),
  Connection: Symbol.for('wasmbus.Connection'),
});

/** Put brand `key` on a class's prototype (not enumerable, not writable). */
export function brand(cls: { prototype: object }, key: symbol): void {
  Object.defineProperty(cls.prototype, key, { value: true });
}

/**
 * Does `x` carry brand `key` (an object of any copy of wasmbus)? Never throws (a revoked Proxy:
 * false). An error's brand counts only on an object with a string `message` (an Error's), and a
 * BusError's also with a number `errno` and a string `code`: the library reads them (a
 * hand-branded plain object made relabel throw a TypeError: a second look, stop 44).
 */
export function hasBrand(x: unknown, key: symbol): boolean {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return false;
  try {
    const o = x as Record<symbol | string, unknown>;
    if (o[key] !== true) return false;
    if (key === BRAND.BusError) return typeof o.message === 'string' && typeof o.errno === 'number' && typeof o.code === 'string';
    return key !== BRAND.DBusError || typeof o.message === 'string';
  } catch {
    return false;
  }
}

/** For "got …" of an argument that failed a copy's own check: another copy's object says so (null: not one). */
export function foreignKind(x: unknown): string | null {
  if (hasBrand(x, BRAND.Message)) return 'a Message of another copy of wasmbus (the package is loaded twice in this program: use the copy that received it)';
  if (hasBrand(x, BRAND.Connection)) return 'a Connection of another copy of wasmbus (the package is loaded twice in this program: use the copy that made it)';
  return null;
}
