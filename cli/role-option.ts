import { ConfigError } from "../shared/errors.ts";
import type { Topology } from "../shared/topology/config.ts";
import type { Role } from "../shared/topology/processes.ts";

/** Help lines for `--role` and `--cloud`, shared by up, down and plan. */
export const ROLE_OPTION_HELP = `--role <hub|cloud>  run one host's part only: "hub" (the hub node(s), the orchestrators, the dashboard,
                     Jaeger) or "cloud" (with --cloud: that cloud's leaf, its workers, its local store
                     server); without it, every role on this machine
  --cloud <name>     the cloud of --role cloud
  --node <n>         with --role hub on a 3-node hub: only node n (1-3), for one hub node per host`;

/** `--role` and `--cloud` as a Role; undefined for every role. Checks the cloud against the topology. */
export function parseRoleOption(
  role: string | undefined,
  cloud: string | undefined,
  t: Topology,
  node?: string,
): Role | undefined {
  if (node !== undefined && role !== "hub") throw new ConfigError(`--node: only with --role hub`);
  if (role === undefined) {
    if (cloud !== undefined) throw new ConfigError(`--cloud: only with --role cloud`);
    return undefined;
  }
  if (role === "hub") {
    if (cloud !== undefined) throw new ConfigError(`--cloud: only with --role cloud, not --role hub`);
    if (node === undefined) return { role: "hub" };
    const n = Number(node);
    if (!Number.isInteger(n) || n < 1 || n > t.hub.nodes)
      throw new ConfigError(`--node: "${node}" is not a hub node (1 to ${t.hub.nodes})`);
    return { role: "hub", node: n - 1 };
  }
  if (role !== "cloud") throw new ConfigError(`--role: "${role}" is not "hub" or "cloud"`);
  const names = t.clouds.map((c) => c.name);
  if (cloud === undefined) throw new ConfigError(`--role cloud needs --cloud <name> (one of ${names.join(", ")})`);
  if (!names.includes(cloud))
    throw new ConfigError(`--cloud: "${cloud}" is not a cloud of the topology (${names.join(", ")})`);
  return { role: "cloud", cloud };
}

/** `hub` or `cloud aws`, for messages. */
export const describeRole = (r: Role | undefined): string =>
  r === undefined
    ? "every role"
    : r.role === "hub"
      ? `the hub role${r.node === undefined ? "" : ` (node ${r.node + 1})`}`
      : `the role of cloud ${r.cloud}`;

/** The flags that ask for `r` again (for a detached supervisor, or a message). */
export function roleFlags(r: Role | undefined): string[] {
  if (r === undefined) return [];
  if (r.role === "cloud") return ["--role", "cloud", "--cloud", r.cloud];
  return ["--role", "hub", ...(r.node === undefined ? [] : ["--node", String(r.node + 1)])];
}
