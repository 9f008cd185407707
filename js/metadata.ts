// metadata: decoding kdbus metadata items (TIMESTAMP … CONN_DESCRIPTION) from a run of items
// in the shared memory: a received message's, or a CONN_INFO / BUS_CREATOR_INFO slice's. Each
// decoder reads one item kind on demand; nothing is decoded (or allocated) unless asked.
import * as A from './shared/abi.ts';
import { get64, get64big } from './wire.ts';
import { itemSize, itemType, align8 } from './cmd/items.ts';
import type { Audit, Caps, Creds, Pids } from './host/provider.ts';
import { CREDS_FIELDS } from './host/provider.ts';

export interface Timestamp {
  seqnum: number;
  monotonicNs: bigint;
  realtimeNs: bigint;
}

/** An OWNED_NAME item: a name the sender owned, with its name flags. */
export interface OwnedName { name: string; flags: number }

const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // (a leading U+FEFF kept: the default drops it)

/** The first item of `type` in [start, end): its address, or -1. */
export function findItem(u32: Uint32Array, start: number, end: number, type: number): number {
  for (let p = start, size = 0; (size = itemSize(u32, p, end)) !== 0; p += align8(size)) {
    if (itemType(u32, p) === type) return p;
  }
  return -1;
}

const sizeOf = (u32: Uint32Array, p: number): number => u32[(p + A.ITEM_SIZE) >>> 2];

/** A NUL-terminated string item's text (copied: decoders refuse shared memory views). */
function str(u8: Uint8Array, u32: Uint32Array, p: number): string {
  const end = p + sizeOf(u32, p);
  let n = end;
  if (n > p + A.ITEM_HDR && u8[n - 1] === 0) n--;
  return decoder.decode(u8.slice(p + A.ITEM_HDR, n));
}

/** The metadata decoders, each taking the memory and the item run [start, end). */
export const decode = {
  timestamp(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): Timestamp | null {
    const p = findItem(u32, s, e, A.ITEM_TIMESTAMP);
    return p < 0 ? null : { seqnum: get64(u32, p + 16), monotonicNs: get64big(u32, p + 24), realtimeNs: get64big(u32, p + 32) };
  },
  creds(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): Creds | null {
    const p = findItem(u32, s, e, A.ITEM_CREDS);
    if (p < 0) return null;
    const c = {} as Creds;
    // (each field a u64 in the item; a Linux uid_t / gid_t is 32 bits: its low word, as documented)
    CREDS_FIELDS.forEach((f, i) => { c[f] = u32[(p + A.ITEM_HDR + i * 8) >>> 2]; });
    return c;
  },
  pids(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): Pids | null {
    const p = findItem(u32, s, e, A.ITEM_PIDS);
    return p < 0 ? null : { pid: get64(u32, p + 16), tid: get64(u32, p + 24), ppid: get64(u32, p + 32) };
  },
  groups(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): number[] | null {
    const p = findItem(u32, s, e, A.ITEM_AUXGROUPS);
    if (p < 0) return null;
    const n = (sizeOf(u32, p) - A.ITEM_HDR) >>> 3, out: number[] = [];
    for (let i = 0; i < n; i++) out.push(get64(u32, p + A.ITEM_HDR + i * 8));
    return out;
  },
  ownedNames(u8: Uint8Array, u32: Uint32Array, s: number, e: number): OwnedName[] {
    const out: OwnedName[] = [];
    for (let p = s, size = 0; (size = itemSize(u32, p, e)) !== 0; p += align8(size)) {
      if (itemType(u32, p) !== A.ITEM_OWNED_NAME) continue;
      const end = p + size - (u8[p + size - 1] === 0 ? 1 : 0);
      out.push({ flags: get64(u32, p + A.ITEM_HDR), name: decoder.decode(u8.slice(p + A.ITEM_HDR + 8, end)) });
    }
    return out;
  },
  string(u8: Uint8Array, u32: Uint32Array, s: number, e: number, type: number): string | null {
    const p = findItem(u32, s, e, type);
    return p < 0 ? null : str(u8, u32, p);
  },
  cmdline(u8: Uint8Array, u32: Uint32Array, s: number, e: number): string[] | null {
    const p = findItem(u32, s, e, A.ITEM_CMDLINE);
    if (p < 0) return null;
    const t = decoder.decode(u8.slice(p + A.ITEM_HDR, p + sizeOf(u32, p)));
    const a = t.split('\0');
    if (a.length > 0 && a[a.length - 1] === '') a.pop();
    return a;
  },
  caps(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): Caps | null {
    const p = findItem(u32, s, e, A.ITEM_CAPS);
    if (p < 0) return null;
    const words = ((sizeOf(u32, p) - A.ITEM_HDR - 4) / 16) | 0;
    const set = (k: number): Uint32Array => {
      const i = (p + A.ITEM_HDR + 4 + k * words * 4) >>> 2;
      return u32.slice(i, i + words);
    };
    return { lastCap: u32[(p + A.ITEM_HDR) >>> 2], inheritable: set(0), permitted: set(1), effective: set(2), bounding: set(3) };
  },
  audit(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): Audit | null {
    const p = findItem(u32, s, e, A.ITEM_AUDIT);
    return p < 0 ? null : { sessionid: u32[(p + 16) >>> 2], loginuid: u32[(p + 20) >>> 2] };
  },
  /**
   * The wasmbus TRUNCATED item: the attach bits of the items that were cut to fit their cap
   * (CMDLINE to whole arguments, OWNED_NAME to whole names); 0 when nothing was cut.
   */
  truncated(_u8: Uint8Array, u32: Uint32Array, s: number, e: number): number {
    const p = findItem(u32, s, e, A.ITEM_TRUNCATED);
    return p < 0 ? 0 : u32[(p + A.ITEM_HDR) >>> 2];
  },
};

/** Every metadata item of a run, decoded (CONN_INFO results: one object per call). */
export interface MetadataItems {
  creds: Creds | null;
  pids: Pids | null;
  groups: number[] | null;
  ownedNames: OwnedName[];
  tidComm: string | null;
  pidComm: string | null;
  exe: string | null;
  cmdline: string[] | null;
  /** the command line was cut to whole arguments (its cap, docs/API.md "Metadata limits") */
  cmdlineTruncated: boolean;
  /** the names were cut to those asked for first (META_NAMES_MAX): the connection owns more */
  ownedNamesTruncated: boolean;
  cgroup: string | null;
  caps: Caps | null;
  seclabel: string | null;
  audit: Audit | null;
  description: string | null;
}

export function decodeAll(u8: Uint8Array, u32: Uint32Array, s: number, e: number): MetadataItems {
  const cut = decode.truncated(u8, u32, s, e);
  return {
    creds: decode.creds(u8, u32, s, e),
    pids: decode.pids(u8, u32, s, e),
    groups: decode.groups(u8, u32, s, e),
    ownedNames: decode.ownedNames(u8, u32, s, e),
    tidComm: decode.string(u8, u32, s, e, A.ITEM_TID_COMM),
    pidComm: decode.string(u8, u32, s, e, A.ITEM_PID_COMM),
    exe: decode.string(u8, u32, s, e, A.ITEM_EXE),
    cmdline: decode.cmdline(u8, u32, s, e),
    cmdlineTruncated: (cut & A.ATTACH_CMDLINE) !== 0,
    ownedNamesTruncated: (cut & A.ATTACH_NAMES) !== 0,
    cgroup: decode.string(u8, u32, s, e, A.ITEM_CGROUP),
    caps: decode.caps(u8, u32, s, e),
    seclabel: decode.string(u8, u32, s, e, A.ITEM_SECLABEL),
    audit: decode.audit(u8, u32, s, e),
    description: decode.string(u8, u32, s, e, A.ITEM_CONN_DESCRIPTION),
  };
}
