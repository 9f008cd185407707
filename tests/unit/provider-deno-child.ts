// provider-deno-child: run by providers.test.ts under Deno with reduced permissions; prints
// the DenoProvider's answers (through the import object) as one JSON line.
import { DenoProvider } from '../../js/host/deno.ts';
import { collect } from './meta-collect.ts';

console.log(JSON.stringify(collect(new DenoProvider())));
