import { readFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join, normalize, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { perStage, type Stage, stageRow } from "../stages.ts";
import { fsKind } from "../stores/fs/kind.ts";
import type { ProvidedCa } from "../tls/deployment-tls.ts";
import { parseDuration, parseSize } from "../units.ts";
import { compileGateway, type GatewaySpec } from "./gateway-config.ts";
import { compileHub, type HubSpec } from "./hub-config.ts";
import { compileScrub } from "./scrub-config.ts";
import { compileStore, type StoreSpec } from "./store-config.ts";
import { compileTlsConfig } from "./tls-config.ts";

export type { HubSpec, StoreSpec };

export interface CloudSpec {
  /** Lower-case name, used as JetStream domain and as the last subject token. */
  name: string;
  store: StoreSpec;
  /** Worker processes per stage in this cloud; they share the stage's durable consumer. @default 1 each */
  workers: Record<Stage, number>;
  /**
   * Folders this cloud's ingest workers may read local files from (absolute; `~` is the home of
   * the user who compiles the topology). A request for a path outside them is refused.
   * @default the user's home folder and the temp folder (see defaultSourceRoots)
   */
  sourceRoots: string[];
  /** Its gateway's settings, when `clouds[].gateway` gives any; else DEFAULT_GATEWAY applies. */
  gateway?: GatewaySpec;
}

/** The compiled topology: defaults filled, units turned into bytes and milliseconds. */
export interface Topology {
  /** The hub's JetStream domain (`hub.domain`). */
  hubDomain: string;
  /** The hub's nodes, addresses and ports. */
  hub: HubSpec;
  clouds: CloudSpec[];
  /** Replicas wanted per chunk, on distinct clouds. @default 3 */
  replicas: number;
  /** @default 8 MiB */
  chunkSizeBytes: number;
  /** How long a consumer waits for an ack before redelivering (work in progress renews it). @default 10s */
  ackWaitMs: number;
  /** Deliveries of one message before it goes to the dead-letter stream. @default 10 */
  maxAttempts: number;
  /**
   * How long a cloud chosen for a replica has to verify it before the replica is placed on another
   * cloud that holds none (shared/placement.ts). @default 60s
   */
  placementDeadlineMs: number;
  /** How long cloud event streams keep events (longer than the worst partition survived). @default 7d */
  eventMaxAgeMs: number;
  /**
   * How long JetStream remembers message ids to drop a republished duplicate. Idempotence never
   * rests on it alone (every write is create-only under a content-derived key); a shorter window
   * lets a test outlast it. @default 2m
   */
  duplicateWindowMs: number;
  /** Messages a worker handles at once, per stage. */
  concurrency: Record<Stage, number>;
  /** How long a dead writer's temp object stays untouched before the sweeper removes it. @default 10m */
  orphanAgeMs: number;
  /** The background scrub (shared/topology/scrub-config.ts). */
  scrubEveryMs: number;
  scrubRateBytesPerSec: number;
  /** The operator's CA (`tls: { ca, key }`); without it each deployment makes its own. */
  tls?: ProvidedCa;
}

const NAME = /^[a-z][a-z0-9]{0,30}$/;
const DEFAULT_CONCURRENCY = perStage<number>((s) => stageRow(s).concurrency);

/** Fills defaults and validates a raw topology (as read from topology.json). Errors name the key. */
export function compileTopology(raw: unknown): Topology {
  const r = asObject("topology", raw);
  const hub = compileHub(r.hub === undefined ? {} : asObject("hub", r.hub), asName);
  const hubDomain = hub.domain;
  if (!Array.isArray(r.clouds) || r.clouds.length === 0) {
    throw new ConfigError(`clouds: expected a non-empty list of clouds such as [{"name":"aws","store":{"kind":"fs"}}]`);
  }
  const clouds = r.clouds.map((c, i) => compileCloud(`clouds[${i}]`, c));
  const seen = new Set<string>([hubDomain]);
  for (const [i, c] of clouds.entries()) {
    if (seen.has(c.name))
      throw new ConfigError(`clouds[${i}].name: "${c.name}" is used twice (cloud names and hub.domain must differ)`);
    seen.add(c.name);
  }
  const replicas = r.replicas === undefined ? 3 : asPositiveInt("replicas", r.replicas);
  const concurrency = { ...DEFAULT_CONCURRENCY };
  if (r.concurrency !== undefined) {
    for (const [stage, n] of Object.entries(asObject("concurrency", r.concurrency))) {
      if (!(stage in concurrency))
        throw new ConfigError(
          `concurrency.${stage}: unknown stage (expected one of ${Object.keys(concurrency).join(", ")})`,
        );
      concurrency[stage as Stage] = asPositiveInt(`concurrency.${stage}`, n);
    }
  }
  const chunkSizeBytes = parseSize("chunkSize", r.chunkSize ?? "8MiB");
  if (chunkSizeBytes < 1) throw new ConfigError(`chunkSize: must be at least 1 byte`);
  return {
    hubDomain,
    hub,
    clouds,
    replicas,
    chunkSizeBytes,
    ackWaitMs: parseDuration("ackWait", r.ackWait ?? "10s"),
    maxAttempts: r.maxAttempts === undefined ? 10 : asPositiveInt("maxAttempts", r.maxAttempts),
    placementDeadlineMs: parseDuration("placementDeadline", r.placementDeadline ?? "60s"),
    eventMaxAgeMs: parseDuration("eventRetention", r.eventRetention ?? "7d"),
    duplicateWindowMs: parseDuration("duplicateWindow", r.duplicateWindow ?? "2m"),
    concurrency,
    orphanAgeMs: parseDuration("orphanAge", r.orphanAge ?? "10m"),
    ...compileScrub(r),
    ...(r.tls === undefined ? {} : { tls: compileTlsConfig(r.tls) }),
  };
}

/** Reads and compiles a topology file. */
export function loadTopology(path: string): Topology {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read topology config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`topology config ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return compileTopology(raw);
}

function compileCloud(key: string, raw: unknown): CloudSpec {
  const c = asObject(key, raw);
  const name = asName(`${key}.name`, c.name);
  const store = c.store === undefined ? { kind: "fs" } : asObject(`${key}.store`, c.store);
  const sourceRoots =
    c.sourceRoots === undefined ? defaultSourceRoots() : asFolders(`${key}.sourceRoots`, c.sourceRoots);
  return {
    name,
    store: compileStore(`${key}.store`, store),
    workers: compileWorkers(`${key}.workers`, c.workers),
    sourceRoots,
    ...(c.gateway === undefined
      ? {}
      : { gateway: compileGateway(`${key}.gateway`, asObject(`${key}.gateway`, c.gateway)) }),
  };
}

/**
 * Where a single-machine deployment reads local files from unless told otherwise: the home folder
 * and the temp folder of the user who starts it. The deployment's own folder is never read, even
 * when it lies under one of them.
 */
export function defaultSourceRoots(): string[] {
  return [...new Set([homedir(), tmpdir()].map((p) => normalize(p)))];
}

function asFolders(key: string, v: unknown): string[] {
  if (!Array.isArray(v))
    throw new ConfigError(`${key}: expected a list of absolute folders such as ["/data"], got ${JSON.stringify(v)}`);
  return v.map((f, i) => {
    if (typeof f !== "string" || f === "")
      throw new ConfigError(`${key}[${i}]: expected an absolute folder, got ${JSON.stringify(f)}`);
    const path = f === "~" ? homedir() : f.startsWith("~/") ? join(homedir(), f.slice(2)) : f;
    if (!isAbsolute(path))
      throw new ConfigError(
        `${key}[${i}]: ${JSON.stringify(f)} is not an absolute folder (write "/data/in" or "~/in")`,
      );
    return resolve(path);
  });
}

/** `workers`: a number for every stage, or `{"verify": 2}`; each stage defaults to one process. */
function compileWorkers(key: string, raw: unknown): Record<Stage, number> {
  if (raw === undefined) return perStage(() => 1);
  if (typeof raw === "number") {
    const n = asPositiveInt(key, raw);
    return perStage(() => n);
  }
  const out = perStage(() => 1);
  for (const [stage, n] of Object.entries(asObject(key, raw))) {
    if (!(stage in out))
      throw new ConfigError(`${key}.${stage}: unknown stage (expected one of ${Object.keys(out).join(", ")})`);
    out[stage as Stage] = asPositiveInt(`${key}.${stage}`, n);
  }
  return out;
}

/** Help text for the `--stores` option of commands that start a deployment. */
export const STORES_OPTION_HELP = `--stores <which>   "config" (default): each cloud's store as topology.json says (the default config runs a
                     local S3, GCS and Azure Blob server on loopback); "fs": local-filesystem stores for all`;

/** Applies a `--stores` option: undefined or "config" keeps the topology, "fs" moves every cloud to fs stores. */
export function applyStoresOption(t: Topology, value: string | undefined): Topology {
  if (value === undefined || value === "config") return t;
  if (value === fsKind.name) return withFsStores(t);
  throw new ConfigError(`--stores: "${value}" is not one of "config", "fs"`);
}

/** The same topology with every cloud on local-filesystem stores (`--stores fs`, for a machine without the store servers). */
export function withFsStores(t: Topology): Topology {
  return { ...t, clouds: t.clouds.map((c) => ({ ...c, store: { kind: "fs" } })) };
}

function asObject(key: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ConfigError(`${key}: expected an object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function asName(key: string, v: unknown): string {
  if (typeof v !== "string" || !NAME.test(v)) {
    throw new ConfigError(
      `${key}: ${JSON.stringify(v)} is not a valid name (lower-case letters and digits, starting with a letter)`,
    );
  }
  return v;
}

function asPositiveInt(key: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1)
    throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a positive integer`);
  return v;
}

/** Applies `--hub-nodes`: undefined keeps the topology's `hub.nodes`; "1" or "3" replaces it. */
export function applyHubNodesOption(t: Topology, value: string | undefined): Topology {
  if (value === undefined) return t;
  const nodes = Number(value);
  if (nodes !== 1 && nodes !== 3) throw new ConfigError(`--hub-nodes: "${value}" is not 1 or 3`);
  const hub = compileHub({ domain: t.hub.domain, nodes, ports: t.hub.ports }, asName);
  return { ...t, hub };
}
