// Logging: a worker sends a line and exits; the receiver still decodes who sent it (pids,
// creds, comm, description) from the message itself: metadata is copied into the slice at
// SEND, it does not point back at the sender.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, terminateAll, RUNTIME } from '../helpers/worker.ts';
import { ENGINE, threadBus, READY_MS, MSG_MS } from './common.ts';

const s = suite(`threads: logging [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('a worker sends and exits; its pids, creds and comm are still in the message', async () => {
  const bus = await threadBus(ENGINE);
  const log = bus.connect({ attachRecv: ['pids', 'creds', 'tidComm', 'pidComm', 'connDescription', 'timestamp'] });
  const w = spawn(new URL('./logger.worker.ts', import.meta.url), { handle: bus.handle(), dst: log.id });
  const r = await w.next<{ done?: true; error?: string }>(READY_MS, 'the logger to send and leave');
  assert.ok(r.done, r.error);
  await w.terminate();
  const m = await log.recvAsync({ timeout: MSG_MS });
  assert.is(m.text(), 'disk almost full');
  assert.equal(m.pids, { pid: 777, tid: 778, ppid: 1 });
  assert.is(m.creds!.uid, 4242);
  assert.is(m.creds!.gid, 4243);
  assert.is(m.tidComm, 'logger');
  assert.is(m.pidComm, 'app');
  assert.is(m.description, 'logger');
  assert.ok(m.timestamp!.seqnum > 0);
  m.free();
  log.close();
  bus.close();
});

s.run();
