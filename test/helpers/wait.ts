import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `check` until it returns true, retrying through errors; a string result is the state seen,
 * quoted in the failure message with the last error.
 */
export async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<true | string>,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const r = await check();
      if (r === true) return;
      last = ` (last seen: ${r})`;
    } catch (err) {
      last = ` (last error: ${(err as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms${last}`);
    await sleep(everyMs);
  }
}
