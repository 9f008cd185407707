// names: the rules for names: connection descriptions and well-known names (D-Bus rules,
// as kdbus checks them). The names issue adds NAME_ACQUIRE / NAME_RELEASE and the registry here.
import * as A from "../js/shared/abi";
import { ld8 } from "./mem";
import { fail, failArg } from "./reason";

function isAlnum(ch: u32): bool {
  return (ch >= 48 && ch <= 57) || (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122);
}

/** CONN_DESCRIPTION: [A-Za-z0-9_.-], not starting or ending with '.' or '-'. 0 or -errno. */
export function descValid(s: u32, len: u32): i32 {
  if (len > u32(A.MAX_DESC_LEN)) return failArg(A.ENAMETOOLONG, A.R_DESC_LONG, len);
  if (len == 0) return fail(A.EINVAL, A.R_DESC_EMPTY);
  for (let i: u32 = 0; i < len; i++) {
    const ch = ld8(s + i);
    if (!(isAlnum(ch) || ch == 95 || ch == 46 || ch == 45)) return failArg(A.EINVAL, A.R_DESC_CHARS, i);
  }
  const first = ld8(s), last = ld8(s + len - 1);
  if (first == 46 || first == 45 || last == 46 || last == 45) return fail(A.EINVAL, A.R_DESC_EDGE);
  return 0;
}

/**
 * Well-known name: >= 2 elements separated by '.', none empty, [A-Za-z0-9_-], no element
 * starting with a digit, at most MAX_NAME_LEN bytes.
 */
export function nameValid(s: u32, len: u32): bool {
  if (len < 3 || len > u32(A.MAX_NAME_LEN)) return false;
  let dots = 0, elemStart = true;
  for (let i: u32 = 0; i < len; i++) {
    const ch = ld8(s + i);
    if (ch == 46) {
      if (elemStart) return false;
      dots++;
      elemStart = true;
      continue;
    }
    if (!(isAlnum(ch) || ch == 95 || ch == 45)) return false;
    if (elemStart && ch >= 48 && ch <= 57) return false;
    elemStart = false;
  }
  return dots >= 1 && !elemStart;
}
