/**
 * Every process a deployment runs, derived from the topology once, with the role it belongs to:
 * the hub role runs the hub's nats-server(s), one orchestrator per hub node, the dashboard and
 * Jaeger; a cloud's role runs its leaf, its stage workers, its gateway and, when its store is local,
 * the store server. The supervisor (`ferry up --role`), docker-compose.yml and the host bundles (`ferry plan`)
 * all read this list, so a process is named in one place.
 */
import { STAGES, type Stage } from "../stages.ts";
import { localServerFor } from "../stores/registry.ts";
import type { Topology } from "./config.ts";
import { HUB_NAME, hubNodeName } from "./deployment.ts";

/** Which part of a deployment a host runs: the hub, or one cloud. */
export type Role = { role: "hub"; node?: number } | { role: "cloud"; cloud: string };

/** Whether a host of `role` runs hub node `i` (a hub role without `node` runs every node). */
export const runsHubNode = (role: Role | undefined, i: number): boolean =>
  role === undefined || (role.role === "hub" && (role.node === undefined || role.node === i));

export type ProcessKind =
  | "nats-server"
  | "orchestrator"
  | "stage-worker"
  | "gateway"
  | "store-server"
  | "dashboard"
  | "jaeger";

export interface ProcessSpec {
  /** Unique in the deployment: `hub`/`hub-2`, `orchestrator`/`orchestrator-2`, `<cloud>` (its leaf), `<stage>-<cloud>`/`<stage>-<cloud>-2`, `gateway-<cloud>`, `store-<cloud>`, `dashboard`, `jaeger`. */
  name: string;
  kind: ProcessKind;
  role: Role;
  /** The hub node it belongs to (0-based), for hub nats-servers and orchestrators. */
  node?: number;
  stage?: Stage;
  /** For Node processes: the script (relative to the repository root) and its arguments before the data folder. */
  script?: { file: string; args: string[] };
}

/** The hub's nats-server name of node `i`: `hub` when it is alone. */
export const hubServerName = (t: Topology, i: number): string => (t.hub.nodes === 1 ? HUB_NAME : hubNodeName(i));

/** `orchestrator` alone, `orchestrator-1` ... with one per hub node. */
export const orchestratorName = (t: Topology, i: number): string =>
  t.hub.nodes === 1 ? "orchestrator" : `orchestrator-${i + 1}`;

/** `<stage>-<cloud>` for the first worker of a stage, `<stage>-<cloud>-<n>` for the n-th after it. */
export const stageWorkerName = (stage: Stage, cloud: string, i = 0): string =>
  i === 0 ? `${stage}-${cloud}` : `${stage}-${cloud}-${i + 1}`;

/**
 * The hub role's processes: per node a nats-server and an orchestrator, then the dashboard and Jaeger
 * (with the first node). `node` picks one node's, for a hub spread over hosts.
 */
export function hubProcesses(t: Topology, node?: number): ProcessSpec[] {
  const hub: Role = node === undefined ? { role: "hub" } : { role: "hub", node };
  const nodes = Array.from({ length: t.hub.nodes }, (_, i) => i).filter((i) => node === undefined || node === i);
  const out: ProcessSpec[] = [];
  for (const i of nodes) out.push({ name: hubServerName(t, i), kind: "nats-server", role: hub, node: i });
  for (const i of nodes) {
    out.push({
      name: orchestratorName(t, i),
      kind: "orchestrator",
      role: hub,
      node: i,
      script: { file: "orchestrator/main.ts", args: [] },
    });
  }
  if (nodes.includes(0)) {
    out.push(
      { name: "dashboard", kind: "dashboard", role: hub, script: { file: "dashboard/main.ts", args: [] } },
      { name: "jaeger", kind: "jaeger", role: hub },
    );
  }
  return out;
}

/** `gateway-<cloud>`: the process that issues URLs for objects of that cloud's store. */
export const gatewayName = (cloud: string): string => `gateway-${cloud}`;

/** A cloud role's processes: its leaf, its store server when local, `workers` processes per stage, and its gateway. */
export function cloudProcesses(t: Topology, cloudName: string): ProcessSpec[] {
  const cloud = t.clouds.find((c) => c.name === cloudName);
  if (!cloud)
    throw new Error(`no cloud "${cloudName}" in the topology (clouds: ${t.clouds.map((c) => c.name).join(", ")})`);
  const role: Role = { role: "cloud", cloud: cloud.name };
  const out: ProcessSpec[] = [{ name: cloud.name, kind: "nats-server", role }];
  if (localServerFor(cloud.store)) out.push({ name: `store-${cloud.name}`, kind: "store-server", role });
  for (const stage of STAGES) {
    for (let i = 0; i < cloud.workers[stage]; i++) {
      out.push({
        name: stageWorkerName(stage, cloud.name, i),
        kind: "stage-worker",
        role,
        stage,
        script: { file: "stages/main.ts", args: [stage, cloud.name] },
      });
    }
  }
  out.push({
    name: gatewayName(cloud.name),
    kind: "gateway",
    role,
    script: { file: "gateway/main.ts", args: [cloud.name] },
  });
  return out;
}

/** The processes of one role, or of every role (the hub's first) when `role` is undefined. */
export function deploymentProcesses(t: Topology, role?: Role): ProcessSpec[] {
  if (role?.role === "hub") return hubProcesses(t, role.node);
  if (role?.role === "cloud") return cloudProcesses(t, role.cloud);
  return [...hubProcesses(t), ...t.clouds.flatMap((c) => cloudProcesses(t, c.name))];
}
