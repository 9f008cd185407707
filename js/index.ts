// TEMPORARY placeholder so the build works; the real public API replaces this file.
export const version = '0.0.0';
