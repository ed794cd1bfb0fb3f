/**
 * The multi-host proof: a 3-node hub (one host, AWS region) and aws, gcp and azure as hosts of their
 * own on the local S3, GCS and Azure servers, linked only through proxies with inter-region latency.
 * From a client host whose folder no worker can see it uploads files and names objects by URL, kills
 * the hub's meta leader (SIGKILL) while files are in flight, reads every file back from every cloud,
 * and times the same upload with the links at WAN latency and at loopback speed.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Readable } from "node:stream";
import { openStores } from "../../shared/stores/open-store.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import {
  type IngestRound,
  ingestOnClient,
  killHubNode,
  metaLeader,
  type ReadBack,
  readBackOnClient,
  type SentFile,
  sha256Hex,
} from "./client-rounds.ts";
import { type HostsLab, startHostsLab } from "./hosts-lab.ts";
import { checkIsolation, type HostView, type LeafRoute, leafRoutes } from "./isolation.ts";

export interface HostsDrillOptions {
  /** Scratch folder: the hosts' folders, the client's, logs. */
  root: string;
  /** Files per upload round. */
  files: number;
  /** Bytes per file (the URL sources are this size too). */
  size: number;
  chunkSize: number;
  /** Messages each worker handles at once, every stage; the stages' defaults when undefined. */
  concurrency?: number;
  /** Each link's bandwidth cap, each way, in KB/s. */
  bandwidthKBps: number;
  say: (line: string) => void;
}

export interface HostsDrillReport {
  setupSeconds: number;
  isolation: HostView[];
  /** The upload round with WAN latency on every link, and the same with the toxics off. */
  wan: IngestRound;
  loopback: IngestRound;
  /** The URL sources, ingested while a hub node was killed. */
  urls: IngestRound;
  killedHubNode: { name: string; pid: number; afterMs: number };
  readBacks: ReadBack[];
  /** Each leaf's link to the hub at the end, after the hub kill: through its proxy. */
  leafRoutes: LeafRoute[];
  /** Messages each worker handles at once, per stage; one worker process per stage per cloud. */
  concurrency: Record<string, number>;
  /** Files in flight at once in each round. */
  filesInFlight: number;
  /** Each host's mount namespace: once the drill returns, no process is left in any. */
  namespaces: Record<string, string>;
}

const STORES = {
  aws: { kind: "s3", bucket: "ferry-aws", local: true },
  gcp: { kind: "gcs", bucket: "ferry-gcp", local: true },
  azure: { kind: "azblob", container: "ferry-azure", local: true },
} as const;
const URL_OF = { aws: "s3://ferry-aws", gcp: "gs://ferry-gcp", azure: "az://ferry-azure" } as const;
const CLOUDS = Object.keys(STORES) as Array<keyof typeof STORES>;
/** The URL sources' names end so: they are read back with `cat`, the uploads with `get`. */
const URL_SUFFIX = "-part.bin";
/** How long after the URL round starts the hub node is killed: its files are in flight by then. */
const KILL_AFTER_MS = 1500;

/** The drill's topology: three hub nodes, the three clouds on their local servers, short ack wait. */
export function hostsTopology(chunkSize: number, concurrency?: number): object {
  return {
    hub: { nodes: 3 },
    clouds: CLOUDS.map((name) => ({ name, store: STORES[name] })),
    chunkSize,
    ackWait: "5s",
    ...(concurrency === undefined
      ? {}
      : { concurrency: { ingest: concurrency, process: concurrency, place: concurrency, verify: concurrency } }),
  };
}

/** Runs the drill; every host and proxy it started is stopped before it returns or throws. */
export async function runHostsDrill(o: HostsDrillOptions): Promise<HostsDrillReport> {
  const topology = hostsTopology(o.chunkSize, o.concurrency);
  const started = Date.now();
  const lab = await startHostsLab(o.root, topology, o.say);
  const namespaces = Object.fromEntries([...lab.hosts].map(([name, h]) => [name, h.ns]));
  try {
    const setupSeconds = (Date.now() - started) / 1000;
    o.say(`hosts up in ${setupSeconds.toFixed(1)} s; checking what each host can see`);
    const isolation = await checkIsolation(lab);
    const sent = new Map<string, SentFile>();
    const upload = async (round: string) => {
      const paths = clientFiles(lab, round, o.files, o.size, sent);
      // The client holds no store credentials: it writes through upload URLs from each cloud's gateway.
      return ingestOnClient(lab, paths, ["--upload", "--objects", "gateway"]);
    };
    // Loopback first, then WAN: neither is measured in the wake of the hub kill.
    o.say(`loopback round: ${o.files} file(s) uploaded from the client, no toxics on the links`);
    const loopback = await upload("loopback");
    o.say(`WAN round: the same upload with every link slowed to inter-region latency`);
    await lab.wan.slow(o.bandwidthKBps);
    const wan = await upload("wan");
    o.say(`URL round: s3://, gs://, az:// sources at WAN latency; the hub's meta leader is SIGKILLed mid-run`);
    const urls = await seedObjects(lab, o.size, sent);
    const kill = killLater(lab);
    const urlRound = await ingestOnClient(lab, urls);
    const killedHubNode = await kill;
    o.say(`reading every file back from every cloud on the client`);
    const readBacks = await readBackAll(lab, [loopback, wan, urlRound], sent);
    const routes = await leafRoutes(lab);
    return {
      setupSeconds,
      isolation,
      wan,
      loopback,
      urls: urlRound,
      killedHubNode,
      readBacks,
      leafRoutes: routes,
      concurrency: compileTopology(topology).concurrency,
      filesInFlight: o.files,
      namespaces,
    };
  } finally {
    await lab.stop();
  }
}

/** Writes `count` random files into the client's folder; records what each must read back as. */
function clientFiles(lab: HostsLab, round: string, count: number, size: number, sent: Map<string, SentFile>) {
  const dir = join(lab.clientDir, "data");
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: count }, (_, i) => {
    const path = join(dir, `${round}-${i}.bin`);
    const data = randomBytes(size);
    writeFileSync(path, data);
    sent.set(basename(path), { source: path, sha256: sha256Hex(data), size });
    return path;
  });
}

/** Puts one object in each cloud's bucket (as the data would already be there) and returns their URLs. */
async function seedObjects(lab: HostsLab, size: number, sent: Map<string, SentFile>): Promise<string[]> {
  const stores = openStores(lab.hub);
  try {
    const urls: string[] = [];
    for (const cloud of CLOUDS) {
      const key = `datasets/${cloud}/${cloud}${URL_SUFFIX}`;
      const data = randomBytes(size);
      await stores.get(cloud)?.put(key, Readable.from([data]), { overwrite: true });
      const url = `${URL_OF[cloud]}/${key}`;
      sent.set(`${cloud}${URL_SUFFIX}`, { source: url, sha256: sha256Hex(data), size });
      urls.push(url);
    }
    return urls;
  } finally {
    await Promise.all([...stores.values()].map((s) => s.close()));
  }
}

/** After KILL_AFTER_MS, SIGKILLs the hub node leading the meta group. */
async function killLater(lab: HostsLab): Promise<HostsDrillReport["killedHubNode"]> {
  await new Promise((r) => setTimeout(r, KILL_AFTER_MS));
  const name = await metaLeader(lab);
  return { name, pid: killHubNode(lab, name), afterMs: KILL_AFTER_MS };
}

/**
 * Every file of every round from every cloud, compared with the bytes the client sent (found by the
 * file's name): `get` for uploads, `cat` for URL sources. Three at a time.
 */
async function readBackAll(lab: HostsLab, rounds: IngestRound[], sent: Map<string, SentFile>): Promise<ReadBack[]> {
  mkdirSync(join(lab.clientDir, "back"), { recursive: true });
  const jobs: Array<() => Promise<ReadBack>> = [];
  for (const round of rounds) {
    for (const f of round.files) {
      const how = f.name.endsWith(URL_SUFFIX) ? "cat" : "get";
      const sha256 = sent.get(f.name)?.sha256 ?? "(not sent)";
      for (const cloud of CLOUDS) jobs.push(() => readBackOnClient(lab, { fileId: f.fileId, sha256 }, cloud, how));
    }
  }
  const out: ReadBack[] = [];
  const worker = async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) out.push(await job());
  };
  await Promise.all([worker(), worker(), worker()]);
  return out;
}

/** Removes the drill's folder. */
export function removeDrillFolder(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
