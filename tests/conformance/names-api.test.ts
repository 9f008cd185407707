// The public names API: requestName's typed results, releaseName, getNameOwner /
// nameHasOwner on the bus and a connection, listNames / listPeers, send(name), its errors.
import * as assert from 'uvu/assert';
import { BusError } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('names API');
const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as BusError).code; } return 'ok'; };

t('requestName results, getNameOwner, listNames, listPeers, send by name', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  assert.is(a.requestName('org.api.One', { allowReplacement: true }), 'primary');
  assert.is(a.requestName('org.api.One', { allowReplacement: true }), 'already-owner', 'flags updated (still allowing replacement)');
  assert.is(b.requestName('org.api.One', { queue: true }), 'in-queue');
  assert.is(b.requestName('org.api.One', { queue: true }), 'already-queued');
  assert.is(bus.getNameOwner('org.api.One'), a.id);
  assert.is(b.nameHasOwner('org.api.Two'), false);
  assert.equal(bus.listNames(), ['org.api.One']);
  assert.equal(a.listPeers(), [a.id, b.id]);
  b.send('org.api.One', new Uint8Array([7]));
  const m = a.recv()!;
  assert.equal([...m.payload], [7]);
  m.free();
  assert.is(b.requestName('org.api.One', { replaceExisting: true }), 'primary');
  assert.is(a.getNameOwner('org.api.One'), b.id);
  b.releaseName('org.api.One');
  assert.is(bus.nameHasOwner('org.api.One'), false, 'a had no QUEUE: it lost the name');
  a.close();
  b.close();
  assert.is(bus.getNameOwner('org.api.One'), null, 'works with no connection open');
});

t('errors: EEXIST, ESRCH, EADDRINUSE, EINVAL with messages naming the rule', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.requestName('org.api.Two');
  assert.is(code(() => b.requestName('org.api.Two')), 'EEXIST');
  assert.is(code(() => b.releaseName('org.api.Two')), 'EADDRINUSE');
  assert.is(code(() => b.releaseName('org.api.Three')), 'ESRCH');
  assert.is(code(() => b.send('org.api.Three', null)), 'ESRCH');
  try { b.requestName('bad'); assert.unreachable(); } catch (e) { assert.match((e as BusError).message, /not a well-known name/); }
  assert.is(code(() => b.requestName('org.api.X', { queue: 1 as unknown as boolean })), 'EINVAL');
  assert.is(code(() => b.requestName(5 as unknown as string)), 'EINVAL');
  a.close();
  b.close();
  assert.is(code(() => a.requestName('org.api.Two')), 'ECONNRESET');
});

t.run();
