// privdrop-child: the child process of privdrop.test.ts (Node, as root, through tsx). Every
// module is loaded before the drop. A service and a client connect as root; the service
// records the client's id and its HELLO credentials (CONN_INFO); the process drops to
// uid/gid 65534 (process.setgroups / setgid / setuid, which the Node provider wraps to move
// the credential generation); the client sends again. Prints one JSON line on stdout.
// The provider uses ttlMs: Infinity, so only that generation can make the core re-collect.
import process from 'node:process';
import { Bus, type EngineKind } from '../../js/index.ts';
import { NodeProvider } from '../../js/host/node.ts';

const engine = process.argv[2] as EngineKind;
const bus = await Bus.create({ engine, provider: new NodeProvider({ ttlMs: Infinity }), limits: { threads: 2, connections: 4, poolMax: 65536 } });
const service = bus.connect({ description: 'service', attachRecv: ['creds', 'auxgroups'] });
const client = bus.connect({ description: 'client' });

const hello = service.info(client.id).creds;
client.sendText(service.id, 'as root');
const m1 = service.recv()!;
const before = { creds: m1.creds, groups: m1.groups };
m1.free();

process.setgroups!([65534]);
process.setgid!(65534);
process.setuid!(65534);

client.sendText(service.id, 'as nobody');
const m2 = service.recv()!;
const after = { creds: m2.creds, groups: m2.groups };
m2.free();
const info = service.info(client.id);
const creator = service.creatorInfo();
console.log(JSON.stringify({ hello, before, after, infoAfter: info.creds, creator: creator.creds, proc: process.getuid!() }));
client.close();
service.close();
bus.close();
