// meta-limits: the largest metadata value of each kind that a message or a HELLO snapshot
// carries, in bytes of the kdbus item payload (strings with their terminating NUL). The memory
// never grows, so every item has a cap. Plain integer constants: compiled by asc (the core)
// and by tsc (the host); the host's imports report every value's full length, so the core
// sees when one is over its cap. Rule for a longer value (docs/API.md, "Metadata limits"):
// CMDLINE and the OWNED_NAME list are cut to whole elements and flagged (the TRUNCATED item,
// abi.ts ITEM_TRUNCATED), everything else is left out.

/** TID_COMM / PID_COMM: TASK_COMM_LEN, 15 bytes + NUL; the kernel never reports more (longer: left out). */
export const META_COMM_MAX = 16;
/** EXE: a path; 1 KiB holds any install path in practice, PATH_MAX (4096) would not fit the snapshot (longer: left out, a cut path names another file). */
export const META_EXE_MAX = 1024;
/** CMDLINE: NUL-terminated arguments; 4096 is one page, what /proc/PID/cmdline showed before Linux 4.2 (longer: truncated to whole arguments). */
export const META_CMDLINE_MAX = 4096;
/** CMDLINE: at most this many arguments (so WASI args_get needs at most 1 KiB of pointers; more: truncated like a longer one). */
export const META_CMDLINE_ARGS_MAX = 256;
/** CGROUP: the cgroup v2 path; systemd and container paths stay well below 1 KiB (longer: left out, a cut path names a parent cgroup). */
export const META_CGROUP_MAX = 1024;
/** SECLABEL: an LSM context (SELinux with MLS categories, AppArmor stacks) (longer: left out, a cut label is another label). */
export const META_SECLABEL_MAX = 1024;
/** AUXGROUPS: supplementary group ids, u64 each (more: left out, a cut list would deny a member). */
export const META_GROUPS_MAX = 64;
/** CAPS: u32 words per capability set; 2 covers last_cap up to 63, /proc prints 64-bit sets (more: left out). */
export const META_CAPS_WORDS_MAX = 2;
/**
 * One HELLO-time snapshot of every process item at its cap (item headers and 8-byte padding
 * included): CREDS 80, PIDS 40, AUXGROUPS 16 + 8 × 64, TID_COMM and PID_COMM 32 each, EXE
 * 16 + 1024, CMDLINE 16 + 4096, CGROUP 16 + 1024, CAPS 16 + 40, SECLABEL 16 + 1024, AUDIT 24
 * = 8024 bytes, which fits in 8 KiB per connection (tests/unit/providers.test.ts checks the sum).
 */
export const META_SNAPSHOT_MAX = 8192;

/**
 * OWNED_NAME items ({hdr; u64 flags; name + NUL}, 8-aligned) of one message or CONN_INFO: 4 KiB
 * holds 14 names at MAX_NAME_LEN, 73 of 30 bytes (56-byte items); a connection may own
 * MAX_NAMES_PER_CONN (256, up to 70 KiB of items), which would need 17× the buffer in every
 * thread slot. More: the list is cut to the names asked for first, whole, and flagged (the
 * TRUNCATED item). The per-thread buffer is THREAD_META_NAMES.
 */
export const META_NAMES_MAX = 4096;
