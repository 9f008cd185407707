// Many receives with timeouts parked on one connection (npm run bench:timed -- [distA distB]):
// N recvAsync({ timeout }) on one idle connection of the main thread, the timeouts spread over
// 1 s (10 ms + i / N s), all of them timing out; the process's CPU over that second and how late
// the latest timeout was told. N = 100, 1 000 and 3 000; one child process per build and N,
// builds alternated, REPS rounds each (the first a warm-up, left out), medians printed.
//
// Why: before stop 59 every expiry notified the word the receives sleep on, which woke all the
// others (an outside audit, stop 58: 1 000 of them cost 752 ms of CPU in that second). Given two
// dist/ directories (a build before and after a change), each N runs on both, alternated.
//   node bench/timed.mjs                      # this checkout's dist/
//   node bench/timed.mjs /tmp/old/dist ./dist # A and B
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import os from 'node:os';

const REPS = 5;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

if (process.env.TIMED_CHILD) {
  const { Bus, MockProvider } = await import(process.env.TIMED_CHILD + '/js/index.js');
  const N = Number(process.env.TIMED_N);
  const bus = await Bus.create({ engine: 'wasm', provider: new MockProvider() });
  const rx = bus.connect();
  const out = [];
  for (let rep = 0; rep < REPS; rep++) {
    const c0 = process.cpuUsage();
    let late = 0;
    const waits = [];
    for (let i = 0; i < N; i++) {
      const ms = 10 + (1000 * i) / N, want = performance.now() + ms;
      waits.push(rx.recvAsync({ timeout: ms }).then((m) => { m.free(); throw new Error('bench: a message came'); },
        (e) => { if (e.code !== 'ETIMEDOUT') throw e; late = Math.max(late, performance.now() - want); }));
    }
    await Promise.all(waits);
    const c = process.cpuUsage(c0);
    if (rep > 0) out.push({ cpu: (c.user + c.system) / 1000, late });
  }
  rx.close();
  bus.close();
  console.log(JSON.stringify(out));
} else {
  const dists = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : [resolve('dist')];
  console.log(`node ${process.version}, ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores; ${REPS - 1} rounds per process after a warm-up, medians`);
  console.log('| N | build | CPU in the second (ms) | latest timeout told late by (ms) |\n|---:|---|---:|---:|');
  for (const N of [100, 1000, 3000]) {
    const res = dists.map(() => ({ cpu: [], late: [] }));
    for (let pass = 0; pass < 2; pass++) {
      const order = pass === 0 ? dists.map((_, i) => i) : dists.map((_, i) => dists.length - 1 - i);
      for (const i of order) {
        const rows = JSON.parse(execFileSync(process.execPath, [new URL(import.meta.url).pathname], {
          env: { ...process.env, TIMED_CHILD: pathToFileURL(dists[i]).href, TIMED_N: String(N) }, timeout: 120_000,
        }).toString());
        for (const r of rows) { res[i].cpu.push(r.cpu); res[i].late.push(r.late); }
      }
    }
    dists.forEach((d, i) => console.log(`| ${N} | ${d} | ${median(res[i].cpu).toFixed(0)} (${Math.min(...res[i].cpu).toFixed(0)}–${Math.max(...res[i].cpu).toFixed(0)}) | ${median(res[i].late).toFixed(1)} (${Math.min(...res[i].late).toFixed(1)}–${Math.max(...res[i].late).toFixed(1)}) |`));
  }
}
