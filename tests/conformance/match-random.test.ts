// The match table under a seeded random sequence (BUS_VERSION 16: its free list): MATCH_ADD
// (with and without REPLACE), MATCH_REMOVE and connections closing and opening, on a table
// small enough to fill, against a model of which entries each connection holds. After every
// step: MATCH_ADD's ENFILE exactly when the model's table is full, MATCH_REMOVE's EBADSLT
// exactly when the cookie has no entry, BUS_NAME_RULES the model's count of NAME rules, the
// whole bus consistent (checkBus: the free list and the chains hold every entry below the
// high-water mark once), and a broadcast from a fixed sender delivered to exactly the
// connections whose entries the model says match it (a freed entry matches nothing, a taken
// one only its new rules). Raw ABI, both engines.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { checkBus } from '../helpers/check.ts';
import { prng } from '../helpers/diffkit.ts';
import { ALL, type Item, type Raw } from '../helpers/raw.ts';

const TABLE = 24;
const t = busSuite('MATCH (seeded random)', { limits: { threads: 4, connections: 8, poolMax: 262144, names: 16, matches: TABLE, replies: 16 } });
const BLOOM = 64;
const STEPS = 500;

type H = ReturnType<typeof open>;
/** the rule kinds the model knows, and whether each matches a broadcast from the fixed sender S (owner of org.r.A) */
const KINDS = ['all', 'nameA', 'nameB', 'idS', 'idX'] as const;
type Kind = (typeof KINDS)[number];
const MATCHES_S: Record<Kind, boolean> = { all: true, nameA: true, nameB: false, idS: true, idX: false };
const isName = (k: Kind) => k === 'nameA' || k === 'nameB';

function rules(kind: Kind, s: H): Item[] {
  switch (kind) {
    case 'all': return [];
    case 'nameA': return [{ type: A.ITEM_NAME, data: 'org.r.A' }];
    case 'nameB': return [{ type: A.ITEM_NAME, data: 'org.r.B' }];
    case 'idS': return [{ type: A.ITEM_ID, data: [s.id] }];
    case 'idX': return [{ type: A.ITEM_ID, data: [999_999] }];
  }
}
const nameRules = (raw: Raw) => raw.e.u32[(A.BUS_BASE + A.BUS_NAME_RULES) >>> 2];

/** Receive everything queued for `h` and free it; returns how many messages came from `src`. */
function drainFrom(raw: Raw, h: H, src: number): number {
  let n = 0;
  for (;;) {
    const m = raw.recv(h.slot, h.gen);
    if (m.r === -A.EAGAIN) return n;
    assert.is(m.r, 0);
    if (raw.r64(raw.slice(h.slot, m.offset) + A.MSG_SRC_ID) === src) n++;
    assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  }
}

for (const seed of [1, 2, 3]) {
  t(`seed ${seed}: ${STEPS} steps of MATCH_ADD / REPLACE / MATCH_REMOVE / close / open agree with the model`, ({ raw }) => {
    const rnd = prng(seed);
    const s = open(raw); // the sender: owns org.r.A, holds no entries, never closes
    assert.is(raw.nameAcquire(s.slot, s.gen, 'org.r.A').r, 0);
    // the model: each open connection's entries, as [cookie, kind]
    const conns: { h: H; entries: [number, Kind][] }[] = [];
    const live = () => conns.reduce((n, c) => n + c.entries.length, 0);
    const counts = { add: 0, replace: 0, remove: 0, enfile: 0, ebadslt: 0, close: 0, open: 0 };
    for (let step = 0; step < STEPS; step++) {
      const where = `seed ${seed} step ${step}`;
      const op = rnd.next();
      if (conns.length < 2 || (op < 0.08 && conns.length < 6)) {
        conns.push({ h: open(raw), entries: [] });
        counts.open++;
      } else if (op < 0.16) {
        // a close: its queue drained first (a plain BYEBYE), its entries back on the free list
        const i = rnd.int(conns.length), c = conns[i];
        drainFrom(raw, c.h, -1);
        assert.is(raw.byebye(c.h.slot, c.h.gen), 0, where);
        conns.splice(i, 1);
        counts.close++;
      } else if (op < 0.3) {
        const c = rnd.pick(conns), cookie = 1 + rnd.int(4);
        const gone = c.entries.filter(([k]) => k === cookie).length;
        const r = raw.matchRemove(c.h.slot, c.h.gen, cookie);
        if (gone === 0) { assert.is(r, -A.EBADSLT, `${where}: MATCH_REMOVE of a cookie without entries`); counts.ebadslt++; }
        else { assert.is(r, 0, where); c.entries = c.entries.filter(([k]) => k !== cookie); counts.remove++; }
      } else {
        const c = rnd.pick(conns), cookie = 1 + rnd.int(4), kind = rnd.pick([...KINDS]);
        const replace = rnd.next() < 0.3;
        const gone = replace ? c.entries.filter(([k]) => k === cookie).length : 0;
        const r = raw.matchAdd(c.h.slot, c.h.gen, cookie, { flags: replace ? A.MATCH_REPLACE : 0, items: rules(kind, s) });
        if (gone === 0 && live() >= TABLE) { assert.is(r, -A.ENFILE, `${where}: MATCH_ADD on a full table`); counts.enfile++; }
        else {
          assert.is(r, 0, `${where}: MATCH_ADD (${live()} of ${TABLE} entries live, replace ${replace}, ${gone} replaced)`);
          if (replace) { c.entries = c.entries.filter(([k]) => k !== cookie); counts.replace++; } else counts.add++;
          c.entries.push([cookie, kind]);
        }
      }
      assert.is(nameRules(raw), conns.reduce((n, c) => n + c.entries.filter(([, k]) => isName(k)).length, 0), `${where}: BUS_NAME_RULES`);
      assert.equal(checkBus(raw.e), [], `${where}: consistent`);
      // a broadcast from S reaches exactly the connections with an entry that matches it
      assert.is(raw.send(s.slot, s.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [{ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + BLOOM) }] }), 0, where);
      for (const c of conns) {
        const want = c.entries.some(([, k]) => MATCHES_S[k]) ? 1 : 0;
        assert.is(drainFrom(raw, c.h, s.id), want, `${where}: the broadcast to conn ${c.h.id} (entries ${c.entries.map(([k, x]) => `${k}:${x}`).join(' ')})`);
      }
      drainFrom(raw, s, -1);
    }
    // every op came up, and the table still fills to exactly its size
    for (const [k, v] of Object.entries(counts)) assert.ok(v > 0, `seed ${seed}: no ${k} in ${STEPS} steps`);
    for (const c of conns) { drainFrom(raw, c.h, -1); assert.is(raw.byebye(c.h.slot, c.h.gen), 0); }
    const f = open(raw);
    for (let i = 0; i < TABLE; i++) assert.is(raw.matchAdd(f.slot, f.gen, 100 + i), 0, `entry ${i} of ${TABLE} on an emptied table`);
    assert.is(raw.matchAdd(f.slot, f.gen, 200), -A.ENFILE, 'the table full again');
    assert.equal(checkBus(raw.e), []);
    drainFrom(raw, f, -1);
    drainFrom(raw, s, -1);
    assert.is(raw.nameRelease(s.slot, s.gen, 'org.r.A'), 0);
    drainFrom(raw, f, -1);
  });
}

t.run();
