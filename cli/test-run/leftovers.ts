import { readdirSync, readFileSync } from "node:fs";
import { isRunning } from "../../supervisor/proc.ts";

/** Environment variable that marks every process a test run starts (they inherit it). */
export const RUN_MARKER = "FERRY_TEST_RUN";

/**
 * Processes still running that carry `FERRY_TEST_RUN=<runId>` in their environment: what this test
 * run started and left behind. Another session's servers or a developer's `ferry up` never match.
 */
export function processesOfRun(runId: string): Map<number, string> {
  const needle = `${RUN_MARKER}=${runId}\u0000`;
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!isRunning(pid)) continue;
      if (!readFileSync(`/proc/${pid}/environ`, "utf8").includes(needle)) continue;
      found.set(pid, readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\u0000", " ").trim());
    } catch {
      // gone while we looked, or not ours to read
    }
  }
  return found;
}

/** Kills what this run left running and describes each one. */
export function reapLeftovers(runId: string): string[] {
  const left: string[] = [];
  for (const [pid, cmd] of processesOfRun(runId)) {
    left.push(`${pid} ${cmd.slice(0, 160)}`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return left;
}
