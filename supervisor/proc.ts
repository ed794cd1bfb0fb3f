import { readFileSync } from "node:fs";
import { formatBytes } from "../shared/units.ts";

/** Peak resident memory of a live process in bytes (VmHWM), or undefined when it cannot be read. */
export function peakRssBytes(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m?.[1] ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process is running; one that exited and awaits reaping (a zombie) counts as gone. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** The kernel's per-process flags (field 9 of /proc/<pid>/stat) for "exiting" and "kernel thread". */
const PF_EXITING = 0x4;
const PF_KTHREAD = 0x200000;

/**
 * Whether `pid` is a process in the middle of exiting: it has let go of its memory (so its command
 * line reads empty) but is not a zombie yet, and may still hold files and ports for a moment.
 */
export function isExiting(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const flags = Number(fields[6]);
    return fields[0] !== "Z" && (flags & PF_EXITING) !== 0 && (flags & PF_KTHREAD) === 0;
  } catch {
    return false;
  }
}

/** The largest peak memory of any live worker of each stage, e.g. `ingest 150.1 MiB, place 143.2 MiB`. */
export function peakMemoryPerStage(workers: Map<string, { pid: number | undefined }>): string {
  const peak = new Map<string, number>();
  for (const [name, w] of workers) {
    const rss = w.pid === undefined ? undefined : peakRssBytes(w.pid);
    const stage = name.split("-")[0] ?? name;
    if (rss !== undefined) peak.set(stage, Math.max(peak.get(stage) ?? 0, rss));
  }
  return [...peak].map(([stage, bytes]) => `${stage} ${formatBytes(bytes)}`).join(", ");
}
