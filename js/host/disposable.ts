// disposable: Symbol.dispose and Symbol.asyncDispose in the type of Symbol, for the
// declarations of Bus, Connection and Message (`using`) in a consumer whose lib does not have
// them (es2023 and older, with the DOM lib and without @types/node): its tsc would stop at
// `[Symbol.dispose]` in our .d.ts files. The same augmentation as @types/node's and
// TypeScript's own esnext.disposable, which it merges with. Nothing at run time: whether the
// runtime has the symbols is checked where they are used (iterate.ts, defineDispose).
export {};

declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
    readonly asyncDispose: unique symbol;
  }
}
