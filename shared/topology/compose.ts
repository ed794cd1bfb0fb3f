/**
 * The topology as a docker-compose deployment: docker-compose.yml, the nats-server configs it mounts and
 * the deployment.json its workers read. Same topology, same renderers as `ferry up`; only the addresses
 * differ (container hostnames instead of loopback ports), so nothing is written twice.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { STAGES } from "../stages.ts";
import { fsKind } from "../stores/fs/kind.ts";
import { type StoreOpenSpec, storeKindOf } from "../stores/registry.ts";
import type { Topology } from "./config.ts";
import type { Deployment, ServerEndpoint } from "./deployment.ts";
import { HUB_NAME } from "./deployment.ts";
import { type RenderOptions, renderHubConfig, renderLeafConfig } from "./nats-config.ts";
import { storeOpenSpec } from "./store-config.ts";

export const COMPOSE_FILE = "docker-compose.yml";
export const COMPOSE_DIR = "deploy/compose";
export const NATS_CONF_DIR = `${COMPOSE_DIR}/nats`;
export const DEPLOYMENT_JSON = `${COMPOSE_DIR}/deployment.json`;

const NATS_IMAGE = "nats:2.14-alpine";
const JAEGER_IMAGE = "jaegertracing/jaeger:2.13.0";
/** Built from the Dockerfile at the repository root; every node service shares it. */
const FERRY_IMAGE = "ferry:local";
/** Each server has its own container hostname, so all of them keep the default ports. */
const CLIENT_PORT = 4222;
const MONITOR_PORT = 8222;
const LEAF_PORT = 7422;
/** Paths inside the containers. */
const DATA_DIR = "/deploy";
const STORES_DIR = "/data/stores";
const JETSTREAM_DIR = "/data/jetstream";
const CONF_MOUNT = "/etc/nats";
const STORES_VOLUME = "stores";
/** Service names that are not clouds; a cloud with one of these names would overwrite a service. */
const RESERVED = [HUB_NAME, "jaeger", "setup", "orchestrator"];

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

export interface ComposeOptions {
  /** The topology file named in every header. @default "topology.json" */
  source?: string;
}

export interface RenderedCompose {
  /** Generated text, keyed by path relative to the repository root. */
  files: Record<string, string>;
  model: ComposeModel;
  /** What deploy/compose/deployment.json holds. */
  deployment: Deployment;
}

/** The deployment as the containers see it: one hostname per server, fixed paths, stores on a shared volume. */
export function composeDeployment(topology: Topology): Deployment {
  const endpoint = (name: string, domain: string): ServerEndpoint => ({
    name,
    domain,
    port: CLIENT_PORT,
    monitorPort: MONITOR_PORT,
    url: `nats://${name}:${CLIENT_PORT}`,
    storeDir: JETSTREAM_DIR,
    configFile: `${CONF_MOUNT}/${name}.conf`,
  });
  const leaves: Record<string, ServerEndpoint> = {};
  const stores: Record<string, StoreOpenSpec> = {};
  for (const c of topology.clouds) {
    leaves[c.name] = endpoint(c.name, c.name);
    // A real cloud's store is reached the same way from a container. An fs root is a folder on this
    // machine, and a local store server runs only under `ferry up`: in containers both become fs
    // stores on the shared volume.
    stores[c.name] = storeKindOf(c.store).onThisMachine(c.store)
      ? fsKind.openSpec(c.name, { kind: "fs", root: `${STORES_DIR}/${c.name}` }, { dataDir: DATA_DIR })
      : storeOpenSpec(c, DATA_DIR, undefined);
  }
  return {
    topology,
    dataDir: DATA_DIR,
    hub: { ...endpoint(HUB_NAME, topology.hubDomain), leafPort: LEAF_PORT },
    leaves,
    stores,
    localStores: {},
  };
}

/** Renders docker-compose.yml, one nats-server config per server and the workers' deployment.json. */
export function renderCompose(topology: Topology, opts: ComposeOptions = {}): RenderedCompose {
  for (const [i, c] of topology.clouds.entries()) {
    if (RESERVED.includes(c.name)) {
      throw new ConfigError(
        `clouds[${i}].name: "${c.name}" is the name of another service in docker-compose.yml; rename that cloud`,
      );
    }
  }
  const source = opts.source ?? "topology.json";
  const note = `Generated from ${source} by ./ferry compose. Do not edit: change ${source} and rerun ./ferry compose.`;
  const d = composeDeployment(topology);
  const render: RenderOptions = { host: "0.0.0.0", hubHost: HUB_NAME, header: `# ${note}\n` };

  const files: Record<string, string> = {};
  files[`${NATS_CONF_DIR}/${HUB_NAME}.conf`] = renderHubConfig(d, render);
  for (const cloud of Object.keys(d.leaves))
    files[`${NATS_CONF_DIR}/${cloud}.conf`] = renderLeafConfig(d, cloud, render);
  // JSON has no comments: the note is a key readDeployment ignores.
  files[DEPLOYMENT_JSON] = `${JSON.stringify({ "//": note, ...d }, null, 2)}\n`;
  const { model, comments } = composeModel(d);
  files[COMPOSE_FILE] = renderComposeYaml(model, comments, [
    note,
    "Run: docker compose up --build   (hub nats://127.0.0.1:4222, monitoring http://127.0.0.1:8222, Jaeger UI http://127.0.0.1:16686)",
  ]);
  return { files, model, deployment: d };
}

function composeModel(d: Deployment): { model: ComposeModel; comments: Record<string, string> } {
  const services: Record<string, ComposeService> = {};
  const comments: Record<string, string> = {};
  const volumes: Record<string, Record<string, never>> = {};
  const deploymentMount = `./${DEPLOYMENT_JSON}:${DATA_DIR}/deployment.json:ro`;

  const natsServer = (ep: ServerEndpoint, ports?: string[]): ComposeService => {
    volumes[`nats-${ep.name}`] = {};
    return {
      image: NATS_IMAGE,
      command: ["-c", ep.configFile],
      ...(ports ? { ports } : {}),
      volumes: [`./${NATS_CONF_DIR}/${ep.name}.conf:${ep.configFile}:ro`, `nats-${ep.name}:${ep.storeDir}`],
      // /healthz answers 200 once JetStream has recovered its streams; busybox wget is in the alpine image.
      healthcheck: {
        test: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${ep.monitorPort}/healthz`],
        interval: "2s",
        timeout: "2s",
        retries: 30,
      },
      restart: "unless-stopped",
    };
  };
  /** Node services share one image; the OTLP endpoint is the standard variable the OpenTelemetry SDK reads. */
  const ferry = (command: string[], depends_on: ComposeService["depends_on"], mounts: string[]): ComposeService => ({
    image: FERRY_IMAGE,
    build: ".",
    command,
    environment: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" },
    volumes: mounts,
    depends_on,
  });

  comments[HUB_NAME] =
    `The hub: JetStream domain "${d.hub.domain}". The only server published on the host, on loopback.`;
  services[HUB_NAME] = natsServer(d.hub, [
    `127.0.0.1:${CLIENT_PORT}:${d.hub.port}`,
    `127.0.0.1:${MONITOR_PORT}:${d.hub.monitorPort}`,
  ]);
  for (const [cloud, leaf] of Object.entries(d.leaves)) {
    comments[cloud] =
      `Cloud "${cloud}": its leaf, JetStream domain "${cloud}", fsync on every write, linked to the hub.`;
    // Started, not healthy: a leaf keeps working on its own while the hub is down.
    services[cloud] = { ...natsServer(leaf), depends_on: { [HUB_NAME]: { condition: "service_started" } } };
  }

  comments.jaeger = "Used by tracing: every ferry process exports spans here over OTLP/HTTP (4318).";
  services.jaeger = {
    image: JAEGER_IMAGE,
    // The image already listens on all interfaces; said here so a future default cannot silently change it.
    environment: { JAEGER_LISTEN_HOST: "0.0.0.0" },
    ports: ["127.0.0.1:16686:16686", "127.0.0.1:4318:4318"],
    restart: "unless-stopped",
  };

  comments.setup = "One-shot: declares every stream and consumer, then exits 0. The workers start only after it.";
  const allServers = Object.fromEntries(
    [HUB_NAME, ...Object.keys(d.leaves)].map((s) => [s, { condition: "service_healthy" as const }]),
  );
  services.setup = ferry(["streams/main.ts", DATA_DIR], allServers, [deploymentMount]);

  const afterSetup = { setup: { condition: "service_completed_successfully" as const } };
  const workerMounts = [deploymentMount, `${STORES_VOLUME}:${STORES_DIR}`];
  comments.orchestrator = "Projects the events into the manifest; talks only to the hub.";
  services.orchestrator = {
    ...ferry(
      ["orchestrator/main.ts", DATA_DIR],
      { [HUB_NAME]: { condition: "service_healthy" }, ...afterSetup },
      workerMounts,
    ),
    restart: "unless-stopped",
  };
  for (const cloud of Object.keys(d.leaves)) {
    comments[`${STAGES[0]}-${cloud}`] =
      `Cloud "${cloud}": its stage workers, each connected only to its own leaf. Every store is on the shared "${STORES_VOLUME}" volume.`;
    for (const stage of STAGES) {
      services[`${stage}-${cloud}`] = {
        ...ferry(
          ["stages/main.ts", stage, cloud, DATA_DIR],
          { [cloud]: { condition: "service_healthy" }, ...afterSetup },
          workerMounts,
        ),
        restart: "unless-stopped",
      };
    }
  }
  volumes[STORES_VOLUME] = {};
  return { model: { name: "ferry", services, volumes }, comments };
}

function renderComposeYaml(m: ComposeModel, comments: Record<string, string>, header: string[]): string {
  const out = [...header.map((l) => `# ${l}`), `name: ${yamlScalar(m.name)}`, "", "services:"];
  for (const [i, [name, service]] of Object.entries(m.services).entries()) {
    if (i > 0) out.push("");
    const comment = comments[name];
    if (comment) out.push(`  # ${comment}`);
    out.push(`  ${yamlKey(name)}:`, ...yamlBlock(service, 2));
  }
  out.push("", "volumes:", ...yamlBlock(m.volumes, 1));
  return `${out.join("\n")}\n`;
}

/** Lists that are an argv read best on one line; other lists (ports, volumes) one item a line. */
const FLOW_LISTS = new Set(["command", "test"]);

/**
 * Plain data as block YAML, `level` two-space steps deep; lists hold scalars only. Every string is
 * double-quoted, so nothing is read as a number, boolean or null ("127.0.0.1:4222:4222" is a base-60
 * number to YAML 1.1 readers).
 */
export function yamlBlock(value: object, level: number): string[] {
  const pad = "  ".repeat(level);
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const key = `${pad}${yamlKey(k)}:`;
    if (Array.isArray(v)) {
      const items = v.map((item) => yamlScalar(item));
      if (items.length === 0 || FLOW_LISTS.has(k)) lines.push(`${key} [${items.join(", ")}]`);
      else lines.push(key, ...items.map((item) => `${pad}  - ${item}`));
    } else if (typeof v === "object" && v !== null) {
      lines.push(Object.keys(v).length === 0 ? `${key} {}` : key, ...yamlBlock(v, level + 1));
    } else {
      lines.push(`${key} ${yamlScalar(v)}`);
    }
  }
  return lines;
}

function yamlKey(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : yamlScalar(k);
}

function yamlScalar(v: unknown): string {
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return String(v);
  if (typeof v !== "string") throw new Error(`yaml: cannot render ${JSON.stringify(v)} as a scalar`);
  // JSON's escapes are valid in YAML double quotes; YAML 1.1 also reads NEL/LS/PS as line breaks, so escape them.
  // `$` is doubled because compose interpolates ${VAR} in every value.
  return JSON.stringify(v.replaceAll("$", "$$$$")).replace(
    /[\u0085\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A generated file that is not as the topology would generate it. */
export interface Drift {
  path: string;
  state: "missing" | "differs" | "stale";
}

/**
 * Compares rendered files with the ones under `root`. A nats config in deploy/compose/nats that the
 * topology no longer generates (a removed cloud) is stale.
 */
export function composeDrift(root: string, files: Record<string, string>): Drift[] {
  const drift: Drift[] = [];
  for (const [path, text] of Object.entries(files)) {
    const file = join(root, path);
    if (!existsSync(file)) drift.push({ path, state: "missing" });
    else if (readFileSync(file, "utf8") !== text) drift.push({ path, state: "differs" });
  }
  const confDir = join(root, NATS_CONF_DIR);
  if (existsSync(confDir)) {
    for (const name of readdirSync(confDir).sort()) {
      const path = `${NATS_CONF_DIR}/${name}`;
      if (name.endsWith(".conf") && !(path in files)) drift.push({ path, state: "stale" });
    }
  }
  return drift;
}
