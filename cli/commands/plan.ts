import { join, resolve } from "node:path";
import { ConfigError } from "../../shared/errors.ts";
import type { CertFiles } from "../../shared/tls/certificates.ts";
import { deploymentTls, ensureCaIn } from "../../shared/tls/deployment-tls.ts";
import { applyHubNodesOption, applyStoresOption, loadTopology, type Topology } from "../../shared/topology/config.ts";
import { layoutDeployment, type PortPlan, separateHostsPorts } from "../../shared/topology/layout.ts";
import { LOCAL_RENDER, type RenderOptions } from "../../shared/topology/nats-config.ts";
import type { Role } from "../../shared/topology/processes.ts";
import { copyLeafSeed, writeBundle } from "../../supervisor/bundle.ts";
import { loopbackPorts } from "../../supervisor/plan.ts";
import { parseCommand } from "../args.ts";
import { resolveHome, resolveTopologyPath } from "../home.ts";
import { describeRole, parseRoleOption, ROLE_OPTION_HELP } from "../role-option.ts";

export const PLAN_HELP = `Usage: ferry plan --out <dir> [--role hub [--node n] | --role cloud --cloud <name>] [options]

Writes one host's bundle: the folder an operator copies to one machine and starts there with
  ./ferry up --role <role> --home <dir>      (or with its systemd units)
It holds the host's nats-server config(s), deployment.json, credentials.env (the NAMES of the
credentials its processes read, commented out: fill them in on the host; no value is ever written)
and systemd/ferry-<process>.service, one unit per process of the role.

Hosts are separate machines: the hub nodes at hub.addresses on hub.ports of the topology (listening
on all interfaces), each cloud's leaf and local store server on loopback of the cloud's host.
With --loopback every host is on this machine instead (free loopback ports), and without --role it
writes every host's bundle at once, into <dir>/hub and <dir>/<cloud>: to try the roles on one machine.

Options:
  --out <dir>        where the bundle goes; the host runs from this folder (copy it to the same path)
  ${ROLE_OPTION_HELP}
  --loopback         every host on this machine (free loopback ports); without --role, all bundles
  --hub-nodes <n>    1 or 3 (default: hub.nodes of the topology)
  --stores <which>   "config" (default) or "fs"
  --topology <file>  the topology config (default: FERRY_TOPOLOGY or topology.json)
  --ca-dir <dir>     the CA that signs every bundle's TLS certificates, made there on first use and
                     reused (default: <FERRY_HOME or .ferry>/plan-ca; the topology's "tls" CA instead
                     when it has one). A bundle holds the CA's certificate, never its key.`;

/** `ferry plan`: write one host's bundle, or with --loopback every host's. */
export async function planCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      out: { type: "string" },
      role: { type: "string" },
      cloud: { type: "string" },
      node: { type: "string" },
      loopback: { type: "boolean" },
      "hub-nodes": { type: "string" },
      stores: { type: "string" },
      topology: { type: "string" },
      "ca-dir": { type: "string" },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${PLAN_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new ConfigError("--out: say where the bundle goes (./ferry plan --help)");
  const out = resolve(values.out);
  const t = applyHubNodesOption(
    applyStoresOption(loadTopology(resolveTopologyPath(values.topology)), values.stores),
    values["hub-nodes"],
  );
  const role = parseRoleOption(values.role, values.cloud, t, values.node);
  if (role === undefined && !values.loopback)
    throw new ConfigError("--role: say which host's bundle to write (or --loopback for every host on this machine)");
  const ports = values.loopback ? await loopbackPorts(t) : separateHostsPorts(t);
  const ca = planCa(t, resolve(values["ca-dir"] ?? join(resolveHome(), "plan-ca")));
  const hosts: Array<{ role: Role; dir: string }> =
    role !== undefined
      ? [{ role, dir: out }]
      : [
          { role: { role: "hub" }, dir: join(out, "hub") },
          ...t.clouds.map((c) => ({ role: { role: "cloud" as const, cloud: c.name }, dir: join(out, c.name) })),
        ];
  for (const host of hosts) {
    // Every host's bundle at once: each cloud gets its leaf link's seed from the hub's bundle.
    if (role === undefined && host.role.role === "cloud") copyLeafSeed(join(out, "hub"), host.dir, host.role.cloud);
    const files = await writeHost(t, ports, { ...host, ca }, values.loopback === true);
    process.stdout.write(`${describeRole(host.role)}: ${host.dir} (${files.length} files)\n`);
  }
  return 0;
}

async function writeHost(
  t: Topology,
  ports: PortPlan,
  host: { role: Role; dir: string; ca: CertFiles },
  loopback: boolean,
): Promise<string[]> {
  const { role, dir } = host;
  // The bundle carries its own copy of the CA certificate; the CA's key stays with the planner.
  const d = { ...layoutDeployment(t, dir, ports), tls: deploymentTls(dir) };
  const render: RenderOptions = loopback
    ? LOCAL_RENDER
    : {
        // A hub node is reached by the clouds and its peers; a cloud's servers only by its own processes.
        host: role.role === "hub" ? "0.0.0.0" : "127.0.0.1",
        hubHost: (_node, i) => t.hub.addresses[i] ?? "",
        // Hosts reach a hub node at hub.addresses, not at the interface addresses it would gossip.
        advertise: false,
        // Monitoring has no authentication: only the host's own processes read it.
        monitorHost: "127.0.0.1",
        header: "# Generated by ./ferry plan from the topology. Plan again rather than edit.\n",
      };
  return writeBundle(d, role, render, host.ca);
}

/** The CA that signs every bundle's certificates: the topology's `tls`, else one kept in `caDir`, made on first use. */
function planCa(t: Topology, caDir: string): CertFiles {
  return t.tls ? { certFile: t.tls.caFile, keyFile: t.tls.keyFile } : ensureCaIn(caDir);
}
