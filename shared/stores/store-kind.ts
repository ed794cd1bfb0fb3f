import type { ServerProcessSpec } from "../process/server-spec.ts";
import type { ObjectReader } from "../sources/object-source.ts";
import type { ObjectUrl } from "../sources/object-url.ts";
import type { BlobStore } from "./types.ts";

/**
 * Everything ferry knows about one kind of store, in one object: its folder under shared/stores/
 * exports it, and the list in registry.ts is the only place that names every kind. Config parsing,
 * deployment planning, opening, local servers, the CLI's summary and the conformance suite all go
 * through these descriptors, so a new kind is one folder and one line in that list.
 *
 * `Config` is the kind's checked topology.json entry; `Spec` is how a process opens it (written to
 * deployment.json, so it never holds a secret: credentials come from the environment).
 */
export interface StoreKindDescriptor<
  K extends string,
  Config extends { kind: K },
  Spec extends { cloud: string; kind: K },
> {
  /** The `kind` of a topology.json store entry, e.g. "s3". */
  readonly name: K;
  /** Keys a topology.json entry of this kind may have, `kind` included, in the order error messages list them. */
  readonly fields: readonly string[];
  /**
   * An entry that works on any machine with ferry's set-up done (on its local server, or in a folder);
   * the conformance suite (test/stores/conformance.test.ts) runs every kind from it.
   */
  readonly example: Readonly<{ kind: K } & Record<string, unknown>>;
  /**
   * Checks a topology.json entry whose keys are known to be among `fields` (compileStore checked
   * that); `key` is its path, e.g. `clouds[0].store`. Every error is a ConfigError naming `key.<field>` and the fix.
   */
  parseConfig(key: string, raw: Record<string, unknown>): Config;
  /** How processes open this cloud's store, once the deployment is placed (see StorePlacement). */
  openSpec(cloud: string, config: Config, placement: StorePlacement): Spec;
  /** The store itself. Throws ConfigError for a spec it cannot use. */
  open(spec: Spec): BlobStore;
  /** One line for people: `s3 bucket ferry-aws at http://127.0.0.1:4567 (local server)`, `fs /data/stores/aws`. */
  describe(spec: Spec): string;
  /**
   * Whether the store lives on this machine (a folder, or a server ferry runs on loopback), so that
   * a container cannot reach it: `ferry compose` gives such clouds fs stores on a shared volume.
   */
  onThisMachine(config: Config): boolean;
  /** The server ferry runs on loopback for entries that ask for one (`"local": true`); absent when the kind has none. */
  readonly localServer?: LocalStoreServer<Config>;
  /** Environment variables its SDK takes credentials from: names only, which `ferry plan` lists in a host's credentials.env. */
  readonly credentialEnv: readonly string[];
  /**
   * Ingest sources named by URL in this kind's storage (`s3://bucket/key`): the URL scheme, and how
   * a cloud with a store of this kind reads such an object with its own credentials (shared/sources/).
   */
  readonly objectUrls?: ObjectUrlReader<Spec>;
}

/** How a kind's clouds read objects named by `<scheme>://bucket/key` in ingest requests. */
export interface ObjectUrlReader<Spec> {
  readonly scheme: string;
  reader(spec: Spec, url: ObjectUrl): ObjectReader;
}

/** A kind that has a server ferry can run on loopback (the registry derives LocalServerKind from this). */
export type StoreKindWithLocalServer<
  K extends string,
  Config extends { kind: K },
  Spec extends { cloud: string; kind: K },
> = StoreKindDescriptor<K, Config, Spec> & { readonly localServer: LocalStoreServer<Config> };

/** Where a deployment puts a cloud's store. */
export interface StorePlacement {
  /** The deployment's data folder (relative fs roots are under it). */
  dataDir: string;
  /** Port of the local server ferry runs for this store on 127.0.0.1; undefined when it runs none. */
  localPort?: number | undefined;
}

/** What a local server is started with; the supervisor picks the port and folders. */
export interface LocalServerOptions {
  port: number;
  /** Where the server keeps its objects, so a restart finds them again. */
  dataDir: string;
  /** File the server's output is appended to; without it, it is discarded. */
  logFile?: string | undefined;
  /**
   * Whether the server writes a line per request. Off by default: fake-gcs-server's access log
   * holds each signed URL whole, signature included. Tests that read that log turn it on.
   */
  logRequests?: boolean;
}

/**
 * A store server ferry runs on 127.0.0.1 (versitygw, fake-gcs-server, Azurite). The kind says what
 * to run and how to make its buckets; supervisor/local-stores.ts spawns, watches and restarts it.
 */
export interface LocalStoreServer<Config> {
  /** Whether `config` asks for this server (`"local": true`). */
  runsFor(config: Config): boolean;
  /** The buckets (or containers) the server must have for `config`. */
  buckets(config: Config): string[];
  /** The URL clients use for the server on 127.0.0.1:`port`. */
  endpoint(port: number): string;
  /** The process to run, its arguments and readiness probe; prepares `dataDir` when the server needs it made. */
  process(options: LocalServerOptions): Promise<ServerProcessSpec>;
  /** Creates each bucket the running server at `endpoint` lacks; one that exists is fine. Throws ServerStartError. */
  createBuckets(endpoint: string, buckets: readonly string[]): Promise<void>;
  /** Whether a SIGKILL can lose writes it acknowledged (Azurite): chaos drills stop it with SIGTERM instead. */
  readonly losesWritesOnKill: boolean;
}

/** `<kind> <what> at <endpoint> (local server)`: the CLI's summary of a store reached over the network. */
export function describeRemote(
  kind: string,
  what: string,
  spec: { endpoint?: string | undefined; local?: boolean | undefined },
): string {
  return `${kind} ${what}${spec.endpoint ? ` at ${spec.endpoint}` : ""}${spec.local ? " (local server)" : ""}`;
}

/**
 * What a local server adds to a store's open spec: `local: true` (the store then uses the server's
 * public development credentials) and its endpoint. Nothing when the store runs no local server.
 */
export function localServerFields(
  server: { endpoint(port: number): string },
  placement: StorePlacement,
): { local?: true; endpoint?: string } {
  return placement.localPort === undefined ? {} : { local: true, endpoint: server.endpoint(placement.localPort) };
}
