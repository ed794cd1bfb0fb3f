/**
 * `ferry creds rotate <identity>` on a deployment `ferry up` runs: a new seed replaces the
 * identity's, without stopping the pipeline.
 *
 * 1. The old seed becomes `<identity>.nk.old`, a new `<identity>.nk` is made; every server's config
 *    lists both keys and is reloaded (SIGHUP, hub first), so old and new connections are accepted.
 * 2. The identity's processes are restarted one by one (SIGTERM: each stops in order, its
 *    unacknowledged messages come back to the next worker; the supervisor starts it again) and
 *    connect with the new seed; a leaf link picks its new seed up on the reload.
 * 3. The old seed is deleted and the servers reloaded with the new key only. A server closes the
 *    connections still made with the old key; they reconnect signing with the seed the file holds
 *    now (shared/nats/identity.ts). That is how the dashboard, which runs inside `ferry up`'s own
 *    process and is not restarted, moves to its new seed.
 */
import { renameSync, rmSync } from "node:fs";
import { pingWorkers } from "../runtime/ping.ts";
import { ConfigError, InputError } from "../shared/errors.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { ensureSeeds, retiringSeedFile, seedFile } from "../shared/nats/credentials.ts";
import { pollUntil } from "../shared/retry.ts";
import { type Deployment, hubUrls, readDeployment, type ServerEndpoint } from "../shared/topology/deployment.ts";
import { writeServerConfigs } from "../shared/topology/nats-config.ts";
import { allIdentities, identityOfProcess, SUPERVISOR_IDENTITY } from "../shared/topology/nats-identities.ts";
import { deploymentProcesses } from "../shared/topology/processes.ts";
import { isOurProcess, readRunState, SUPERVISOR_MARKER } from "./run-state.ts";

/** Rotates `identity`'s seed in the deployment running in `home`; `say` tells each step. */
export async function rotateIdentity(home: string, identity: string, say: (s: string) => void): Promise<void> {
  const run = readRunState(home);
  if (!run || !isOurProcess(run.supervisorPid, SUPERVISOR_MARKER))
    throw new ConfigError(`ferry is not running in ${home}: start it with ./ferry up --detach, then rotate`);
  if (run.role)
    throw new ConfigError(
      `${home} runs one role of a planned deployment: rotate by planning the bundles again (see README, Identities and permissions)`,
    );
  const d = readDeployment(home);
  const known = allIdentities(d.topology);
  if (!known.includes(identity))
    throw new InputError(`no NATS identity "${identity}" (identities: ${known.join(", ")})`);
  renameSync(seedFile(home, identity), retiringSeedFile(home, identity));
  ensureSeeds(home, [identity]);
  say(`${identity}: new seed made; servers accept the old and the new key`);
  await reloadServers(d, run.pids);
  await restartProcessesOf(d, identity, say);
  rmSync(retiringSeedFile(home, identity));
  await reloadServers(d, run.pids);
  say(`${identity}: old key dropped; only the new seed is accepted`);
}

/** Rewrites every server's config from the seeds in the home and reloads each (hub first), waiting for each reload. */
async function reloadServers(d: Deployment, pids: Record<string, number>): Promise<void> {
  writeServerConfigs(d);
  const servers: ServerEndpoint[] = [...d.hubNodes, ...Object.values(d.leaves)];
  for (const ep of servers) {
    const pid = readRunState(d.dataDir)?.pids[ep.name] ?? pids[ep.name];
    if (pid === undefined || !isOurProcess(pid, d.dataDir)) throw new Error(`nats-server ${ep.name} is not running`);
    const before = await configLoadTime(ep);
    process.kill(pid, "SIGHUP");
    await pollUntil(`nats-server ${ep.name} reloading its config`, async () => (await configLoadTime(ep)) !== before, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
  }
}

async function configLoadTime(ep: ServerEndpoint): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${ep.monitorPort}/varz`);
  return String(((await r.json()) as { config_load_time?: string }).config_load_time);
}

/** SIGTERMs each process of `identity` in turn and waits until the supervisor's new one answers a ping. */
async function restartProcessesOf(d: Deployment, identity: string, say: (s: string) => void): Promise<void> {
  // The dashboard runs inside ferry up's process: it reconnects when its old key is dropped (step 3).
  const names = deploymentProcesses(d.topology)
    .filter((p) => identityOfProcess(p) === identity && p.kind !== "dashboard")
    .map((p) => p.name);
  for (const name of names) {
    const old = readRunState(d.dataDir)?.pids[name];
    if (old !== undefined && isOurProcess(old, d.dataDir)) process.kill(old, "SIGTERM");
    await pollUntil(
      `${name} started again with the new seed`,
      async () => {
        const pid = readRunState(d.dataDir)?.pids[name];
        return (pid !== undefined && pid !== old && (await answersPing(d, pid))) || "not yet";
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    say(`${identity}: ${name} restarted with the new seed`);
  }
}

async function answersPing(d: Deployment, pid: number): Promise<boolean> {
  const nc = await connectNats(hubUrls(d), "ferry-creds-rotate", { name: SUPERVISOR_IDENTITY, home: d.dataDir });
  try {
    return (await pingWorkers(nc, 500)).some((w) => w.pid === pid);
  } finally {
    await nc.close();
  }
}
