/**
 * Scrubbing: reading replicas back long after they were verified, and writing a missing or corrupt
 * one again from a good copy. The orchestrator runs passes (orchestrator/scrub-pass.ts), in the
 * background and when asked on `ferry.scrub.requests`; each cloud's place and verify workers do the
 * reading and writing; the orchestrator keeps each pass's tally in the manifest under `scrub.<pass>`.
 */
import { randomBytes } from "node:crypto";
import type { ManifestReader } from "./manifest.ts";
import { readJson } from "./manifest.ts";

/** What `ferry scrub` (or `get`, on a bad replica) asks the orchestrator for. */
export interface ScrubRequest {
  /** Only these files. @default every complete or durable file */
  fileIds?: string[];
  /** Only this chunk's replica in this cloud (a bad replica `get` met). */
  replica?: { fileId: string; index: number; cloud: string };
  /** Bytes per second to ask the clouds to read. @default the topology's scrubRate */
  rateBytesPerSec?: number;
}

export type ScrubReply = { pass: string; replicas: number; bytes: number } | { error: string };

/** A replica a scrub found missing or corrupt and wrote again. */
export interface RepairedReplica {
  fileId: string;
  index: number;
  cloud: string;
}

/** A pass's tally, as the orchestrator keeps it. */
export interface ScrubRecord {
  pass: string;
  by: "background" | "request";
  startedAt: string;
  /** Replicas the pass asked the clouds to check; null while a background pass is still asking. */
  asked: number | null;
  bytes: number;
  /** Replicas checked so far (good as found, or good again after a repair). */
  checked: number;
  repairedCount: number;
  /** The first repaired replicas (at most MAX_LISTED). */
  repaired: RepairedReplica[];
  finishedAt?: string;
}

export const MAX_LISTED = 100;
export const SCRUB_PREFIX = "scrub.";
export const scrubKey = (pass: string): string => `${SCRUB_PREFIX}${pass}`;

/** A new pass id: sortable by time, unique. */
export function newScrubPass(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "")
    .toLowerCase();
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

export async function readScrubRecord(kv: ManifestReader, pass: string): Promise<ScrubRecord | undefined> {
  return (await readJson<ScrubRecord>(kv, scrubKey(pass)))?.value;
}

/** The latest pass's tally (pass ids sort by their start), or undefined when none ran. */
export async function latestScrubRecord(kv: ManifestReader): Promise<ScrubRecord | undefined> {
  let latest: string | undefined;
  for await (const k of await kv.keys(`${SCRUB_PREFIX}*`)) if (!latest || k > latest) latest = k;
  return latest ? (await readJson<ScrubRecord>(kv, latest))?.value : undefined;
}
