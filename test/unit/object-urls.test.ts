import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { keyRefusal } from "../../gateway/key-policy.ts";
import { ConfigError, StoreAccessError } from "../../shared/errors.ts";
import { parseObjectUrlRequest } from "../../shared/object-urls/protocol.ts";
import { checkFsUrl, signFsUrl } from "../../shared/stores/fs/signed-url.ts";
import { GcsStore } from "../../shared/stores/gcs/gcs-store.ts";
import { S3Store } from "../../shared/stores/s3/s3-store.ts";
import { compileTopology } from "../../shared/topology/config.ts";

const SECRET = Buffer.alloc(32, 7);

describe("which keys a gateway signs", () => {
  it("reads under staging/ and chunks/, writes only under staging/", () => {
    expect(keyRefusal("get", "staging/f1/0")).toBeUndefined();
    expect(keyRefusal("get", "chunks/f1/0-ab")).toBeUndefined();
    expect(keyRefusal("put", "staging/f1/0")).toBeUndefined();
    expect(keyRefusal("put", "chunks/f1/0-ab")).toMatch(/only under staging\//);
    for (const key of ["manifest/f1", "staging/../x", "/staging/f1/0", "staging//0", "stagingx/0", ".tmp/a"])
      expect(keyRefusal("get", key), key).toBeDefined();
  });

  it("refuses a request that is not {op, key}, naming what is wrong", () => {
    expect(parseObjectUrlRequest({ op: "delete", key: "staging/f/0" })).toEqual({
      reason: "refused",
      error: 'op "delete" is not "get" or "put"',
    });
    expect(parseObjectUrlRequest({ op: "get" })).toMatchObject({ reason: "refused", error: /key undefined/ });
    expect(parseObjectUrlRequest(undefined)).toMatchObject({ reason: "refused" });
    expect(parseObjectUrlRequest({ op: "put", key: "staging/f/0" })).toEqual({ op: "put", key: "staging/f/0" });
  });
});

describe("fs URLs", () => {
  const signed = (method: "GET" | "PUT", key: string, sec = 60) =>
    new URL(signFsUrl("http://127.0.0.1:9", SECRET, key, { method, expiresInSec: sec }).url);

  it("are good for their method and key until they expire", () => {
    const url = signed("GET", "staging/f/0");
    expect(url.pathname).toBe("/o/staging/f/0");
    expect(checkFsUrl(SECRET, "GET", "staging/f/0", url.searchParams)).toBeUndefined();
    expect(checkFsUrl(SECRET, "PUT", "staging/f/0", url.searchParams)).toBe("bad-signature");
    expect(checkFsUrl(SECRET, "GET", "staging/f/1", url.searchParams)).toBe("bad-signature");
    expect(checkFsUrl(Buffer.alloc(32, 8), "GET", "staging/f/0", url.searchParams)).toBe("bad-signature");
    expect(checkFsUrl(SECRET, "GET", "staging/f/0", url.searchParams, Date.now() + 61_000)).toBe("expired");
  });

  it("cannot be stretched by editing exp, nor used without a signature", () => {
    const url = signed("GET", "staging/f/0");
    const later = new URLSearchParams(url.searchParams);
    later.set("exp", String(Number(later.get("exp")) + 3600));
    expect(checkFsUrl(SECRET, "GET", "staging/f/0", later)).toBe("bad-signature");
    expect(checkFsUrl(SECRET, "GET", "staging/f/0", new URLSearchParams({ exp: later.get("exp") ?? "" }))).toBe(
      "bad-signature",
    );
    expect(checkFsUrl(SECRET, "GET", "staging/f/0", new URLSearchParams({ exp: "soon", sig: "ab" }))).toBe(
      "bad-signature",
    );
  });
});

describe("clouds[].gateway in topology.json", () => {
  const compile = (gateway: unknown) => compileTopology({ clouds: [{ name: "aws", gateway }] }).clouds[0]?.gateway;

  it("fills defaults and reads listen, publicUrl and urlExpiry", () => {
    expect(compile({})).toEqual({ listen: { host: "127.0.0.1", port: 0 }, urlExpiryMs: 900_000 });
    expect(compile({ listen: "0.0.0.0:7480", publicUrl: "http://10.0.0.5:7480", urlExpiry: "5m" })).toEqual({
      listen: { host: "0.0.0.0", port: 7480 },
      publicUrl: "http://10.0.0.5:7480",
      urlExpiryMs: 300_000,
    });
    expect(compileTopology({ clouds: [{ name: "aws" }] }).clouds[0]?.gateway).toBeUndefined();
  });

  it("names the bad key and the fix", () => {
    expect(() => compile({ listen: "7480" })).toThrow(/clouds\[0\]\.gateway\.listen: "7480" is not "<host>:<port>"/);
    expect(() => compile({ urlExpiry: "8d" })).toThrow(/clouds\[0\]\.gateway\.urlExpiry: must be from 1s to 7d/);
    expect(() => compile({ publicUrl: "10.0.0.5" })).toThrow(/clouds\[0\]\.gateway\.publicUrl: expected an http/);
    expect(() => compile({ port: 1 })).toThrow(/clouds\[0\]\.gateway\.port: unknown key/);
    expect(() => compile("yes")).toThrow(ConfigError);
  });
});

describe("a store whose credentials cannot sign", () => {
  const saved = { ...process.env };
  beforeEach(() => {
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS"])
      delete process.env[name];
    // No instance metadata service to fall back on: fail at once instead of probing for seconds.
    process.env.AWS_EC2_METADATA_DISABLED = "true";
    process.env.AWS_CONFIG_FILE = "/nonexistent";
    process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent";
    process.env.METADATA_SERVER_DETECTION = "none";
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it("says which credentials are missing and how to give them", async () => {
    const options = { method: "GET", expiresInSec: 60 } as const;
    const s3 = new S3Store({ cloud: "aws", bucket: "b", region: "us-east-1", endpoint: "http://127.0.0.1:1" });
    await expect(s3.signedUrl("staging/f/0", options)).rejects.toThrow(StoreAccessError);
    await expect(s3.signedUrl("staging/f/0", options)).rejects.toThrow(/no credentials found/);
    const gcs = new GcsStore({ cloud: "gcp", bucket: "b", endpoint: "http://127.0.0.1:1" });
    await expect(gcs.signedUrl("staging/f/0", options)).rejects.toThrow(/Fix: sign as a service account/);
    await s3.close();
  });
});
