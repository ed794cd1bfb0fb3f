/**
 * The topology as a docker-compose deployment: docker-compose.yml, the nats-server configs it mounts and
 * the deployment.json its workers read. Same topology, same renderers as `ferry up`; only the addresses
 * differ (container hostnames instead of loopback ports), so nothing is written twice.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { fsKind } from "../stores/fs/kind.ts";
import { type StoreOpenSpec, storeKindOf } from "../stores/registry.ts";
import { ensureServerCerts } from "../tls/deployment-tls.ts";
import { composeAuth } from "./compose-auth.ts";
import {
  CLIENT_PORT,
  CLUSTER_PORT,
  COMPOSE_FILE,
  CONF_MOUNT,
  DATA_DIR,
  DEPLOYMENT_JSON,
  JETSTREAM_DIR,
  LEAF_PORT,
  MONITOR_PORT,
  NATS_CONF_DIR,
  SOURCES_DIR,
  STORES_DIR,
  TLS_DIR,
  TLS_MOUNT,
} from "./compose-layout.ts";
import { type ComposeModel, composeModel } from "./compose-services.ts";
import { renderComposeYaml } from "./compose-yaml.ts";
import type { Topology } from "./config.ts";
import type { Deployment, HubNode, ServerEndpoint } from "./deployment.ts";
import { HUB_NAME, hubNodeName } from "./deployment.ts";
import { type RenderOptions, renderHubConfig, renderLeafConfig } from "./nats-config.ts";
import { storeOpenSpec } from "./store-config.ts";

/** Service names that are not clouds; a cloud with one of these names would overwrite a service. */
const RESERVED = [HUB_NAME, "jaeger", "setup", "orchestrator"];

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
  const nodes = topology.hub.nodes;
  const hubNodes = Array.from(
    { length: nodes },
    (_, i): HubNode => ({
      ...endpoint(nodes === 1 ? HUB_NAME : hubNodeName(i), topology.hubDomain),
      leafPort: LEAF_PORT,
      ...(nodes > 1 ? { clusterPort: CLUSTER_PORT } : {}),
    }),
  );
  return {
    // The host's folders mean nothing inside a container: local files are read from SOURCES_DIR only.
    topology: { ...topology, clouds: topology.clouds.map((c) => ({ ...c, sourceRoots: [SOURCES_DIR] })) },
    dataDir: DATA_DIR,
    hub: hubNodes[0] as HubNode,
    hubNodes,
    leaves,
    stores,
    localStores: {},
    tls: { dir: TLS_MOUNT, caFile: `${TLS_MOUNT}/ca.pem` },
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
  const render: RenderOptions = {
    host: "0.0.0.0",
    hubHost: (node) => node.name,
    header: `# ${note}\n`,
    auth: composeAuth,
  };

  const files: Record<string, string> = {};
  for (const [i, node] of d.hubNodes.entries())
    files[`${NATS_CONF_DIR}/${node.name}.conf`] = renderHubConfig(d, i, render);
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

/**
 * Issues every server's certificate into `<root>/deploy/compose/tls` (git-ignored: it holds keys),
 * signed by the CA kept there (made on first use) or the topology's own. The configs and compose
 * file name them at their mount points (TLS_MOUNT). Returns the files written.
 */
export function writeComposeCerts(topology: Topology, root: string): string[] {
  const d = composeDeployment(topology);
  const dir = join(root, TLS_DIR);
  const here = { ...d, tls: { dir, caFile: topology.tls?.caFile ?? join(dir, "ca.pem") } };
  return ensureServerCerts(here, [...here.hubNodes, ...Object.values(here.leaves)]);
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
