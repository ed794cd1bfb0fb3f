import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../shared/errors.ts";
import { STAGES } from "../../shared/stages.ts";
import { composeDeployment, composeDrift, renderCompose, writeComposeCerts } from "../../shared/topology/compose.ts";
import { writeComposeCredentials } from "../../shared/topology/compose-auth.ts";
import { COMPOSE_DIR, COMPOSE_FILE, TLS_DIR } from "../../shared/topology/compose-layout.ts";
import { yamlBlock } from "../../shared/topology/compose-yaml.ts";
import { compileTopology, loadTopology } from "../../shared/topology/config.ts";
import { readDeployment } from "../../shared/topology/deployment.ts";
import { q, renderLeafConfig } from "../../shared/topology/nats-config.ts";

// No Docker here: these tests check that the generated files agree with the topology and with each other.

const ROOT = resolve(import.meta.dirname, "../..");
const rawTopology = (): { clouds: { name: string }[] } => JSON.parse(readFileSync(join(ROOT, "topology.json"), "utf8"));
const base = renderCompose(loadTopology(join(ROOT, "topology.json")));
const CLOUDS = base.deployment.topology.clouds.map((c) => c.name);
const workerNames = (cloud: string): string[] => [...STAGES.map((s) => `${s}-${cloud}`), `gateway-${cloud}`];

describe("the committed compose files", () => {
  it("are exactly what topology.json generates (run ./ferry compose after editing the topology)", () => {
    expect(composeDrift(ROOT, base.files)).toEqual([]);
  });

  it("each start with a do-not-edit header naming the topology and the command", () => {
    for (const [path, text] of Object.entries(base.files)) {
      const head = path.endsWith(".json") ? (JSON.parse(text) as Record<string, string>)["//"] : text.split("\n")[0];
      expect(head, path).toContain("Generated from topology.json by ./ferry compose. Do not edit");
    }
  });

  it("deployment.json is a deployment the workers can read, on container hostnames", () => {
    const d = readDeployment(join(ROOT, COMPOSE_DIR));
    expect(d.dataDir).toBe("/deploy");
    expect(d.hub.url).toBe("nats://hub:4222");
    for (const cloud of CLOUDS) {
      expect(d.leaves[cloud]?.url).toBe(`nats://${cloud}:4222`);
      expect(d.stores[cloud]).toEqual({ cloud, kind: "fs", root: `/data/stores/${cloud}` });
    }
  });

  it("reference only services, volumes and files that exist (TLS files and credentials: those ./ferry compose makes)", () => {
    const { services, volumes } = base.model;
    const tmp = mkdtempSync(join(tmpdir(), "ferry-compose-tls-"));
    const topology = loadTopology(join(ROOT, "topology.json"));
    const certs = writeComposeCerts(topology, tmp).map((f) => relative(tmp, f));
    const creds = writeComposeCredentials(topology, tmp, q).map((f) => relative(tmp, f));
    rmSync(tmp, { recursive: true, force: true });
    expect(certs).toContain(`${TLS_DIR}/ca.pem`);
    expect(certs).not.toContain(`${TLS_DIR}/ca-key.pem`);
    const exists = { ...base.files, ...Object.fromEntries([...certs, ...creds].map((f) => [f, ""])) };
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {}))
        expect(services, `${name} depends on ${dep}`).toHaveProperty([dep]);
      for (const mount of s.volumes ?? []) {
        const [from] = mount.split(":") as [string];
        if (from.startsWith("./")) expect(exists, `${name} mounts ${from}`).toHaveProperty([from.slice(2)]);
        else expect(volumes, `${name} mounts volume ${from}`).toHaveProperty([from]);
      }
    }
    expect(Object.keys(base.files)).toContain(COMPOSE_FILE);
  });
});

describe("renderCompose", () => {
  it("adding a cloud adds its leaf, its 4 workers and its config, and changes nothing else's shape", () => {
    const raw = rawTopology();
    const more = renderCompose(compileTopology({ ...raw, clouds: [...raw.clouds, { name: "onprem" }] }));
    const added = (a: object, b: object) => Object.keys(b).filter((k) => !(k in a));

    expect(added(base.model.services, more.model.services)).toEqual(["onprem", ...workerNames("onprem")]);
    expect(added(more.model.services, base.model.services)).toEqual([]);
    expect(added(base.files, more.files)).toEqual(["deploy/compose/nats/onprem.conf"]);
    expect(added(more.files, base.files)).toEqual([]);
    expect(added(base.model.volumes, more.model.volumes)).toEqual(["nats-onprem"]);

    // The new services are the first cloud's, renamed.
    const [first] = CLOUDS as [string];
    const renamed = (name: string) => JSON.parse(JSON.stringify(base.model.services[name]).replaceAll(first, "onprem"));
    expect(more.model.services.onprem).toEqual(renamed(first));
    for (const stage of STAGES) expect(more.model.services[`${stage}-onprem`]).toEqual(renamed(`${stage}-${first}`));

    // Every existing service is unchanged, except that setup also waits for the new leaf.
    for (const [name, s] of Object.entries(base.model.services)) {
      if (name !== "setup") expect(more.model.services[name], name).toEqual(s);
    }
    expect(more.model.services.setup?.depends_on).toEqual({
      ...base.model.services.setup?.depends_on,
      onprem: { condition: "service_healthy" },
    });
    expect(more.files[`${COMPOSE_DIR}/nats/onprem.conf`]).toBe(
      base.files[`${COMPOSE_DIR}/nats/${first}.conf`]?.replaceAll(first, "onprem"),
    );
  });

  it("makes every worker depend on its own cloud's leaf only (and on the stream setup)", () => {
    const servers = ["hub", ...CLOUDS];
    for (const cloud of CLOUDS) {
      for (const name of workerNames(cloud)) {
        const deps = base.model.services[name]?.depends_on ?? {};
        expect(
          Object.keys(deps).filter((d) => servers.includes(d)),
          name,
        ).toEqual([cloud]);
        expect(deps.setup, name).toEqual({ condition: "service_completed_successfully" });
        const [what] = name.split("-");
        const command = what === "gateway" ? ["gateway/main.ts", cloud] : ["stages/main.ts", what, cloud];
        expect(base.model.services[name]?.command, name).toEqual([...command, "/deploy"]);
      }
    }
    expect(Object.keys(base.model.services.orchestrator?.depends_on ?? {})).toEqual(["hub", "setup"]);
  });

  it("renders leaf configs that listen on all interfaces and dial the hub by its service name", () => {
    for (const cloud of CLOUDS) {
      const conf = base.files[`${COMPOSE_DIR}/nats/${cloud}.conf`] as string;
      expect(conf).toContain(`urls: ["nats-leaf://hub:7422"]`);
      expect(conf).toContain(`listen: "0.0.0.0:4222"`);
      expect(conf).toContain(`http: "0.0.0.0:8222"`);
      expect(conf).toContain(`domain: "${cloud}"`);
      expect(conf).not.toContain("127.0.0.1");
    }
    expect(base.files[`${COMPOSE_DIR}/nats/hub.conf`]).toContain(`listen: "0.0.0.0:7422"`);
  });

  it("leaves the local renderers on loopback by default", () => {
    const local = renderLeafConfig(composeDeployment(compileTopology(rawTopology())), CLOUDS[0] as string);
    expect(local).toContain(`urls: ["nats-leaf://127.0.0.1:7422"]`);
    expect(local).toContain(`listen: "127.0.0.1:4222"`);
    expect(local).not.toContain("0.0.0.0");
  });

  it("refuses a cloud named like another service", () => {
    for (const name of ["hub", "jaeger", "setup", "orchestrator"]) {
      expect(() => renderCompose(compileTopology({ hub: { domain: "core" }, clouds: [{ name }] }))).toThrow(
        ConfigError,
      );
    }
  });
});

describe("yamlBlock", () => {
  it("quotes every string, so YAML reads no number, boolean, null or compose variable", () => {
    const lines = yamlBlock(
      {
        a: {
          ports: ["127.0.0.1:4222:4222"],
          command: ["yes", "null", "1.0"],
          env: { X: 'say "hi"\n$HOME' },
          n: 3,
          empty: {},
        },
      },
      0,
    );
    expect(lines).toEqual([
      "a:",
      "  ports:",
      `    - "127.0.0.1:4222:4222"`,
      `  command: ["yes", "null", "1.0"]`,
      "  env:",
      `    X: "say \\"hi\\"\\n$$HOME"`,
      "  n: 3",
      "  empty: {}",
    ]);
  });
});

describe("renderCompose with a 3-node hub and more workers", () => {
  const r = renderCompose(
    compileTopology({ hub: { nodes: 3 }, clouds: [{ name: "aws", workers: { verify: 2 } }, { name: "gcp" }] }),
  );
  const services = Object.keys(r.model.services);

  it("has one service per process of the process list", () => {
    for (const s of ["hub-1", "hub-2", "hub-3", "orchestrator-1", "orchestrator-2", "orchestrator-3", "verify-aws-2"])
      expect(services, s).toContain(s);
    expect(services).not.toContain("verify-gcp-2");
    expect(r.model.services["orchestrator-2"]?.depends_on).toHaveProperty("hub-2");
  });

  it("routes each hub node to the others by service name, and leaves list every node", () => {
    const conf = r.files["deploy/compose/nats/hub-2.conf"] ?? "";
    expect(conf).toContain(`"nats-route://hub-1:6222"`);
    expect(conf).toContain(`"nats-route://hub-3:6222"`);
    expect(conf).not.toContain("nats-route://hub-2");
    expect(r.files["deploy/compose/nats/aws.conf"]).toContain(
      `urls: ["nats-leaf://hub-1:7422", "nats-leaf://hub-2:7422", "nats-leaf://hub-3:7422"]`,
    );
  });
});
