// host-swap: the esbuild plugin that makes a browser bundle of the host. Node's and Deno's
// providers (host/node, host/deno: `node:` imports, Deno's API) become host/none, Node's
// reads of /proc/self/task (host/os-thread-node) and its worker id (host/worker-id-node)
// host/os-thread-none, and any other module
// can be swapped for another file or given other contents. Used by the
// browser build (scripts/build-dist.mjs, from dist/js) and by the conformance suite's
// Chromium run (tests/browser/conformance.test.mjs, from the sources).
import { join } from 'node:path';

/**
 * The plugin `name`, for the host directory `host` whose modules end in `ext` ('.js' in dist,
 * '.ts' in the sources): host/node and host/deno resolve to host/none, the modules named in
 * `more` ({ module: other module }, names without extension, in `host`) to theirs, and each
 * file matched by a `loads` entry ({ filter: RegExp, contents: string }) is given that text
 * as JavaScript instead of its own.
 */
export function hostSwap(name, host, ext, { more = {}, loads = [] } = {}) {
  const at = (m) => join(host, m + ext);
  const swap = { [at('node')]: at('none'), [at('deno')]: at('none'), [at('os-thread-node')]: at('os-thread-none'), [at('worker-id-node')]: at('os-thread-none') };
  for (const [from, to] of Object.entries(more)) swap[at(from)] = at(to);
  return {
    name,
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = swap[join(args.resolveDir, args.path)];
        return target ? { path: target } : undefined;
      });
      for (const { filter, contents } of loads) build.onLoad({ filter }, () => ({ contents, loader: 'js' }));
    },
  };
}
