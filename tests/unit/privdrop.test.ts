// Privilege drop (Node, as root, in a child process: privdrop-child.ts): live metadata shows
// the new credentials on the client's next message, while CONN_INFO still shows the HELLO
// snapshot (and BUS_CREATOR_INFO the creator's, at Bus.create). Under Deno nothing is
// registered (the Node provider's credential setters are what is tested); not as root:
// skipped, saying why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const g = globalThis as unknown as { Deno?: unknown };
const ROOT = new URL('../../', import.meta.url);

if (g.Deno === undefined) {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const process = (await import('node:process')).default;
  const child = (engine: string) => spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./privdrop-child.ts', import.meta.url)), engine],
    { cwd: fileURLToPath(ROOT), encoding: 'utf8', timeout: 60_000 });
  for (const engine of ['wasm', 'twin']) {
    const name = `metadata [${engine}]: after a privilege drop, the next message shows uid 65534 while CONN_INFO keeps the HELLO credentials`;
    if (process.getuid!() !== 0) {
      test.skip(`${name} (skipped: needs root to setuid; CI runs as root)`, () => {});
      continue;
    }
    test(name, () => {
      const r = child(engine);
      assert.is(r.status, 0, r.stderr);
      const d = JSON.parse(r.stdout);
      const root = { uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0 };
      const nobody = { uid: 65534, euid: 65534, suid: 65534, fsuid: 65534, gid: 65534, egid: 65534, sgid: 65534, fsgid: 65534 };
      assert.equal(d.hello, root, 'CONN_INFO at HELLO');
      assert.equal(d.before.creds, root);
      assert.equal(d.after.creds, nobody, 'live: the message after the drop');
      assert.equal(d.after.groups, [65534]);
      assert.equal(d.infoAfter, root, 'CONN_INFO: still the HELLO snapshot');
      assert.equal(d.creator, root, 'BUS_CREATOR_INFO: the creator at Bus.create');
      assert.is(d.proc, 65534);
    });
  }
}

test.run();
