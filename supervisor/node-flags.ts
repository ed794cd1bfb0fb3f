/**
 * Flags for every Node process ferry starts (workers, the detached supervisor, CLI runs in tests);
 * the ./ferry wrapper passes the same ones.
 * - ExperimentalWarning: type stripping is stable in Node 24 but still announces itself.
 * - MaxListenersExceededWarning: @google-cloud/storage's HTTP layer (teeny-request 11) puts more
 *   than 10 listeners on each download's own stream, which trips Node's leak warning on GCS reads;
 *   each stream is dropped after its download (googleapis/google-cloud-node#9185).
 */
export const NODE_FLAGS = [
  "--disable-warning=ExperimentalWarning",
  "--disable-warning=MaxListenersExceededWarning",
] as const;
