import type { TestContext } from "vitest";

/**
 * Skips the running test and records why, so `ferry test` reports it as skipped with its reason
 * instead of failing the run (a test skipped without a reason fails it). For tests that need what a
 * machine may lack, such as /dev/fuse.
 */
export function skipBecause(ctx: TestContext, reason: string): never {
  (ctx.task.meta as { skipReason?: string }).skipReason = reason;
  return ctx.skip(reason);
}
