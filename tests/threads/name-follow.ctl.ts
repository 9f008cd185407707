// The control words of name-follow.test.ts and its worker (an Int32Array over a
// SharedArrayBuffer): CMD holds (n << 8) | command for the worker's n-th command, DONE the
// number of the last command it finished.
export const CMD = 0, DONE = 1, CTL_WORDS = 2;
export const ACQUIRE = 1, RELEASE = 2, CLOSE = 3, REPORT = 4, LEAVE = 9;
