// The control words shared by activator-race.test.ts and its worker (an Int32Array over a
// SharedArrayBuffer): 0 the trial begun (k + 1), 1 the worker's spin before its change (ns),
// 2 the worker's step (-(k + 1): going, main starts sending; k + 1: changed), 3 the mode
// (0: the worker takes the name from its activator, 1: it gives the name back).
export const GO = 0, SPIN = 1, STEP = 2, MODE = 3;
export const CTL_WORDS = 4;
