import { ConfigError } from "../errors.ts";
import type { Deployment } from "../topology/deployment.ts";
import { AzblobStore } from "./azblob/azblob-store.ts";
import { FsStore } from "./fs/fs-store.ts";
import { GcsStore } from "./gcs/gcs-store.ts";
import { S3Store } from "./s3/s3-store.ts";
import type { BlobStore } from "./types.ts";

/** A store on the local disk: `root` is an absolute folder. */
export interface FsOpenSpec {
  cloud: string;
  kind: "fs";
  root: string;
  throttleBytesPerSec?: number;
}

/**
 * An S3 bucket. Without `endpoint`, AWS itself in `region`; credentials come from the AWS SDK's
 * default chain (environment, shared config and profiles, instance roles). `local: true` means a
 * server ferry started on loopback, reached with its fixed development credentials.
 */
export interface S3OpenSpec {
  cloud: string;
  kind: "s3";
  bucket: string;
  region: string;
  endpoint?: string;
  /** Path-style URLs (`http://host/bucket/key`), which S3-compatible servers need. */
  forcePathStyle?: boolean;
  local?: boolean;
  /** Multipart part size. @default 8 MiB */
  partSizeBytes?: number;
}

/** A GCS bucket. Without `endpoint`, Google itself; credentials from Application Default Credentials. */
export interface GcsOpenSpec {
  cloud: string;
  kind: "gcs";
  bucket: string;
  projectId?: string;
  endpoint?: string;
  local?: boolean;
}

/**
 * An Azure Blob container. `endpoint` is the account's blob URL (https://<account>.blob.core.windows.net);
 * credentials from AZURE_STORAGE_CONNECTION_STRING, else DefaultAzureCredential.
 */
export interface AzblobOpenSpec {
  cloud: string;
  kind: "azblob";
  container: string;
  endpoint?: string;
  local?: boolean;
}

/** What it takes to open one cloud's store. Never holds a secret: credentials come from the environment. */
export type StoreOpenSpec = FsOpenSpec | S3OpenSpec | GcsOpenSpec | AzblobOpenSpec;

/** The one way the rest of the project gets a BlobStore. */
export function openStore(spec: StoreOpenSpec): BlobStore {
  switch (spec.kind) {
    case "fs":
      return new FsStore({ cloud: spec.cloud, root: spec.root, throttleBytesPerSec: spec.throttleBytesPerSec });
    case "s3":
      return new S3Store(spec);
    case "gcs":
      return new GcsStore(spec);
    case "azblob":
      return new AzblobStore(spec);
    default: {
      // Unreachable for typed callers; guards specs parsed from JSON at runtime.
      const kind: never = spec;
      throw new ConfigError(
        `store kind ${JSON.stringify((kind as { kind?: unknown }).kind)} is not supported [cloud=${(spec as { cloud?: string }).cloud}]`,
      );
    }
  }
}

/** Opens the store of every cloud in the deployment. `FERRY_FS_THROTTLE_BPS` slows fs writes for chaos drills. */
export function openStores(d: Deployment): Map<string, BlobStore> {
  const throttle = Number(process.env.FERRY_FS_THROTTLE_BPS ?? 0);
  const stores = new Map<string, BlobStore>();
  for (const c of d.topology.clouds) {
    const spec = d.stores[c.name];
    if (!spec) throw new Error(`deployment has no store for cloud "${c.name}"`);
    stores.set(
      c.name,
      openStore(spec.kind === "fs" && throttle > 0 ? { ...spec, throttleBytesPerSec: throttle } : spec),
    );
  }
  return stores;
}
