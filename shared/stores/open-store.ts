import { ConfigError } from "../errors.ts";
import { FsStore } from "./fs-store.ts";
import type { BlobStore } from "./types.ts";

/** What it takes to open one cloud's store; grows a member per kind as S3, GCS and Azure arrive. */
export type StoreOpenSpec = { cloud: string; kind: "fs"; root: string; throttleBytesPerSec?: number };

/** The one way the rest of the project gets a BlobStore. */
export function openStore(spec: StoreOpenSpec): BlobStore {
  switch (spec.kind) {
    case "fs":
      return new FsStore({ cloud: spec.cloud, root: spec.root, throttleBytesPerSec: spec.throttleBytesPerSec });
    default: {
      // Unreachable for typed callers; guards specs parsed from JSON at runtime.
      const kind: never = spec.kind;
      throw new ConfigError(`store kind ${JSON.stringify(kind)} is not supported yet [cloud=${(spec as { cloud?: string }).cloud}]`);
    }
  }
}
