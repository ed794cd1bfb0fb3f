/**
 * What the client host does, through the CLI a user runs on a laptop: ingest (uploading its own files,
 * or naming objects by URL) and wait, read every file back from every cloud, and what the operator
 * does meanwhile: SIGKILL the hub node that leads the JetStream meta group.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { metaLeader as metaLeaderOf } from "../../shared/nats/monitoring.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import type { HostsLab } from "./hosts-lab.ts";

/** A file the client sent, and what it must read back. */
export interface SentFile {
  /** The local path or the object URL. */
  source: string;
  sha256: string;
  size: number;
}

/** One file as `ferry ingest --json` reported it. */
export interface IngestedFile {
  fileId: string;
  name: string;
  size: number;
  sha256: string;
  state: string;
  reason?: string;
}

/** What one `ferry ingest ... --wait` on the client took. */
export interface IngestRound {
  files: IngestedFile[];
  bytes: number;
  seconds: number;
  /** MB/s (10^6 bytes) from the command's start to every file complete. */
  mbPerSecond: number;
}

export const sha256Hex = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** Runs `ferry ingest <sources> --wait --json [extra]` on the client host and times it. */
export async function ingestOnClient(lab: HostsLab, sources: string[], extra: string[] = []): Promise<IngestRound> {
  const started = Date.now();
  const r = await lab.client(["ingest", ...sources, "--wait", "--json", "--timeout", "30s", ...extra]);
  const seconds = (Date.now() - started) / 1000;
  const files = r.stdout
    .toString()
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l) as IngestedFile);
  if (files.length !== sources.length)
    throw new Error(
      `ferry ingest on the client (exit ${r.code}) reported ${files.length} of ${sources.length} files: ${r.stderr.trim()}`,
    );
  const bytes = files.reduce((n, f) => n + f.size, 0);
  return { files, bytes, seconds, mbPerSecond: bytes / 1e6 / seconds };
}

/** One read-back check: a file read from one cloud's replicas on the client host. */
export interface ReadBack {
  fileId: string;
  cloud: string;
  /** `get` (to a file) or `cat` (to stdout). */
  how: "get" | "cat";
  identical: boolean;
  error?: string;
}

/**
 * Reads `fileId` back from `cloud` on the client host with `ferry get` or `ferry cat`, through URLs
 * from the cloud's gateway (the client has no store credentials), and compares its bytes.
 */
export async function readBackOnClient(
  lab: HostsLab,
  file: { fileId: string; sha256: string },
  cloud: string,
  how: "get" | "cat",
): Promise<ReadBack> {
  const out = join(lab.clientDir, "back", `${file.fileId}-${cloud}`);
  const args = how === "get" ? ["get", file.fileId, "-o", out] : ["cat", file.fileId];
  const r = await lab.client([...args, "--from", cloud, "--objects", "gateway", "--timeout", "30s"], 120_000);
  const base = { fileId: file.fileId, cloud, how };
  if (r.code !== 0) return { ...base, identical: false, error: `exit ${r.code}: ${r.stderr.trim()}` };
  const bytes = how === "get" ? readFileSync(out) : r.stdout;
  return { ...base, identical: sha256Hex(bytes) === file.sha256 };
}

/** The hub node leading the JetStream meta group, by its monitoring endpoint, or the first node's name. */
export async function metaLeader(lab: HostsLab): Promise<string> {
  return (await metaLeaderOf(lab.hub.hubNodes)) ?? lab.hub.hubNodes[0]?.name ?? "hub-1";
}

/** SIGKILLs hub node `name` by the pid the hub host's `ferry up` recorded; returns that pid. */
export function killHubNode(lab: HostsLab, name: string): number {
  const hub = lab.hosts.get("hub");
  const pid = hub ? readRunState(hub.dir)?.pids[name] : undefined;
  if (!pid) throw new Error(`hub node ${name}: no pid recorded by the hub host`);
  process.kill(pid, "SIGKILL");
  return pid;
}
