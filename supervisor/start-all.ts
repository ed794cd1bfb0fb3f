/**
 * Starts every named thing at once and returns them by name; when any start fails, the ones that did
 * start are stopped and the first failure is rethrown, so a caller never holds half a set.
 */
export async function startAll<T>(
  starts: ReadonlyArray<readonly [name: string, start: () => Promise<T>]>,
  stop: (started: T) => Promise<void>,
): Promise<Map<string, T>> {
  const results = await Promise.allSettled(starts.map(([, start]) => start()));
  const started = new Map<string, T>();
  let failure: { reason: unknown } | undefined;
  for (const [i, result] of results.entries()) {
    const name = starts[i]?.[0] ?? String(i);
    if (result.status === "fulfilled") started.set(name, result.value);
    else failure ??= { reason: result.reason };
  }
  if (failure) {
    await Promise.all([...started.values()].map(stop));
    throw failure.reason;
  }
  return started;
}
