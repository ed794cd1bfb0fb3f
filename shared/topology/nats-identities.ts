/**
 * The NATS identities of a deployment, one nkey user each (see nats-permissions.ts for what each
 * may do): per cloud one per stage (shared by that stage's processes there), its gateway and its
 * leaf link; then the orchestrator, the dashboard, the CLI, the admin (streams and KV management)
 * and the supervisor (its readiness pings). Each is named here once.
 */

import type { NatsIdentity } from "../nats/identity.ts";
import { STAGES, type Stage } from "../stages.ts";
import type { Topology } from "./config.ts";
import { HUB_NAME } from "./deployment.ts";
import type { ProcessSpec, Role } from "./processes.ts";

export const ORCHESTRATOR_IDENTITY = "orchestrator";
export const DASHBOARD_IDENTITY = "dashboard";
export const CLI_IDENTITY = "cli";
export const ADMIN_IDENTITY = "admin";
export const SUPERVISOR_IDENTITY = "supervisor";

/** The identity shared by every worker of `stage` in `cloud`. */
export const stageIdentity = (stage: Stage, cloud: string): string => `${stage}-${cloud}`;
export const gatewayIdentity = (cloud: string): string => `gateway-${cloud}`;
/** The identity a cloud's leaf server dials the hub with. */
export const leafIdentity = (cloud: string): string => `leaf-${cloud}`;

/** The identity of a process run by the worker runtime: `orchestrator` on the hub, `<stage>-<cloud>` in a cloud. */
export const runtimeIdentity = (stage: string, cloud: string): string =>
  cloud === HUB_NAME ? stage : `${stage}-${cloud}`;

/** A cloud's own identities: its stages', its gateway's and its leaf link's. */
export function cloudIdentities(cloud: string): string[] {
  return [...STAGES.map((s) => stageIdentity(s, cloud)), gatewayIdentity(cloud), leafIdentity(cloud)];
}

/** The identities whose processes run on the hub's hosts, plus every leaf link (the hub must know their keys). */
export function hubIdentities(t: Topology): string[] {
  return [
    ORCHESTRATOR_IDENTITY,
    DASHBOARD_IDENTITY,
    CLI_IDENTITY,
    ADMIN_IDENTITY,
    SUPERVISOR_IDENTITY,
    ...t.clouds.map((c) => leafIdentity(c.name)),
  ];
}

/** Every identity of the deployment. */
export function allIdentities(t: Topology): string[] {
  return [...new Set([...hubIdentities(t), ...t.clouds.flatMap((c) => cloudIdentities(c.name))])];
}

/** The identities whose seeds a host of `role` makes and keeps (every one when `role` is undefined). */
export function roleIdentities(t: Topology, role?: Role): string[] {
  if (role === undefined) return allIdentities(t);
  if (role.role === "hub") return hubIdentities(t);
  // The leaf link's seed must be the same in the hub's bundle and the cloud's: whichever is planned
  // first makes it, and it is copied to the other before that one is planned.
  return [...cloudIdentities(role.cloud), ADMIN_IDENTITY, SUPERVISOR_IDENTITY];
}

/** The admin identity of a deployment's home (streams, consumers and buckets). */
export const adminOf = (d: { dataDir: string }): NatsIdentity => ({ name: ADMIN_IDENTITY, home: d.dataDir });
/** The CLI identity of a deployment's home (read and ingest). */
export const cliOf = (d: { dataDir: string }): NatsIdentity => ({ name: CLI_IDENTITY, home: d.dataDir });
/** The dashboard identity of a deployment's home. */
export const dashboardOf = (d: { dataDir: string }): NatsIdentity => ({ name: DASHBOARD_IDENTITY, home: d.dataDir });

/** The identity a deployment process connects as; undefined for servers and processes that connect to none. */
export function identityOfProcess(p: ProcessSpec): string | undefined {
  const cloud = p.role.role === "cloud" ? p.role.cloud : undefined;
  if (p.kind === "stage-worker" && p.stage && cloud) return stageIdentity(p.stage, cloud);
  if (p.kind === "gateway" && cloud) return gatewayIdentity(cloud);
  if (p.kind === "orchestrator") return ORCHESTRATOR_IDENTITY;
  if (p.kind === "dashboard") return DASHBOARD_IDENTITY;
  return undefined;
}
