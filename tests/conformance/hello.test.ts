// HELLO and BYEBYE: every EINVAL / ENAMETOOLONG / EOPNOTSUPP of KDBUS.md, the HELLO slice,
// ids, the (slot, gen) handle.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { ALL, str } from '../helpers/raw.ts';

const t = busSuite('HELLO / BYEBYE');

t('HELLO: id from 1, bus id128, bus flags, one BLOOM_PARAMETER slice to free', ({ raw, bus, e }) => {
  const h = raw.hello({ attachSend: ALL, attachRecv: ALL });
  assert.is(h.r, 0, 'first slot');
  assert.is(h.id, 1);
  assert.equal(h.id128, bus.id128);
  assert.is(h.busFlags, 0n);
  assert.is(h.itemsSize, A.BLOOM_PARAMETER_ITEM_SIZE);
  const p = raw.slice(h.slot, h.offset);
  assert.is(raw.r64(p + A.ITEM_SIZE), 32);
  assert.is(raw.r64(p + A.ITEM_TYPE), A.ITEM_BLOOM_PARAMETER);
  assert.is(raw.r64(p + 16), bus.bloom.size);
  assert.is(raw.r64(p + 24), bus.bloom.hashes);
  assert.ok(e.poolUsed(h.slot) > 0);
  assert.is(raw.free(h.slot, h.gen, h.offset), 0);
  assert.is(e.poolUsed(h.slot), 0);
  const h2 = open(raw);
  assert.is(h2.id, 2);
});

t('HELLO: pool_size 0 or not a multiple of 4096 -> EINVAL; over poolMax -> ENOMEM', ({ raw, bus }) => {
  for (const s of [0n, 100n, 4097n, 1n << 32n]) assert.is(raw.hello({ poolSize: s }).r, -A.EINVAL, `pool ${s}`);
  assert.is(raw.hello({ poolSize: bus.limits.poolMax + 4096 }).r, -A.ENOMEM);
  open(raw, { poolSize: bus.limits.poolMax });
});

t('HELLO: unknown flags, attach bits outside ALL -> EINVAL; ~0 means ALL', ({ raw }) => {
  assert.is(raw.hello({ flags: 16 }).r, -A.EINVAL);
  assert.is(raw.hello({ flags: 1n << 33n }).r, -A.EINVAL);
  assert.is(raw.hello({ attachSend: 0x4000 }).r, -A.EINVAL);
  assert.is(raw.hello({ attachRecv: 1n << 40n }).r, -A.EINVAL);
  const h = open(raw, { attachSend: ALL, attachRecv: ALL, flags: A.HELLO_ACCEPT_FD });
  const c = raw.e.connAddr(h.slot);
  assert.is(raw.r64(c + A.CONN_ATTACH_SEND), A.ATTACH_ALL);
  assert.is(raw.r64(c + A.CONN_ATTACH_RECV), A.ATTACH_ALL);
});

t('HELLO: more than one of ACTIVATOR / POLICY_HOLDER / MONITOR -> EINVAL; a policy holder -> EOPNOTSUPP', ({ raw }) => {
  const name = str(A.ITEM_NAME, 'org.example.Foo');
  assert.is(raw.hello({ flags: A.HELLO_MONITOR | A.HELLO_POLICY_HOLDER }).r, -A.EINVAL);
  assert.is(raw.hello({ flags: A.HELLO_ACTIVATOR | A.HELLO_MONITOR, items: [name] }).r, -A.EINVAL);
  assert.is(raw.hello({ flags: A.HELLO_POLICY_HOLDER }).r, -A.EOPNOTSUPP);
  // monitors and activators are built (monitor.test.ts, activator.test.ts)
  const a = open(raw, { flags: A.HELLO_ACTIVATOR, items: [name] });
  const m = open(raw, { flags: A.HELLO_MONITOR });
  assert.is(raw.byebye(m.slot, m.gen), 0);
  assert.is(raw.byebye(a.slot, a.gen), 0);
});

t('HELLO: ACTIVATOR without NAME, or NAME without ACTIVATOR -> EINVAL', ({ raw }) => {
  assert.is(raw.hello({ flags: A.HELLO_ACTIVATOR }).r, -A.EINVAL);
  assert.is(raw.hello({ items: [str(A.ITEM_NAME, 'org.example.Foo')] }).r, -A.EINVAL);
});

t('HELLO: description rules', ({ raw, e }) => {
  const d = (s: string) => raw.hello({ items: [str(A.ITEM_CONN_DESCRIPTION, s)] }).r;
  assert.is(d('x'.repeat(64)), -A.ENAMETOOLONG);
  assert.is(d(''), -A.EINVAL);
  for (const bad of ['.a', 'a.', '-a', 'a-', 'a b', 'ä', 'a/b']) assert.is(d(bad), -A.EINVAL, bad);
  const h = open(raw, { items: [str(A.ITEM_CONN_DESCRIPTION, 'x'.repeat(63))] });
  const h2 = open(raw, { items: [str(A.ITEM_CONN_DESCRIPTION, 'a.b-c_9')] });
  const c = e.connAddr(h2.slot);
  assert.is(new TextDecoder().decode(e.u8.slice(c + A.CONN_DESC, c + A.CONN_DESC + 7)), 'a.b-c_9');
  assert.ok(h.slot !== h2.slot);
});

t('HELLO: malformed items -> EINVAL (unknown type, duplicate, bad string, outside the command)', ({ raw }) => {
  assert.is(raw.hello({ items: [{ type: A.ITEM_ID, data: [1] }] }).r, -A.EINVAL, 'unknown item');
  const dd = str(A.ITEM_CONN_DESCRIPTION, 'a');
  assert.is(raw.hello({ items: [dd, dd] }).r, -A.EINVAL, 'duplicate');
  assert.is(raw.hello({ items: [{ type: A.ITEM_CONN_DESCRIPTION, data: new Uint8Array([97, 98]) }] }).r, -A.EINVAL, 'no NUL');
  assert.is(raw.hello({ items: [{ type: A.ITEM_CONN_DESCRIPTION, data: new Uint8Array([97, 0, 98, 0]) }] }).r, -A.EINVAL, 'inner NUL');
  assert.is(raw.hello({ items: [{ type: A.ITEM_CONN_DESCRIPTION, data: 'ab', size: 8 }] }).r, -A.EINVAL, 'item smaller than its header');
  assert.is(raw.hello({ items: [{ type: A.ITEM_CONN_DESCRIPTION, data: 'ab', size: 64 }] }).r, -A.EINVAL, 'item beyond the command');
  assert.is(raw.hello({ size: 90 }).r, -A.EINVAL, 'command smaller than the struct');
  assert.is(raw.hello({ size: A.CMD_MAX + 8 }).r, -A.EMSGSIZE, 'command over 32 KiB');
});

t('HELLO: a full connection table -> ENFILE, and the slot is reused after BYEBYE with a new id', ({ raw, bus }) => {
  const hs = [];
  for (let i = 0; i < bus.limits.connections; i++) hs.push(open(raw));
  assert.is(raw.hello().r, -A.ENFILE);
  assert.is(raw.byebye(hs[3].slot, hs[3].gen), 0);
  const h = open(raw);
  assert.is(h.slot, hs[3].slot);
  assert.is(h.id, bus.limits.connections + 1, 'ids are never reused');
  assert.ok(h.gen !== hs[3].gen, 'new generation');
});

t('BYEBYE: EBUSY with a queued message (nothing changes), ECONNRESET the second time', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), 0);
  assert.is(raw.byebye(b.slot, b.gen), -A.EBUSY);
  assert.is(e.queued(b.slot), 1);
  const m = raw.recv(b.slot, b.gen);
  assert.is(m.r, 0);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  assert.is(raw.byebye(b.slot, b.gen), 0);
  assert.is(raw.byebye(b.slot, b.gen), -A.ECONNRESET);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), -A.ENXIO, 'a closed peer is gone');
  assert.is(raw.recv(b.slot, b.gen).r, -A.ECONNRESET);
  assert.is(raw.free(b.slot, b.gen, 0), -A.ECONNRESET);
  assert.is(raw.send(b.slot, b.gen, { msg: { dst: a.id } }), -A.ECONNRESET);
});

t('BYEBYE_DROP (wasmbus): closes with messages queued (a send reserved into it: tests/conformance/thread.test.ts); another flag is EINVAL (R_CMD_FLAGS), nothing changed', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.byebye(b.slot, b.gen, 2), -A.EINVAL);
  assert.equal(raw.reason, { reason: A.R_CMD_FLAGS, arg: A.BYEBYE_DROP });
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), 0);
  assert.is(raw.byebye(b.slot, b.gen), -A.EBUSY);
  assert.equal(raw.reason, { reason: A.R_BYEBYE_QUEUED, arg: 2 });
  assert.is(e.queued(b.slot), 2, 'nothing changed');
  assert.is(raw.byebye(b.slot, b.gen, A.BYEBYE_DROP), 0);
  assert.is(raw.byebye(b.slot, b.gen, A.BYEBYE_DROP), -A.ECONNRESET);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id } }), -A.ENXIO, 'gone');
});

t('BYEBYE: flags or items -> EINVAL; a handle out of range -> EBADF', ({ raw, bus }) => {
  const a = open(raw);
  assert.is(raw.byebye(a.slot, a.gen, 2), -A.EINVAL, 'a flag other than BYEBYE_DROP');
  assert.is(raw.byebye(a.slot, a.gen, 2 ** 32), -A.EINVAL, 'a flag in the high word');
  assert.is(raw.byebye(a.slot, a.gen, 0, 40), -A.EINVAL);
  assert.is(raw.byebye(a.slot, a.gen, 0, 16), -A.EINVAL);
  assert.is(raw.byebye(bus.limits.connections, 1), -A.EBADF);
  assert.is(raw.recv(-1 >>> 0, 1).r, -A.EBADF);
});

t.run();
