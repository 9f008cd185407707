// The next message of a bench's worker, bounded: its error, its exit or `ms` of silence reject
// (a benchmark's wait on another thread has a way out, as the library's and the tests' do).
export function next(worker, ms = 30_000) {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => done(fail, new Error(`bench: a worker said nothing for ${ms / 1000} s`)), ms);
    const onMsg = (m) => done(ok, m), onErr = (e) => done(fail, e), onExit = (c) => done(fail, new Error(`bench: a worker exited (code ${c})`));
    const done = (f, v) => { clearTimeout(t); worker.off('message', onMsg); worker.off('error', onErr); worker.off('exit', onExit); f(v); };
    worker.on('message', onMsg); worker.on('error', onErr); worker.on('exit', onExit);
  });
}
