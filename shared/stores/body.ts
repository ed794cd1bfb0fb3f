import { InputError } from "../errors.ts";
import { abortable } from "./abortable.ts";

/**
 * Chunks of a put's `body`, checked to be bytes; stops waiting on a stuck body the moment `signal`
 * aborts, and releases the body when left early. `at` names the put in the InputError for non-bytes.
 */
export async function* chunksOf(
  body: AsyncIterable<unknown>,
  signal: AbortSignal | undefined,
  at: string,
): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const next = await abortable(() => it.next(), signal);
      if (next.done) {
        done = true;
        return;
      }
      if (!(next.value instanceof Uint8Array)) {
        throw new InputError(`${at}: the body yielded a ${typeof next.value}, expected bytes (Uint8Array)`);
      }
      yield next.value;
    }
  } finally {
    if (!done) {
      // Not awaited: a stuck async generator runs return() only after its pending await settles,
      // which may be never. A Readable is destroyed directly for the same reason.
      const destroy = (body as { destroy?: unknown }).destroy;
      if (typeof destroy === "function") destroy.call(body);
      else
        Promise.resolve()
          .then(() => it.return?.())
          .catch(() => {});
    }
  }
}
