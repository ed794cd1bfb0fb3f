import { describe, expect, it } from "vitest";
import { FerryError } from "../../shared/errors.ts";
import { backoffMs, becomesTrue, PollTimeoutError, pollUntil, retry } from "../../shared/retry.ts";

describe("backoffMs", () => {
  it("doubles from the base, stays within the upper half of its ceiling, and stops at the cap", () => {
    for (let i = 0; i < 200; i++) {
      const first = backoffMs(1, 100, 10_000);
      expect(first).toBeGreaterThanOrEqual(50);
      expect(first).toBeLessThanOrEqual(100);
      const third = backoffMs(3, 100, 10_000);
      expect(third).toBeGreaterThanOrEqual(200);
      expect(third).toBeLessThanOrEqual(400);
      const capped = backoffMs(30, 100, 1000);
      expect(capped).toBeGreaterThanOrEqual(500);
      expect(capped).toBeLessThanOrEqual(1000);
    }
  });

  it("jitters: delays of the same attempt differ", () => {
    const seen = new Set(Array.from({ length: 50 }, () => backoffMs(5, 1000, 60_000)));
    expect(seen.size).toBeGreaterThan(10);
  });
});

describe("retry", () => {
  it("tries until the operation succeeds, telling onRetry each failure", async () => {
    const failures: number[] = [];
    const result = await retry(
      async (attempt) => {
        if (attempt < 3) throw new Error(`try ${attempt}`);
        return attempt;
      },
      { attempts: 5, baseMs: 1, onRetry: (_err, attempt) => failures.push(attempt) },
    );
    expect(result).toBe(3);
    expect(failures).toEqual([1, 2]);
  });

  it("throws the last failure once the attempts are used up", async () => {
    let tries = 0;
    await expect(
      retry(
        async (attempt) => {
          tries++;
          throw new Error(`try ${attempt}`);
        },
        { attempts: 3, baseMs: 1 },
      ),
    ).rejects.toThrow("try 3");
    expect(tries).toBe(3);
  });

  it("stops at once on a failure that is not retryable", async () => {
    let tries = 0;
    await expect(
      retry(
        async () => {
          tries++;
          throw new TypeError("bad input");
        },
        { attempts: 5, baseMs: 1, retryable: (err) => !(err instanceof TypeError) },
      ),
    ).rejects.toThrow("bad input");
    expect(tries).toBe(1);
  });

  it("throws the abort reason when aborted while waiting between tries", async () => {
    const stop = new AbortController();
    const reason = new Error("stopped");
    setTimeout(() => stop.abort(reason), 20);
    await expect(
      retry(
        async () => {
          throw new Error("down");
        },
        { attempts: 10, baseMs: 10_000, signal: stop.signal },
      ),
    ).rejects.toBe(reason);
  });
});

describe("pollUntil and becomesTrue", () => {
  it("resolves once the check answers true, counting a throwing check as not yet", async () => {
    let n = 0;
    await pollUntil(
      "third time",
      async () => {
        n++;
        if (n === 1) throw new Error("not up");
        return n >= 3 || `n=${n}`;
      },
      { timeoutMs: 2000, intervalMs: 1 },
    );
    expect(n).toBe(3);
  });

  it("ends at once with a check's error that is not retryable", async () => {
    let n = 0;
    const broken = new TypeError("bad check");
    const err = await pollUntil(
      "never",
      async () => {
        n++;
        if (n === 2) throw broken;
        throw new Error("not up");
      },
      { timeoutMs: 2000, intervalMs: 1, retryable: (e) => !(e instanceof TypeError) },
    ).catch((e: unknown) => e);
    expect(err).toBe(broken);
    expect(n).toBe(2);
  });

  it("names the condition and the last state seen when it times out", async () => {
    const err = await pollUntil("the leaf links", async () => "aws not linked", { timeoutMs: 30, intervalMs: 5 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PollTimeoutError);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as Error).name).toBe("PollTimeoutError");
    expect((err as Error).message).toBe("the leaf links: not true within 30 ms (last seen: aws not linked)");
  });

  it("becomesTrue answers false instead of throwing", async () => {
    expect(await becomesTrue(async () => false, { timeoutMs: 20, intervalMs: 5 })).toBe(false);
    expect(await becomesTrue(async () => true, { timeoutMs: 20 })).toBe(true);
  });
});
