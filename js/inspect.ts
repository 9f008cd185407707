// inspect: what console.log / util.inspect show of the library's objects (Node, and Deno,
// which honours the same symbol): the class name and its toJSON() shape, not the internals
// (a Message showed 3.4 KB of its connection and engine, and none of its own fields, whose
// values are getters: an outside audit, stop 48). Past util.inspect's depth, `[Name]`, as
// Node shows any object there.

/** Node's util.inspect.custom (a registered symbol: no import of node:util, which browsers lack). */
export const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

type Inspect = (value: unknown, options?: unknown) => string;

/** `Name { ...json }`, through the runtime's own inspect when it passes one (colours, depth). */
export function inspected(name: string, json: Record<string, unknown>, depth: number, options: unknown, inspect: unknown): string | Record<string, unknown> {
  if (typeof inspect !== 'function') return json;
  if (typeof depth === 'number' && depth < 0) return `[${name}]`;
  // the fields as Node shows an object's own at this depth: `depth` levels left below them
  // (options.depth is the whole call's; null or Infinity: no limit)
  const o = typeof options === 'object' && options !== null ? options as { depth?: number | null } : {};
  const inner = { ...o, depth: typeof depth === 'number' && typeof o.depth === 'number' ? depth : o.depth };
  return `${name} ${(inspect as Inspect)(json, inner)}`;
}
