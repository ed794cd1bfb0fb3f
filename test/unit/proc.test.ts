import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { isExiting, isRunning } from "../../supervisor/proc.ts";

describe("isExiting", () => {
  it("is false for a live process, a kernel thread (kthreadd, pid 2) and a pid that does not exist", () => {
    expect(isExiting(process.pid)).toBe(false);
    expect(isExiting(2)).toBe(false);
    expect(isExiting(2 ** 22 + 1)).toBe(false);
  });

  it("is false, like isRunning, for a child that has exited", async () => {
    const child = spawn("sh", ["-c", "exit 0"], { stdio: "ignore" });
    await once(child, "spawn");
    const pid = child.pid as number;
    await once(child, "exit");
    expect(isRunning(pid)).toBe(false);
    expect(isExiting(pid)).toBe(false);
  });
});
