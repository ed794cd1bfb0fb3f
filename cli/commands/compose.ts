import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { REPO_ROOT } from "../../shared/repo-root.ts";
import { composeDrift, renderCompose, writeComposeCerts } from "../../shared/topology/compose.ts";
import { writeComposeCredentials } from "../../shared/topology/compose-auth.ts";
import { COMPOSE_FILE, CREDENTIALS_DIR, TLS_DIR } from "../../shared/topology/compose-layout.ts";
import { loadTopology } from "../../shared/topology/config.ts";
import { q } from "../../shared/topology/nats-config.ts";
import { withPermissionTable } from "../../shared/topology/permission-table.ts";
import { parseCommand } from "../args.ts";
import { resolveTopologyPath } from "../home.ts";

export const COMPOSE_HELP = `Usage: ferry compose [--check] [--topology <file>]

Generates the container deployment from the topology config, into the repository:
  docker-compose.yml               the hub, one leaf per cloud, the stream setup, the orchestrator,
                                   the stage workers of every cloud, and Jaeger
  deploy/compose/nats/<name>.conf  each nats-server's config
  deploy/compose/deployment.json   what the workers read to find their servers and stores
  deploy/compose/tls/              the CA (made once, reused) and each server's certificate and
                                   key, mounted file by file; git-ignored (keys), not with --check
  deploy/compose/credentials/      an nkey seed per NATS identity (made once, reused), the servers'
                                   authorization file (public keys) and each leaf link's seed
                                   include; each container mounts only its own; git-ignored
  README.md                        its table of NATS identities and permissions
Run it again after editing the topology and commit the result; then: docker compose up --build
(The Dockerfile and .dockerignore the services build from are kept by hand, not generated.)

Options:
  --check            write nothing; exit 1 listing every file that differs from what the topology
                     generates (for CI: the committed files must match the topology)
  --topology <file>  the topology config (default: FERRY_TOPOLOGY or topology.json)`;

const README = "README.md";

/** `ferry compose`: write the compose files the topology generates, or (--check) report drift. */
export async function composeCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { check: { type: "boolean" }, topology: { type: "string" } }, false);
  if (values.help) {
    process.stdout.write(`${COMPOSE_HELP}\n`);
    return 0;
  }
  const topologyPath = resolveTopologyPath(values.topology);
  // Headers name the topology as the repository knows it, so the output does not depend on the cwd.
  const rel = relative(REPO_ROOT, topologyPath);
  const source = rel.startsWith("..") ? topologyPath : rel;
  const topology = loadTopology(topologyPath);
  const { files: composeFiles } = renderCompose(topology, { source });
  // The README's permission table comes from the same topology and permission table as the configs.
  const readme = withPermissionTable(readFileSync(join(REPO_ROOT, README), "utf8"), topology);
  const files: Record<string, string> = { ...composeFiles, [README]: readme };
  const drift = composeDrift(REPO_ROOT, files);

  if (values.check) {
    if (drift.length === 0) {
      process.stdout.write(`${COMPOSE_FILE} and deploy/compose match ${source}\n`);
      return 0;
    }
    process.stdout.write(`${drift.length} generated file(s) do not match ${source}; run ./ferry compose and commit:\n`);
    for (const d of drift) process.stdout.write(`  ${d.path} (${d.state})\n`);
    return 1;
  }
  for (const d of drift) {
    const file = join(REPO_ROOT, d.path);
    if (d.state === "stale") {
      rmSync(file);
      process.stdout.write(`removed ${d.path} (no longer in ${source})\n`);
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, files[d.path] as string);
      process.stdout.write(`wrote ${d.path}\n`);
    }
  }
  const certs = writeComposeCerts(topology, REPO_ROOT);
  writeComposeCredentials(topology, REPO_ROOT, q);
  process.stdout.write(
    `${Object.keys(files).length} files generated from ${source}, ${drift.length} changed; ${certs.length} TLS files in ${TLS_DIR} and NATS credentials in ${CREDENTIALS_DIR} (both git-ignored: they hold keys). Run: docker compose up --build\n`,
  );
  return 0;
}
