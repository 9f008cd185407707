// none: the browser build's stand-in for host/node.ts and host/deno.ts (scripts/build-dist.mjs
// swaps it in), so that the browser module graph imports no `node:` module. A browser has no
// process credentials: pass a provider (e.g. MockProvider). bus.ts only reaches these classes
// when it believes it runs under Node or Deno (a bundler that defines `process` or `Deno`).
import type { Creds, Provider } from './provider.ts';
import { BusError } from '../errno.ts';
import { EOPNOTSUPP } from '../shared/abi.ts';

class NoProvider implements Provider {
  readonly name = 'none';
  constructor() {
    throw new BusError(EOPNOTSUPP, 'defaultProvider', 'the browser build of wasmbus has no default provider: pass options.provider (e.g. MockProvider)');
  }
  clock(_id: number, _out: Uint32Array): boolean { return false; }
  random(_buf: Uint8Array): void {}
  creds(_out: Creds): boolean { return false; }
}

export { NoProvider as NodeProvider, NoProvider as DenoProvider };
