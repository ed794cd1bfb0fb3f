import { join, resolve } from "node:path";
import { ConfigError } from "../../errors.ts";
import type { StoreKindDescriptor } from "../store-kind.ts";
import { FsStore } from "./fs-store.ts";

/** An fs store as topology.json gives it. */
export interface FsStoreConfig {
  kind: "fs";
  /** Folder; relative paths are under the deployment's data folder. @default stores/<cloud> */
  root?: string;
}

/** A store on the local disk: `root` is an absolute folder. */
export interface FsOpenSpec {
  cloud: string;
  kind: "fs";
  root: string;
  /** Chaos drills only: slow every put down to this many bytes per second. */
  throttleBytesPerSec?: number;
}

/** A folder on this machine: no SDK, no server, no credentials. */
export const fsKind: StoreKindDescriptor<"fs", FsStoreConfig, FsOpenSpec> = {
  name: "fs",
  credentialEnv: [],
  fields: ["kind", "root"],
  example: { kind: "fs" },
  parseConfig(key, raw) {
    if (raw.root !== undefined && (typeof raw.root !== "string" || raw.root === ""))
      throw new ConfigError(`${key}.root: expected a folder path`);
    return raw.root === undefined ? { kind: "fs" } : { kind: "fs", root: raw.root as string };
  },
  openSpec: (cloud, config, { dataDir }) => ({
    cloud,
    kind: "fs",
    root: resolve(dataDir, config.root ?? join("stores", cloud)),
  }),
  open: (spec) => new FsStore({ cloud: spec.cloud, root: spec.root, throttleBytesPerSec: spec.throttleBytesPerSec }),
  describe: (spec) => `fs ${spec.root}`,
  onThisMachine: () => true,
};

/** Whether `spec` opens an fs store, for what only a folder has (its root, its temp files, a throttle). */
export function isFsOpenSpec(spec: { kind: string }): spec is FsOpenSpec {
  return spec.kind === fsKind.name;
}
