import { join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { localStoreEndpoint } from "../stores/local-endpoint.ts";
import type { StoreOpenSpec } from "../stores/open-store.ts";
import { parseSize } from "../units.ts";
import type { CloudSpec } from "./config.ts";

/** A cloud's store as configured in topology.json, validated; endpoints of local servers are filled in later by the plan. */
export type StoreSpec =
  | {
      kind: "fs" /** Folder; relative paths are under the deployment's data folder. @default stores/<cloud> */;
      root?: string;
    }
  | {
      kind: "s3";
      bucket: string /** @default us-east-1 */;
      region: string;
      endpoint?: string;
      forcePathStyle?: boolean;
      local?: boolean;
      partSizeBytes?: number;
    }
  | { kind: "gcs"; bucket: string; projectId?: string; endpoint?: string; local?: boolean }
  | { kind: "azblob"; container: string; endpoint?: string; local?: boolean };

/** Keys that would put a credential in the config file; credentials come from the environment only. */
const CREDENTIAL_KEYS = [
  "accessKeyId",
  "secretAccessKey",
  "sessionToken",
  "credentials",
  "accountKey",
  "connectionString",
  "sasToken",
  "keyFilename",
  "password",
  "secret",
];

const FIELDS: Record<StoreSpec["kind"], string[]> = {
  fs: ["kind", "root"],
  s3: ["kind", "bucket", "region", "endpoint", "forcePathStyle", "local", "partSize"],
  gcs: ["kind", "bucket", "projectId", "endpoint", "local"],
  azblob: ["kind", "container", "endpoint", "local"],
};

/** S3 and GCS share the DNS-style bucket rules; Azure containers are lower-case letters, digits and single hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const MIN_S3_PART = 5 * 1024 * 1024;

/** Validates one cloud's `store` entry; every error names the key and the fix. */
export function compileStore(key: string, raw: Record<string, unknown>): StoreSpec {
  const kind = raw.kind;
  if (kind !== "fs" && kind !== "s3" && kind !== "gcs" && kind !== "azblob") {
    throw new ConfigError(`${key}.kind: ${JSON.stringify(kind)} is not supported (use "s3", "gcs", "azblob" or "fs")`);
  }
  for (const k of Object.keys(raw)) {
    if (CREDENTIAL_KEYS.includes(k)) {
      throw new ConfigError(
        `${key}.${k}: credentials do not go in topology.json; the ${kind} SDK reads them from the environment (see README, "Real clouds")`,
      );
    }
    if (!FIELDS[kind].includes(k))
      throw new ConfigError(`${key}.${k}: unknown field for a "${kind}" store (fields: ${FIELDS[kind].join(", ")})`);
  }
  const local = optionalBool(`${key}.local`, raw.local);
  const endpoint = optionalUrl(`${key}.endpoint`, raw.endpoint);
  if (local && endpoint)
    throw new ConfigError(
      `${key}: "local": true starts a server on loopback and picks its endpoint; remove "endpoint" or "local"`,
    );
  switch (kind) {
    case "fs": {
      if (raw.root !== undefined && (typeof raw.root !== "string" || raw.root === ""))
        throw new ConfigError(`${key}.root: expected a folder path`);
      return raw.root === undefined ? { kind } : { kind, root: raw.root as string };
    }
    case "s3": {
      const partSizeBytes = raw.partSize === undefined ? undefined : parseSize(`${key}.partSize`, raw.partSize);
      if (partSizeBytes !== undefined && partSizeBytes < MIN_S3_PART)
        throw new ConfigError(`${key}.partSize: S3 parts must be at least 5MiB`);
      const region = raw.region === undefined ? "us-east-1" : nonEmpty(`${key}.region`, raw.region);
      const forcePathStyle = optionalBool(`${key}.forcePathStyle`, raw.forcePathStyle);
      return {
        kind,
        bucket: named(`${key}.bucket`, raw.bucket, BUCKET, "3-63 lower-case letters, digits, dots and hyphens"),
        region,
        ...(endpoint ? { endpoint } : {}),
        ...(forcePathStyle === undefined ? {} : { forcePathStyle }),
        ...(local ? { local } : {}),
        ...(partSizeBytes === undefined ? {} : { partSizeBytes }),
      };
    }
    case "gcs": {
      const projectId = raw.projectId === undefined ? undefined : nonEmpty(`${key}.projectId`, raw.projectId);
      return {
        kind,
        bucket: named(`${key}.bucket`, raw.bucket, BUCKET, "3-63 lower-case letters, digits, dots and hyphens"),
        ...(projectId ? { projectId } : {}),
        ...(endpoint ? { endpoint } : {}),
        ...(local ? { local } : {}),
      };
    }
    case "azblob": {
      if (!local && !endpoint) {
        throw new ConfigError(
          `${key}.endpoint: an Azure store needs its account's blob endpoint, e.g. "https://<account>.blob.core.windows.net" (or "local": true)`,
        );
      }
      return {
        kind,
        container: named(
          `${key}.container`,
          raw.container,
          CONTAINER,
          "3-63 lower-case letters, digits and single hyphens",
        ),
        ...(endpoint ? { endpoint } : {}),
        ...(local ? { local } : {}),
      };
    }
  }
}

function named(key: string, v: unknown, re: RegExp, rule: string): string {
  if (typeof v !== "string" || !re.test(v))
    throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a valid name (${rule})`);
  return v;
}

function nonEmpty(key: string, v: unknown): string {
  if (typeof v !== "string" || v === "")
    throw new ConfigError(`${key}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function optionalBool(key: string, v: unknown): boolean | undefined {
  if (v !== undefined && typeof v !== "boolean")
    throw new ConfigError(`${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function optionalUrl(key: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(String(v));
  } catch {
    throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a URL (e.g. "https://s3.eu-west-1.amazonaws.com")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`${key}: expected an http or https URL`);
  if (url.username || url.password || url.search)
    throw new ConfigError(`${key}: the endpoint must not carry credentials or a query string; use the environment`);
  return String(v).replace(/\/+$/, "");
}

/** How workers open a cloud's store; a local server's endpoint is on loopback at `localPort`. */
export function storeOpenSpec(c: CloudSpec, dir: string, localPort: number | undefined): StoreOpenSpec {
  const s = c.store;
  const local =
    localPort === undefined || s.kind === "fs" ? {} : { local: true, endpoint: localStoreEndpoint(s.kind, localPort) };
  switch (s.kind) {
    case "fs":
      return { cloud: c.name, kind: "fs", root: resolve(dir, s.root ?? join("stores", c.name)) };
    case "s3":
      return {
        cloud: c.name,
        ...s,
        forcePathStyle: s.forcePathStyle ?? (s.endpoint !== undefined || localPort !== undefined),
        ...local,
      };
    case "gcs":
      return {
        cloud: c.name,
        ...s,
        ...(localPort === undefined ? {} : { projectId: s.projectId ?? "ferry-local" }),
        ...local,
      };
    case "azblob":
      return { cloud: c.name, ...s, ...local };
  }
}
