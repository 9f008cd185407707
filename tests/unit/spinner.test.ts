// The adaptive spin's probes (js/host/spin.ts), driven through Spinner.shouldSpin with the
// clock given: with the score low, the waits probe PROBE_EVERY (32) waits after it fell, each
// probe doubling the gap up to PROBE_MAX (1024) waits, whatever the waits' pace (stop 41 tried
// a probe every 32 waits while they came fast, and did not keep it: docs/BENCHMARKS.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Spinner } from '../../js/host/spin.ts';

/** which of `n` waits, `gapMs` apart from `t0`, a spinner with score 0 lets spin (1-based) */
function probes(sp: Spinner, n: number, gapMs: number, t0 = 1000): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) if (sp.shouldSpin(t0 + i * gapMs)) out.push(i);
  return out;
}
const low = (): Spinner => {
  const sp = new Spinner();
  sp.score = 0;
  return sp;
};

test('slow waits (100 a second): each probe doubles the gap to the next, up to 1024 waits', () => {
  assert.equal(probes(low(), 4000, 10), [32, 64, 128, 256, 512, 1024, 2048, 3072]);
});

test.run();
