// none: the browser build's stand-in for host/node.ts and host/deno.ts (scripts/build-dist.mjs
// swaps it in), so that the browser module graph imports no `node:` module. bus.ts reaches
// these classes only when the browser build runs where `process` or `Deno` is defined: under
// Node or Deno themselves (a test runner, server-side rendering loading the page's bundle), or
// in a page whose bundler defines `process`. Without Node's and Deno's /proc readers there is
// no identity to read, so the default there is the browser's own: WebProvider (real clocks and
// random bytes, no process items). Before stop 23 it threw EOPNOTSUPP, naming MockProvider (a
// mocked identity) as the way out (an outside audit: a browser bundle under Node and Deno).
import { WebProvider } from './provider.ts';

class NoProcessProvider extends WebProvider {
  constructor(_opts?: { ttlMs?: number }) { super(); }
}

export { NoProcessProvider as NodeProvider, NoProcessProvider as DenoProvider };
