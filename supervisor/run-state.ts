import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "../shared/json-file.ts";
import type { Role } from "../shared/topology/processes.ts";

/** What `ferry up` records so that `ferry down` and `ferry status` can find what it started. */
export interface RunState {
  supervisorPid: number;
  startedAt: string;
  ready: boolean;
  /** Keyed by process name (`hub`, `aws`, `orchestrator`, `ingest-aws`, ...). */
  pids: Record<string, number>;
  /** The live dashboard's URL, once it serves. */
  dashboardUrl?: string;
  /** The role this home runs (`ferry up --role`); every role when absent. */
  role?: Role;
}

export const runStatePath = (dataDir: string): string => join(dataDir, "run.json");

export function writeRunState(dataDir: string, s: RunState): void {
  writeJsonAtomic(runStatePath(dataDir), s);
}

export function readRunState(dataDir: string): RunState | undefined {
  try {
    return JSON.parse(readFileSync(runStatePath(dataDir), "utf8")) as RunState;
  } catch {
    return undefined;
  }
}

export function removeRunState(dataDir: string): void {
  rmSync(runStatePath(dataDir), { force: true });
}

/** The text in the supervisor's command line (it need not mention the home folder). */
export const SUPERVISOR_MARKER = "cli/main.ts";

/**
 * Whether `pid` is a live process of ours: alive, and its command line contains `marker` — the
 * deployment's folder for servers and workers — so a recycled pid of another process is never signalled.
 */
export function isOurProcess(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
  } catch {
    return false;
  }
}
