import { pollUntil } from "../../shared/retry.ts";

/**
 * Waits until `read` returns `want` (compared with ===); the failure quotes the last value read, as
 * JSON. A read that throws fails at once. For a page, `read` runs from outside it: Playwright's
 * waitForFunction evaluates a string in the page, which the dashboard's Content-Security-Policy forbids.
 */
export function waitForValue(
  what: string,
  read: () => Promise<unknown>,
  want: unknown,
  timeoutMs: number,
): Promise<void> {
  return pollUntil(
    what,
    async () => {
      const seen = await read();
      return seen === want || `${JSON.stringify(seen)}`;
    },
    { timeoutMs, intervalMs: 200, retryable: () => false },
  );
}
