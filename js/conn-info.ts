// conn-info: the API side of UPDATE, CONN_INFO and BUS_CREATOR_INFO for a connection:
// encode the command, run it, decode the kdbus_info slice the core wrote into the caller's
// pool (every metadata item, decoded into one object: these are not per-message paths) and
// FREE it.
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import type { Engine } from './engine.ts';
import { get64 } from './wire.ts';
import { UPDATE, INFO, FREE, checkCmd, commandError } from './cmd/index.ts';
import { attachArg, type AttachSpec } from './attach.ts';
import { decodeAll, type MetadataItems } from './metadata.ts';
import { kindOf, options } from './args.ts';

const UPDATE_KEYS = ['attachSend', 'attachRecv'] as const;
const INFO_KEYS = ['attach'] as const;

/** What CONN_INFO says about a connection: its id, its HELLO flags, and its metadata. */
export interface ConnectionInfo extends MetadataItems {
  id: number;
  flags: number;
}

export interface UpdateOptions {
  /** the new send mask (what receivers may see); absent: kept */
  attachSend?: AttachSpec | undefined;
  /** the new receive mask (what this connection wants); absent: kept */
  attachRecv?: AttachSpec | undefined;
}

/** The connection a command of this module runs on: `live(op)` is its engine, or throws ECONNRESET once it is closed (Connection.live). */
export interface InfoConn { live(op: string): Engine; readonly slot: number; readonly gen: number }

export interface InfoOptions {
  /** the items asked for (default 'all'), limited by the target's send mask */
  attach?: AttachSpec | undefined;
}


/** UPDATE: change either attach mask; applies from the next message on. */
export function updateAttach(c: InfoConn, opts: UpdateOptions): void {
  if (opts === undefined) throw new BusError(A.EINVAL, 'update', "options must be an object like { attachRecv: ['creds'] }, got undefined");
  const o = options<UpdateOptions>('update', opts, UPDATE_KEYS, "{ attachRecv: ['creds'] }");
  const oSend = o.attachSend, oRecv = o.attachRecv; // (each read once)
  const send = oSend === undefined ? -1 : attachArg('update', 'attachSend', oSend, 0);
  const recv = oRecv === undefined ? -1 : attachArg('update', 'attachRecv', oRecv, 0);
  const e = c.live('update'); // (after the caller's getters, which may have closed the connection)
  UPDATE.encode(e.u32, e.cmd, send, recv);
  checkCmd(e.u32, e.cmd, e.update(c.slot, c.gen), 'update', UPDATE.NAME);
}

/** Decode and FREE the kdbus_info slice at pool offset `off` of connection `slot`. */
function takeInfo(e: Engine, slot: number, gen: number, off: number): ConnectionInfo {
  const { u8, u32 } = e;
  const s = e.poolBase(slot) + off;
  const size = get64(u32, s + A.KINFO_SIZE);
  const info: ConnectionInfo = { id: get64(u32, s + A.KINFO_ID), flags: get64(u32, s + A.KINFO_FLAGS), ...decodeAll(u8, u32, s + A.KINFO_HDR, s + size) };
  FREE.encode(u32, e.cmd, off);
  const r = e.free(slot, gen);
  if (r < 0) throw commandError(u32, e.cmd, r, 'info', FREE.NAME, { offset: off });
  return info;
}

/** CONN_INFO by id or by well-known name (its primary owner), through connection (slot, gen)'s pool. */
export function connInfo(c: InfoConn, id: number | string, opts?: InfoOptions): ConnectionInfo {
  const o = options<InfoOptions>('info', opts, INFO_KEYS, "{ attach: ['creds'] }");
  const attach = attachArg('info', 'attach', o.attach, A.ATTACH_ALL);
  const e = c.live('info'), { slot, gen } = c; // (after the caller's getters, which may have closed the connection)
  // a unique name of this bus (:1.<id>), as send() takes it: that id
  // (the name as given is what an error quotes: a rounded id was quoted before stop 48, an outside audit)
  const given = id;
  if (typeof id === 'string' && /^:1\.\d+$/.test(id)) id = Number(id.slice(3));
  if (typeof id === 'string') {
    const bytes = new TextEncoder().encode(id);
    if (bytes.length + 1 + A.ITEM_HDR > 4096) throw new BusError(A.EINVAL, 'info', 'name too long');
    INFO.encodeByName(e.u8, e.u32, e.cmd, bytes, attach);
    checkCmd(e.u32, e.cmd, e.connInfo(slot, gen), 'info', INFO.NAME, { name: id });
    return takeInfo(e, slot, gen, INFO.offset(e.u32, e.cmd));
  }
  if (!Number.isSafeInteger(id) || id < 0) throw new BusError(A.EINVAL, 'info', `id must be a connection id (a non-negative safe integer, or ":1.<id>") or a well-known name, got ${typeof given === 'string' ? JSON.stringify(given) : typeof id === 'number' ? String(id) : kindOf(id)}`);
  INFO.encode(e.u32, e.cmd, id, attach);
  checkCmd(e.u32, e.cmd, e.connInfo(slot, gen), 'info', INFO.NAME);
  return takeInfo(e, slot, gen, INFO.offset(e.u32, e.cmd));
}

/** BUS_CREATOR_INFO, through connection (slot, gen)'s pool. */
export function creatorInfo(c: InfoConn, opts?: InfoOptions): ConnectionInfo {
  const o = options<InfoOptions>('creatorInfo', opts, INFO_KEYS, "{ attach: ['creds'] }");
  const attach = attachArg('creatorInfo', 'attach', o.attach, A.ATTACH_ALL);
  const e = c.live('creatorInfo'), { slot, gen } = c; // (after the caller's getters, which may have closed the connection)
  INFO.encode(e.u32, e.cmd, 0, attach);
  checkCmd(e.u32, e.cmd, e.busCreatorInfo(slot, gen), 'creatorInfo', INFO.CREATOR_NAME);
  return takeInfo(e, slot, gen, INFO.offset(e.u32, e.cmd));
}
