import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
  const seen = new Set<number>();
  const pid = (name: string) => {
    const p = readRunState(home)?.pids[name];
    if (p === undefined) throw new Error(`no process ${name} in ${home}/run.json`);
    seen.add(p);
    return p;
  };
  const run = readRunState(home);
  for (const p of [run?.supervisorPid ?? 0, ...Object.values(run?.pids ?? {})]) seen.add(p);
  return {
    work,
    home,
    env,
    deployment: readDeployment(home),
    pid,
    down: async () => {
      for (const p of seen) if (isRunning(p)) process.kill(p, "SIGCONT");
      const down = await runCli(["down"], { env });
      expect(down.code, down.stderr).toBe(0);
      const alive = [...seen].filter(isRunning);
      rmSync(work, { recursive: true, force: true });
      expect(alive).toEqual([]);
    },
  };
}
