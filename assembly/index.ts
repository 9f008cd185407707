// TEMPORARY placeholder so the build works; the real core entry replaces this file.
export function add(a: i32, b: i32): i32 {
  return atomic.add<i32>(1024 as usize, a) + b;
}
