// Shared imports and assertions of the tests/unit D-Bus tests.
import * as assert from 'uvu/assert';
import { BusError } from '../../js/errno.ts';
export * from '../../js/dbus/index.ts';

/** fn throws a BusError with this code whose message matches `re`. */
export function BusErrorLike(fn: () => unknown, code: string, re?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BusError);
    assert.is((err as BusError).code, code, (err as Error).message);
    if (re) assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected BusError ${code}${re ? ' ' + re : ''}`);
}
