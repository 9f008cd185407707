// status: credentials from a Linux /proc/<pid>/status text (Node and Deno providers).
import type { Creds } from './provider.ts';

/** Parse the Uid: and Gid: lines (real, effective, saved, fs). */
export function parseStatusCreds(text: string, out: Creds): boolean {
  const uid = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text);
  const gid = /^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text);
  if (!uid || !gid) return false;
  out.uid = +uid[1]; out.euid = +uid[2]; out.suid = +uid[3]; out.fsuid = +uid[4];
  out.gid = +gid[1]; out.egid = +gid[2]; out.sgid = +gid[3]; out.fsgid = +gid[4];
  return true;
}
