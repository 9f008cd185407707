// identity: a MockProvider identity with every metadata item configured (metadata tests, differential test).
import type { MockIdentity } from '../../js/index.ts';

export const FULL: MockIdentity = {
  creds: { uid: 1, euid: 2, suid: 3, fsuid: 4, gid: 5, egid: 6, sgid: 7, fsgid: 8 },
  pids: { pid: 100, tid: 101, ppid: 1 },
  groups: [10, 20, 30],
  comm: { thread: 'worker-1', process: 'node' },
  exe: '/usr/bin/node',
  cmdline: ['node', 'app.js', '--flag'],
  cgroup: '/user.slice/app.scope',
  caps: { lastCap: 40, inheritable: [0, 0], permitted: [0xffffffff, 0x1ff], effective: [1, 0], bounding: [0xffffffff, 0x1ff] },
  seclabel: 'unconfined',
  audit: { loginuid: 1000, sessionid: 4294967295 },
};
