/** What `ferry up` prints once everything answers: where each server, page and log is. */
import { join } from "node:path";
import type { Dashboard } from "../../dashboard/server.ts";
import { seedFile } from "../../shared/nats/credentials.ts";
import { storeKindOf } from "../../shared/stores/registry.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { CLI_IDENTITY } from "../../shared/topology/nats-identities.ts";
import type { Role } from "../../shared/topology/processes.ts";
import type { Pipeline } from "../../supervisor/pipeline.ts";
import { describeRole } from "../role-option.ts";

export function describe(p: Pipeline, dashboard: Dashboard | undefined, role?: Role): string {
  const d = p.deployment;
  const hubLines = d.hubNodes.map(
    (n) =>
      `  ${n.name.padEnd(11)}${n.url}  (JetStream domain ${d.topology.hubDomain}, monitoring http://127.0.0.1:${n.monitorPort})`,
  );
  const leaves = Object.values(d.leaves).filter(
    (l) => role === undefined || (role.role === "cloud" && role.cloud === l.name),
  );
  const lines = [
    `ferry is up (supervisor pid ${process.pid}${role ? `, ${describeRole(role)}` : ""})`,
    ...(dashboard ? [`  dashboard  ${dashboard.url}  (Prometheus metrics: ${dashboard.url}metrics)`] : []),
    ...(role?.role === "cloud" ? [`  hub        ${d.hubNodes.map((n) => n.url).join(", ")}  (elsewhere)`] : hubLines),
    ...leaves.map(
      (l) => `  leaf ${l.name.padEnd(6)}${l.url}  (JetStream domain ${l.domain}, store ${describeStore(d, l.name)})`,
    ),
    ...(role?.role === "cloud"
      ? []
      : [
          p.jaeger
            ? `  traces     ${p.jaeger.queryUrl}  (Jaeger; ./ferry status <fileId> prints a file's trace link)`
            : `  traces     off: ${tracesOffReason()}`,
        ]),
    `  workers    ${p.workers.size} processes (${[...p.workers.keys()].join(", ")}), logs in ${join(d.dataDir, "logs")}`,
    `  ingest     ./ferry ingest <file> --wait    or    nats --server ${d.hub.url} --nkey ${seedFile(d.dataDir, CLI_IDENTITY)} pub files.ingest.${d.topology.clouds[0]?.name ?? "<cloud>"} '{"path":"/abs/file"}'`,
    `  watch      ./ferry status`,
    `  stop       ./ferry down`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Why this run has no Jaeger, and how to get traces. */
function tracesOffReason(): string {
  // Set by scripts/bootstrap.sh when it left Jaeger building in the background for this run.
  const buildLog = process.env.FERRY_JAEGER_BUILDING;
  if (buildLog)
    return `Jaeger is being built in the background (log: ${buildLog}); once it is, ./ferry down and ./ferry up again for traces`;
  return "Jaeger is not installed (./ferry up builds it with Go in the background, ./ferry test in the foreground)";
}

/** `s3 bucket ferry-aws at http://127.0.0.1:4567 (local versitygw)`, or the fs folder. */
function describeStore(d: Deployment, cloud: string): string {
  const s = d.stores[cloud];
  return s ? storeKindOf(s).describe(s) : "none";
}
