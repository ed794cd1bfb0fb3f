/**
 * `start()`'s promise, but rejecting with `signal`'s reason the moment it aborts, and not starting
 * at all when it already has. What was started is left to settle on its own: for a body that is
 * stuck or a request that never gets an answer, waiting for it is what an abort must not do.
 * Stores use it to stop waiting on a body's next chunk and on an SDK call.
 */
export function abortable<T>(start: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return start();
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const done = () => signal.removeEventListener("abort", onAbort);
    let started: Promise<T>;
    try {
      started = start();
    } catch (err) {
      done();
      reject(err);
      return;
    }
    started.then(resolve, reject).finally(done);
  });
}
