import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../shared/errors.ts";
import { composeDeployment } from "../../shared/topology/compose.ts";
import { type CloudSpec, compileTopology } from "../../shared/topology/config.ts";
import { storeOpenSpec } from "../../shared/topology/store-config.ts";
import { planDeployment } from "../../supervisor/plan.ts";

/** One cloud's `store` entry, compiled the way topology.json is. */
function compiled(store: Record<string, unknown>): CloudSpec {
  const [cloud] = compileTopology({ clouds: [{ name: "aws", store }] }).clouds;
  if (!cloud) throw new Error("no cloud compiled");
  return cloud;
}

describe("a store entry in topology.json", () => {
  it.each([
    [{ kind: "fs" }, { kind: "fs" }],
    [
      { kind: "fs", root: "elsewhere" },
      { kind: "fs", root: "elsewhere" },
    ],
    [
      { kind: "s3", bucket: "ferry-aws", local: true },
      { kind: "s3", bucket: "ferry-aws", region: "us-east-1", local: true },
    ],
    [
      {
        kind: "s3",
        bucket: "acme.data",
        region: "eu-west-1",
        endpoint: "https://s3.example.com//",
        forcePathStyle: false,
        partSize: "16MiB",
      },
      {
        kind: "s3",
        bucket: "acme.data",
        region: "eu-west-1",
        endpoint: "https://s3.example.com",
        forcePathStyle: false,
        partSizeBytes: 16 * 1024 * 1024,
      },
    ],
    [
      { kind: "gcs", bucket: "ferry-gcp", local: true },
      { kind: "gcs", bucket: "ferry-gcp", local: true },
    ],
    [
      { kind: "gcs", bucket: "ferry-gcp", projectId: "acme-ml", endpoint: "http://gcs.example.com:4443" },
      { kind: "gcs", bucket: "ferry-gcp", projectId: "acme-ml", endpoint: "http://gcs.example.com:4443" },
    ],
    [
      { kind: "azblob", container: "ferry-azure", local: true },
      { kind: "azblob", container: "ferry-azure", local: true },
    ],
    [
      { kind: "azblob", container: "a-1-b", endpoint: "https://acme.blob.core.windows.net" },
      { kind: "azblob", container: "a-1-b", endpoint: "https://acme.blob.core.windows.net" },
    ],
  ])("%j compiles to %j", (raw, want) => {
    const { store } = compiled(raw);
    expect(store).toEqual(want);
    // Key order is part of deployment.json (and of the committed compose files).
    expect(Object.keys(store)).toEqual(Object.keys(want));
  });

  const at = "clouds[0].store";
  it.each([
    [{ kind: "tape" }, `${at}.kind: "tape" is not supported (use "s3", "gcs", "azblob" or "fs")`],
    [{ kind: 3 }, `${at}.kind: 3 is not supported (use "s3", "gcs", "azblob" or "fs")`],
    [
      { kind: "s3", bucket: "ferry-aws", secretAccessKey: "x" },
      `${at}.secretAccessKey: credentials do not go in topology.json; the s3 SDK reads them from the environment (see README, "Real clouds")`,
    ],
    [
      { kind: "azblob", container: "ferry-azure", connectionString: "x", local: true },
      `${at}.connectionString: credentials do not go in topology.json; the azblob SDK reads them from the environment (see README, "Real clouds")`,
    ],
    [
      { kind: "s3", bucket: "ferry-aws", container: "x" },
      `${at}.container: unknown field for a "s3" store (fields: kind, bucket, region, endpoint, forcePathStyle, local, partSize, serverSideEncryption, kmsKeyId)`,
    ],
    [
      { kind: "gcs", bucket: "ferry-gcp", region: "x" },
      `${at}.region: unknown field for a "gcs" store (fields: kind, bucket, projectId, endpoint, local, kmsKeyName)`,
    ],
    [
      { kind: "azblob", container: "ferry-azure", bucket: "x" },
      `${at}.bucket: unknown field for a "azblob" store (fields: kind, container, endpoint, local, encryptionScope)`,
    ],
    [{ kind: "fs", local: true }, `${at}.local: unknown field for a "fs" store (fields: kind, root)`],
    [{ kind: "fs", root: "" }, `${at}.root: expected a folder path`],
    [{ kind: "fs", root: 7 }, `${at}.root: expected a folder path`],
    [
      { kind: "s3", bucket: "ferry-aws", local: true, endpoint: "http://127.0.0.1:9000" },
      `${at}: "local": true starts a server on loopback and picks its endpoint; remove "endpoint" or "local"`,
    ],
    [{ kind: "gcs", bucket: "ferry-gcp", local: "yes" }, `${at}.local: expected true or false, got "yes"`],
    [
      { kind: "s3", bucket: "ferry-aws", endpoint: "nope" },
      `${at}.endpoint: "nope" is not a URL (e.g. "https://s3.eu-west-1.amazonaws.com")`,
    ],
    [
      { kind: "gcs", bucket: "ferry-gcp", endpoint: "ftp://x.example.com" },
      `${at}.endpoint: expected an http or https URL`,
    ],
    [
      { kind: "s3", bucket: "ferry-aws", endpoint: "https://user:pw@s3.example.com" },
      `${at}.endpoint: the endpoint must not carry credentials or a query string; use the environment`,
    ],
    [
      { kind: "azblob", container: "ferry-azure", endpoint: "https://acme.blob.core.windows.net/?sv=1" },
      `${at}.endpoint: the endpoint must not carry credentials or a query string; use the environment`,
    ],
    [{ kind: "s3", bucket: "ferry-aws", partSize: "4MiB" }, `${at}.partSize: S3 parts must be at least 5MiB`],
    [
      { kind: "s3", bucket: "ferry-aws", partSize: "big" },
      `${at}.partSize: "big" is not a size such as 8MiB or 1048576`,
    ],
    [{ kind: "s3", bucket: "ferry-aws", region: "" }, `${at}.region: expected a non-empty string, got ""`],
    [{ kind: "s3", bucket: "ferry-aws", forcePathStyle: 1 }, `${at}.forcePathStyle: expected true or false, got 1`],
    [
      { kind: "s3", bucket: "Ferry_AWS" },
      `${at}.bucket: "Ferry_AWS" is not a valid name (3-63 lower-case letters, digits, dots and hyphens)`,
    ],
    [{ kind: "s3" }, `${at}.bucket: undefined is not a valid name (3-63 lower-case letters, digits, dots and hyphens)`],
    [
      { kind: "gcs", bucket: "ab" },
      `${at}.bucket: "ab" is not a valid name (3-63 lower-case letters, digits, dots and hyphens)`,
    ],
    [{ kind: "gcs", bucket: "ferry-gcp", projectId: "" }, `${at}.projectId: expected a non-empty string, got ""`],
    [
      { kind: "azblob", container: "ferry-azure" },
      `${at}.endpoint: an Azure store needs its account's blob endpoint, e.g. "https://<account>.blob.core.windows.net" (or "local": true)`,
    ],
    [
      { kind: "azblob", container: "a--b", local: true },
      `${at}.container: "a--b" is not a valid name (3-63 lower-case letters, digits and single hyphens)`,
    ],
    [
      { kind: "azblob", container: "-ab", local: true },
      `${at}.container: "-ab" is not a valid name (3-63 lower-case letters, digits and single hyphens)`,
    ],
    [
      { kind: "azblob", container: "ferry.azure", local: true },
      `${at}.container: "ferry.azure" is not a valid name (3-63 lower-case letters, digits and single hyphens)`,
    ],
  ])("refuses %j: %s", (raw, message) => {
    expect(() => compiled(raw)).toThrow(ConfigError);
    expect(() => compiled(raw)).toThrow(message);
  });
});

describe("how a deployment opens a configured store", () => {
  it.each([
    [{ kind: "fs" }, undefined, { cloud: "aws", kind: "fs", root: "/data/stores/aws" }],
    [{ kind: "fs", root: "mine" }, undefined, { cloud: "aws", kind: "fs", root: "/data/mine" }],
    [{ kind: "fs", root: "/abs/olute" }, undefined, { cloud: "aws", kind: "fs", root: "/abs/olute" }],
    [
      { kind: "s3", bucket: "ferry-aws", local: true },
      7070,
      {
        cloud: "aws",
        kind: "s3",
        bucket: "ferry-aws",
        region: "us-east-1",
        local: true,
        endpoint: "http://127.0.0.1:7070",
        forcePathStyle: true,
      },
    ],
    [
      { kind: "s3", bucket: "ferry-aws" },
      undefined,
      { cloud: "aws", kind: "s3", bucket: "ferry-aws", region: "us-east-1", forcePathStyle: false },
    ],
    [
      { kind: "s3", bucket: "ferry-aws", endpoint: "https://s3.example.com" },
      undefined,
      {
        cloud: "aws",
        kind: "s3",
        bucket: "ferry-aws",
        region: "us-east-1",
        endpoint: "https://s3.example.com",
        forcePathStyle: true,
      },
    ],
    [
      { kind: "s3", bucket: "ferry-aws", endpoint: "https://s3.example.com", forcePathStyle: false, partSize: "6MiB" },
      undefined,
      {
        cloud: "aws",
        kind: "s3",
        bucket: "ferry-aws",
        region: "us-east-1",
        endpoint: "https://s3.example.com",
        forcePathStyle: false,
        partSizeBytes: 6 * 1024 * 1024,
      },
    ],
    [
      { kind: "gcs", bucket: "ferry-gcp", local: true },
      4443,
      {
        cloud: "aws",
        kind: "gcs",
        bucket: "ferry-gcp",
        local: true,
        endpoint: "http://127.0.0.1:4443",
        projectId: "ferry-local",
      },
    ],
    [
      { kind: "gcs", bucket: "ferry-gcp", projectId: "acme-ml" },
      undefined,
      { cloud: "aws", kind: "gcs", bucket: "ferry-gcp", projectId: "acme-ml" },
    ],
    [{ kind: "gcs", bucket: "ferry-gcp" }, undefined, { cloud: "aws", kind: "gcs", bucket: "ferry-gcp" }],
    [
      { kind: "azblob", container: "ferry-azure", local: true },
      10000,
      {
        cloud: "aws",
        kind: "azblob",
        container: "ferry-azure",
        local: true,
        endpoint: "http://127.0.0.1:10000/devstoreaccount1",
      },
    ],
    [
      { kind: "azblob", container: "ferry-azure", endpoint: "https://acme.blob.core.windows.net" },
      undefined,
      { cloud: "aws", kind: "azblob", container: "ferry-azure", endpoint: "https://acme.blob.core.windows.net" },
    ],
  ])("%j with local port %s opens as %j", (raw, port, want) => {
    expect(storeOpenSpec(compiled(raw), "/data", port)).toEqual(want);
  });

  it("plans a local server, with its buckets, for each local store and for nothing else", async () => {
    const topology = compileTopology({
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: "ferry-aws", local: true } },
        { name: "gcp", store: { kind: "gcs", bucket: "ferry-gcp", local: true } },
        { name: "azure", store: { kind: "azblob", container: "ferry-azure", local: true } },
        { name: "real", store: { kind: "s3", bucket: "acme-data", region: "eu-west-1" } },
        { name: "disk", store: { kind: "fs" } },
      ],
    });
    const d = await planDeployment(topology, "/data");
    expect(Object.keys(d.localStores)).toEqual(["aws", "gcp", "azure"]);
    const want = { aws: ["s3", "ferry-aws"], gcp: ["gcs", "ferry-gcp"], azure: ["azblob", "ferry-azure"] };
    for (const [cloud, [kind, bucket]] of Object.entries(want)) {
      const server = d.localStores[cloud];
      expect(server).toEqual({
        kind,
        port: expect.any(Number),
        dataDir: join("/data/stores", cloud),
        buckets: [bucket],
      });
      expect(d.stores[cloud]).toMatchObject({ local: true, endpoint: expect.stringContaining(`:${server?.port}`) });
    }
    expect(d.stores.real).toEqual({
      cloud: "real",
      kind: "s3",
      bucket: "acme-data",
      region: "eu-west-1",
      forcePathStyle: false,
    });
    expect(d.stores.disk).toEqual({ cloud: "disk", kind: "fs", root: "/data/stores/disk" });
    const ports = [d.hub.port, ...Object.values(d.localStores).map((s) => s.port)];
    expect(new Set(ports).size).toBe(ports.length);
  });

  it("gives containers fs stores for stores on this machine, and real clouds as configured", () => {
    const topology = compileTopology({
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: "ferry-aws", local: true } },
        { name: "disk", store: { kind: "fs", root: "/somewhere" } },
        { name: "real", store: { kind: "gcs", bucket: "acme-data", projectId: "acme-ml" } },
      ],
    });
    const d = composeDeployment(topology);
    expect(d.stores).toEqual({
      aws: { cloud: "aws", kind: "fs", root: "/data/stores/aws" },
      disk: { cloud: "disk", kind: "fs", root: "/data/stores/disk" },
      real: { cloud: "real", kind: "gcs", bucket: "acme-data", projectId: "acme-ml" },
    });
    expect(d.localStores).toEqual({});
  });
});
