// The control words shared by aside-race.test.ts and its worker (an Int32Array over a
// SharedArrayBuffer): GO the trial begun (k; -1 ends), SLOT and GEN the connection to close,
// SPIN the worker's spin before its BYEBYE (ns), DONE the trial closed (k), RESULT the BYEBYE's
// result, FLAGS its flags.
export const GO = 0, SLOT = 1, GEN = 2, SPIN = 3, DONE = 4, RESULT = 5, FLAGS = 6;
export const CTL_WORDS = 8;
