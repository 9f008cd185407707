// deno-granted: whether Deno grants a permission, asked without a prompt. A read or call that
// Deno does not allow asks the terminal, when there is one, rather than failing (13 prompts for
// a Bus.create without -A, an outside audit, stop 31); Deno.permissions.querySync never
// prompts, so every Deno read of the host (/proc, Deno.uid/gid, the core's file) is made only
// where this says it is granted. Outside Deno, and in a Deno without querySync: false.

declare const Deno: {
  permissions?: { querySync?(desc: { name: string; kind?: string; path?: string }): { state: string } };
} | undefined;

/** Is `desc` granted (Deno.permissions.querySync says "granted")? Never prompts, never throws. */
export function denoGranted(desc: { name: string; kind?: string; path?: string }): boolean {
  try { return typeof Deno !== 'undefined' && Deno.permissions?.querySync?.(desc).state === 'granted'; } catch { return false; }
}
