import { setTimeout as sleep } from "node:timers/promises";

/**
 * A deliberately slow write path for chaos tests: a process can then be killed in the middle of a
 * chunk. It is an async-generator transform rather than a stream.Transform so a pending delay ends
 * the moment `signal` aborts (no timers to clear on destroy), and it still fits `stream.pipeline`.
 */
export function throttle(
  bytesPerSec: number,
): (source: AsyncIterable<Uint8Array>, options?: { signal?: AbortSignal }) => AsyncGenerator<Uint8Array> {
  if (!(Number.isFinite(bytesPerSec) && bytesPerSec > 0)) {
    throw new RangeError(`throttle: bytesPerSec must be a positive number, got ${bytesPerSec}`);
  }
  // Slices of ~50 ms worth of bytes, so the file grows steadily instead of in one late burst.
  const sliceBytes = Math.max(1, Math.floor(bytesPerSec / 20));
  return async function* throttled(source, options) {
    let started: number | undefined;
    let sent = 0;
    for await (const chunk of source) {
      started ??= performance.now();
      for (let at = 0; at < chunk.length; at += sliceBytes) {
        const slice = chunk.subarray(at, at + sliceBytes);
        sent += slice.length;
        // Wait until the moment these bytes are due at the target rate, measured from the start,
        // so delays do not accumulate scheduling error.
        const wait = started + (sent / bytesPerSec) * 1000 - performance.now();
        if (wait > 0) await sleep(wait, undefined, { signal: options?.signal });
        yield slice;
      }
    }
  };
}
