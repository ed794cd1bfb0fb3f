/**
 * The compose deployment's NATS authorization: the committed configs include files ./ferry compose
 * writes (git-ignored), each container mounts only its own credentials, and a real nats-server
 * accepts the configs as the containers would see them (a private mount namespace stands in for
 * the container's file system; no Docker here).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { publicKeyOf, seedFile } from "../../shared/nats/credentials.ts";
import { renderCompose, writeComposeCerts } from "../../shared/topology/compose.ts";
import { writeComposeCredentials } from "../../shared/topology/compose-auth.ts";
import { COMPOSE_DIR, CREDENTIALS_DIR, NATS_CONF_DIR, TLS_DIR } from "../../shared/topology/compose-layout.ts";
import { loadTopology } from "../../shared/topology/config.ts";
import { q } from "../../shared/topology/nats-config.ts";
import { ADMIN_IDENTITY, allIdentities, identityOfProcess } from "../../shared/topology/nats-identities.ts";
import { deploymentProcesses } from "../../shared/topology/processes.ts";
import { resolveNatsServerBinary } from "../../supervisor/nats-server.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const topology = loadTopology(join(ROOT, "topology.json"));
const { files, model } = renderCompose(topology);
const CLOUDS = topology.clouds.map((c) => c.name);
const made: string[] = [];
const tempDir = (prefix: string): string => {
  made.push(mkdtempSync(join(tmpdir(), prefix)));
  return made.at(-1) as string;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const seedsMounted = (name: string): string[] =>
  (model.services[name]?.volumes ?? []).filter((v) => v.includes(".nk:")).map((v) => v.split(":")[0] as string);

describe("compose's NATS authorization", () => {
  it("keeps every key out of the committed configs: they include the authorization file and the leaf's seed", () => {
    for (const [path, text] of Object.entries(files)) {
      if (!path.startsWith(NATS_CONF_DIR)) continue;
      expect(text, path).toContain('include "../ferry-auth/authorization.conf"');
      expect(text, path).not.toMatch(/\b(SU|U)[A-Z2-7]{40,}/);
    }
    for (const cloud of CLOUDS)
      expect(files[`${NATS_CONF_DIR}/${cloud}.conf`]).toContain(`include "../ferry-auth/leaf-${cloud}.conf"`);
  });

  it("mounts into each container its own seed and no other; servers get public keys, a leaf its link's seed", () => {
    for (const p of deploymentProcesses(topology)) {
      const identity = identityOfProcess(p);
      if (!model.services[p.name] || !identity) continue;
      expect(seedsMounted(p.name), p.name).toEqual([`./${CREDENTIALS_DIR}/nats/${identity}.nk`]);
    }
    expect(seedsMounted("setup")).toEqual([`./${CREDENTIALS_DIR}/nats/${ADMIN_IDENTITY}.nk`]);
    for (const server of ["hub", ...CLOUDS]) {
      const mounts = model.services[server]?.volumes ?? [];
      expect(seedsMounted(server), server).toEqual([]);
      expect(mounts, server).toContain(`./${CREDENTIALS_DIR}/authorization.conf:/etc/ferry-auth/authorization.conf:ro`);
      const leafSeeds = mounts.filter((m) => m.includes("/leaf-"));
      expect(leafSeeds, server).toEqual(
        server === "hub"
          ? []
          : [`./${CREDENTIALS_DIR}/nats/leaf-${server}.conf:/etc/ferry-auth/leaf-${server}.conf:ro`],
      );
    }
  });

  it("makes every seed once (0600) and lists each identity's public key in the authorization file", () => {
    const root = tempDir("ferry-compose-creds-");
    writeComposeCredentials(topology, root, q);
    const home = join(root, COMPOSE_DIR);
    const first = allIdentities(topology).map((i) => readFileSync(seedFile(home, i), "utf8"));
    writeComposeCredentials(topology, root, q);
    expect(allIdentities(topology).map((i) => readFileSync(seedFile(home, i), "utf8"))).toEqual(first);
    const authorization = readFileSync(join(root, CREDENTIALS_DIR, "authorization.conf"), "utf8");
    for (const identity of allIdentities(topology)) {
      expect(statSync(seedFile(home, identity)).mode & 0o777, identity).toBe(0o600);
      expect(authorization).toContain(q(publicKeyOf(home, identity)));
    }
    expect(authorization).not.toMatch(/"SU[A-Z2-7]+"/);
  });

  it("gives configs a real nats-server accepts where the containers mount them", () => {
    const root = tempDir("ferry-compose-check-");
    writeComposeCerts(topology, root);
    writeComposeCredentials(topology, root, q);
    const etc = join(root, "etc");
    for (const d of ["nats", "ferry-auth", "ferry-tls"]) mkdirSync(join(etc, d), { recursive: true });
    for (const [path, text] of Object.entries(files))
      if (path.startsWith(NATS_CONF_DIR)) writeFileSync(join(etc, "nats", path.slice(NATS_CONF_DIR.length + 1)), text);
    copyFileSync(join(root, CREDENTIALS_DIR, "authorization.conf"), join(etc, "ferry-auth", "authorization.conf"));
    for (const cloud of CLOUDS)
      copyFileSync(
        join(root, CREDENTIALS_DIR, "nats", `leaf-${cloud}.conf`),
        join(etc, "ferry-auth", `leaf-${cloud}.conf`),
      );
    for (const name of ["ca.pem", ...["hub", ...CLOUDS].flatMap((s) => [`${s}.pem`, `${s}-key.pem`])])
      copyFileSync(join(root, TLS_DIR, name), join(etc, "ferry-tls", name));
    // /etc replaced by the folder above, as in a container: only there do the configs' paths resolve.
    const checks = ["hub", ...CLOUDS]
      .map((s) => `"${resolveNatsServerBinary()}" -t -c /etc/nats/${s}.conf 2>&1`)
      .join(" && ");
    const out = execFileSync(
      "unshare",
      ["-rm", "sh", "-c", `mount --bind "${etc}" /etc && ${checks} && echo checked`],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    expect(out.trim().split("\n").at(-1)).toBe("checked");
    for (const server of ["hub", ...CLOUDS])
      expect(out).toContain(`configuration file /etc/nats/${server}.conf is valid`);
  });
});
