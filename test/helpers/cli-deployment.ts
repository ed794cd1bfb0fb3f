import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { type Deployment, readDeployment } from "../../shared/topology/deployment.ts";
import { isRunning } from "../../supervisor/proc.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { runCli } from "./cli.ts";

/** A deployment started with `ferry up --detach` in a temporary folder, as a user starts one. */
export interface CliDeployment {
  /** The temporary folder: `home/` is the deployment, the rest is the test's. */
  work: string;
  home: string;
  /** FERRY_HOME and FERRY_TOPOLOGY for runCli. */
  env: NodeJS.ProcessEnv;
  deployment: Deployment;
  /** The current pid of a process `up` runs (`hub`, a cloud's leaf, `orchestrator`, `<stage>-<cloud>`). */
  pid(name: string): number;
  /** `ferry down`, then checks that every process it ever saw is gone, and removes the folder. */
  down(): Promise<void>;
}

/** `ferry up --detach --port 0` with three clouds on `stores` (fs, or the local protocol servers). */
export async function upWithCli(options: { chunkSize: string | number; stores?: "fs" }): Promise<CliDeployment> {
  const work = mkdtempSync(join(tmpdir(), "ferry-cli-"));
  const home = join(work, "home");
  const topology = join(work, "topology.json");
  writeFileSync(
    topology,
    JSON.stringify({
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: "ferry-cli-aws", local: true } },
        { name: "gcp", store: { kind: "gcs", bucket: "ferry-cli-gcp", local: true } },
        { name: "azure", store: { kind: "azblob", container: "ferry-cli-azure", local: true } },
      ],
      replicas: 3,
      chunkSize: options.chunkSize,
      ackWait: "5s",
      maxAttempts: 3,
    }),
  );
  const env = { FERRY_HOME: home, FERRY_TOPOLOGY: topology };
  const up = await runCli(["up", "--detach", "--port", "0", ...(options.stores ? ["--stores", options.stores] : [])], {
    env,
  });
  if (up.code !== 0) rmSync(work, { recursive: true, force: true }); // up stopped whatever it had started
  expect(up.code, up.stderr).toBe(0);
  // Each pid with its start time: pids wrap at 32768 here, and a long suite reuses them, so a process
  // counts as still alive after `down` only when the same pid has the same start time.
  const seen = new Map<number, string | undefined>();
  const see = (p: number) => seen.set(p, seen.get(p) ?? startTime(p));
  const pid = (name: string) => {
    const p = readRunState(home)?.pids[name];
    if (p === undefined) throw new Error(`no process ${name} in ${home}/run.json`);
    see(p);
    return p;
  };
  const run = readRunState(home);
  for (const p of [run?.supervisorPid ?? 0, ...Object.values(run?.pids ?? {})]) see(p);
  const stillOurs = (p: number) => isRunning(p) && startTime(p) === seen.get(p);
  return {
    work,
    home,
    env,
    deployment: readDeployment(home),
    pid,
    down: async () => {
      for (const p of seen.keys()) if (stillOurs(p)) process.kill(p, "SIGCONT");
      const down = await runCli(["down"], { env });
      expect(down.code, down.stderr).toBe(0);
      const alive = [...seen.keys()].filter(stillOurs);
      rmSync(work, { recursive: true, force: true });
      expect(alive).toEqual([]);
    },
  };
}

/** A process's start time (field 22 of /proc/<pid>/stat, in clock ticks since boot), or undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
