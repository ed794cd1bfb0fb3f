/**
 * docker-compose.yml's services as data: a nats-server per JetStream domain, Jaeger, the one-shot
 * setup, the orchestrator and every cloud's stage workers, each with the comment written above it.
 */

import { AUTHORIZATION_MOUNT, leafSeedFile, leafSeedMount, seedFileOf } from "./compose-auth.ts";
import {
  AUTHORIZATION_FILE,
  CLIENT_PORT,
  DATA_DIR,
  DEPLOYMENT_JSON,
  MONITOR_PORT,
  NATS_CONF_DIR,
  SEED_MOUNT,
  STORES_DIR,
  STORES_VOLUME,
  TLS_DIR,
  TLS_MOUNT,
} from "./compose-layout.ts";
import type { Deployment, ServerEndpoint } from "./deployment.ts";
import { ADMIN_IDENTITY, identityOfProcess } from "./nats-identities.ts";
import { deploymentProcesses, hubServerName } from "./processes.ts";

const NATS_IMAGE = "nats:2.14-alpine";
const JAEGER_IMAGE = "jaegertracing/jaeger:2.13.0";
/** Built from the Dockerfile at the repository root; every node service shares it. */
const FERRY_IMAGE = "ferry:local";

export interface ComposeService {
  image: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: "service_started" | "service_healthy" | "service_completed_successfully" }>;
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number };
  restart?: "unless-stopped";
}

/** docker-compose.yml as data: what the tests inspect, and what gets rendered to YAML. */
export interface ComposeModel {
  name: string;
  services: Record<string, ComposeService>;
  volumes: Record<string, Record<string, never>>;
}

/** A service under its name, with the comment written above it. */
interface NamedService {
  name: string;
  service: ComposeService;
  comment?: string;
}

/** The model of `d`'s services and volumes, and the comments by service name. */
export function composeModel(d: Deployment): { model: ComposeModel; comments: Record<string, string> } {
  const services: Record<string, ComposeService> = {};
  const comments: Record<string, string> = {};
  for (const { name, service, comment } of [...natsServices(d), jaegerService(), ...pipelineServices(d)]) {
    services[name] = service;
    if (comment) comments[name] = comment;
  }
  const volumes: Record<string, Record<string, never>> = {};
  for (const ep of [...d.hubNodes, ...Object.values(d.leaves)]) volumes[natsVolume(ep)] = {};
  volumes[STORES_VOLUME] = {};
  return { model: { name: "ferry", services, volumes }, comments };
}

/** A file of ./ferry compose's TLS folder, mounted read-only where the configs name it. */
const tlsMount = (file: string): string => `./${TLS_DIR}/${file}:${TLS_MOUNT}/${file}:ro`;

/** The volume that keeps a nats-server's JetStream store. */
const natsVolume = (ep: ServerEndpoint): string => `nats-${ep.name}`;

/** One identity's seed, the only one its container sees, where the process looks for it. */
const seedMount = (identity: string): string => `./${seedFileOf(identity)}:${SEED_MOUNT}/${identity}.nk:ro`;

/** `cloud` for a leaf: its link's seed include is mounted too. */
function natsServer(ep: ServerEndpoint, ports?: string[], cloud?: string): ComposeService {
  return {
    image: NATS_IMAGE,
    command: ["-c", ep.configFile],
    ...(ports ? { ports } : {}),
    volumes: [
      `./${NATS_CONF_DIR}/${ep.name}.conf:${ep.configFile}:ro`,
      `${natsVolume(ep)}:${ep.storeDir}`,
      // Its own certificate and key only, and the CA's certificate (never another server's key).
      ...[`${ep.name}.pem`, `${ep.name}-key.pem`, "ca.pem"].map(tlsMount),
      // Who may connect, and what each may do (public keys only); a leaf also gets its link's seed.
      `./${AUTHORIZATION_FILE}:${AUTHORIZATION_MOUNT}:ro`,
      ...(cloud ? [`./${leafSeedFile(cloud)}:${leafSeedMount(cloud)}:ro`] : []),
    ],
    // /healthz answers 200 once JetStream has recovered its streams; busybox wget is in the alpine image.
    healthcheck: {
      test: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${ep.monitorPort}/healthz`],
      interval: "2s",
      timeout: "2s",
      retries: 30,
    },
    restart: "unless-stopped",
  };
}

/** The hub's node(s), then each cloud's leaf. */
function natsServices(d: Deployment): NamedService[] {
  const hubs = d.hubNodes.map(
    (node, i): NamedService => ({
      name: node.name,
      ...(i === 0
        ? {
            comment:
              d.hubNodes.length > 1
                ? `The hub, a ${d.hubNodes.length}-node cluster: JetStream domain "${node.domain}", streams R${d.hubNodes.length}. Only its first node is published on the host, on loopback.`
                : `The hub: JetStream domain "${node.domain}". The only server published on the host, on loopback.`,
          }
        : {}),
      service: natsServer(
        node,
        i === 0
          ? [`127.0.0.1:${CLIENT_PORT}:${node.port}`, `127.0.0.1:${MONITOR_PORT}:${node.monitorPort}`]
          : undefined,
      ),
    }),
  );
  const hubStarted = Object.fromEntries(d.hubNodes.map((n) => [n.name, { condition: "service_started" as const }]));
  const leaves = Object.entries(d.leaves).map(
    ([cloud, leaf]): NamedService => ({
      name: cloud,
      comment: `Cloud "${cloud}": its leaf, JetStream domain "${cloud}", fsync on every write, linked to the hub.`,
      // Started, not healthy: a leaf keeps working on its own while the hub is down.
      service: { ...natsServer(leaf, undefined, cloud), depends_on: hubStarted },
    }),
  );
  return [...hubs, ...leaves];
}

function jaegerService(): NamedService {
  return {
    name: "jaeger",
    comment: "Used by tracing: every ferry process exports spans here over OTLP/HTTP (4318).",
    service: {
      image: JAEGER_IMAGE,
      // The image already listens on all interfaces; said here so a future default cannot silently change it.
      environment: { JAEGER_LISTEN_HOST: "0.0.0.0" },
      ports: ["127.0.0.1:16686:16686", "127.0.0.1:4318:4318"],
      restart: "unless-stopped",
    },
  };
}

/** Node services share one image; the OTLP endpoint is the standard variable the OpenTelemetry SDK reads. */
function ferryService(command: string[], depends_on: ComposeService["depends_on"], mounts: string[]): ComposeService {
  return {
    image: FERRY_IMAGE,
    build: ".",
    command,
    environment: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" },
    volumes: mounts,
    depends_on,
  };
}

const ORCHESTRATOR_COMMENT =
  "Projects the events into the manifest; talks only to the hub. One per hub node: the one holding the lease is active, the others stand by.";
const cloudComment = (cloud: string): string =>
  `Cloud "${cloud}": its stage workers, each connected only to its own leaf. Every store is on the shared "${STORES_VOLUME}" volume.`;

/** The one-shot setup, the orchestrator(s) and every cloud's stage workers: the node services. */
function pipelineServices(d: Deployment): NamedService[] {
  // Every process trusts the deployment's CA, found through deployment.json's tls.caFile.
  const deploymentMount = `./${DEPLOYMENT_JSON}:${DATA_DIR}/deployment.json:ro`;
  const caMount = tlsMount("ca.pem");
  const allServers = Object.fromEntries(
    [...d.hubNodes.map((n) => n.name), ...Object.keys(d.leaves)].map((s) => [
      s,
      { condition: "service_healthy" as const },
    ]),
  );
  const afterSetup = { setup: { condition: "service_completed_successfully" as const } };
  const workerMounts = [deploymentMount, caMount, `${STORES_VOLUME}:${STORES_DIR}`];
  const worker = (command: string[], server: string, identity: string): ComposeService => ({
    ...ferryService(command, { [server]: { condition: "service_healthy" }, ...afterSetup }, [
      ...workerMounts,
      seedMount(identity),
    ]),
    restart: "unless-stopped",
  });
  // One service per process of the deployment's process list: an orchestrator per hub node, `workers` per stage.
  const seen = new Set<string>();
  const processes = deploymentProcesses(d.topology).flatMap((p): NamedService[] => {
    if (!p.script || (p.kind !== "orchestrator" && p.kind !== "stage-worker" && p.kind !== "gateway")) return [];
    const server =
      p.node === undefined ? (p.role.role === "cloud" ? p.role.cloud : d.hub.name) : hubServerName(d.topology, p.node);
    const group = p.kind === "orchestrator" ? "orchestrator" : `cloud ${server}`;
    const first = !seen.has(group);
    seen.add(group);
    return [
      {
        name: p.name,
        service: worker([p.script.file, ...p.script.args, DATA_DIR], server, identityOfProcess(p) as string),
        ...(first ? { comment: p.kind === "orchestrator" ? ORCHESTRATOR_COMMENT : cloudComment(server) } : {}),
      },
    ];
  });
  return [
    {
      name: "setup",
      comment: "One-shot: declares every stream and consumer, then exits 0. The workers start only after it.",
      service: ferryService(["streams/main.ts", DATA_DIR], allServers, [
        deploymentMount,
        caMount,
        seedMount(ADMIN_IDENTITY),
      ]),
    },
    ...processes,
  ];
}
