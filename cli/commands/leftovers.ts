import { readdirSync, readFileSync } from "node:fs";

/** Command-line fragments of the processes the suite starts: servers, workers, supervisors. */
const OURS = [/nats-server/, /stages\/main\.ts/, /orchestrator\/main\.ts/, /cli\/main\.ts\u0000up/];

/** Pids of running processes that look like ones the test suite starts. */
export function ourProcesses(): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue; // exited, awaiting reaping
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (OURS.some((re) => re.test(cmd))) found.set(pid, cmd.replaceAll("\u0000", " ").trim());
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** Processes present now that were not in `before`: what a test run left behind. Kills them. */
export function reapLeftovers(before: Map<number, string>): string[] {
  const left: string[] = [];
  for (const [pid, cmd] of ourProcesses()) {
    if (before.has(pid)) continue;
    left.push(`${pid} ${cmd.slice(0, 160)}`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return left;
}
