// bloom: the bloom check of a signal against a match entry's mask (KDBUS.md, "Matches and
// bloom filters"; js/dbus/bloom.ts's bloomCheck is the same rule on the host). The filter
// (BLOOM_FILTER item: { u64 generation; u64 data[] }) has the bus's bloom_size; an entry
// stores n_gen masks of that size, generation 0 first.
import * as A from "../js/shared/abi";
import { ld32 } from "./mem";

/**
 * Does the BLOOM_FILTER item at `filter` pass the `nGen` masks at `masks` (each `size`
 * bytes)? Every bit a mask sets must be set in the filter.
 */
export function bloomCheck(filter: u32, masks: u32, nGen: u32, size: u32): bool {
  // the filter's generation, a u64: a newer sender than the subscriber knows uses the
  // subscriber's newest mask (an older generation's mask stays valid for newer filters)
  const genLo = ld32(filter + A.ITEM_HDR), genHi = ld32(filter + A.ITEM_HDR + 4);
  const g = genHi != 0 || genLo >= nGen - 1 ? nGen - 1 : genLo;
  // that generation's mask block
  const m = masks + g * size;
  // the filter's bit words, after its generation
  const f = filter + A.BLOOM_FILTER_HDR;
  // word by word (u32 halves of kdbus's u64 words: the same bits)
  for (let i: u32 = 0; i < size; i += 4) {
    const want = ld32(m + i);
    // a bit the rule needs that the signal did not set: no match
    if (u32(ld32(f + i) & want) != want) return false;
  }
  // every required bit is set: a match (or a false positive the receiver re-checks)
  return true;
}
