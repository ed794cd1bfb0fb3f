/**
 * Hostile events for the fuzz run (test/e2e/event-fuzz.test.ts): a seeded generator, so a seed
 * replays the same messages in the same order. Each message is a subject, a payload and maybe
 * headers; what it aims at is in `what`, for the failure message.
 */
import { mulberry32 } from "../../chaos/random.ts";
import { replicaKey, stagingKey } from "../../shared/chunk-keys.ts";

/** A chunk that exists (its replicas are real objects): what forged events name. */
export interface RealChunk {
  fileId: string;
  index: number;
  offset: number;
  size: number;
  sha256: string;
}

export interface FuzzMessage {
  subject: string;
  payload: Uint8Array;
  headers?: Record<string, string>;
  what: string;
}

export interface FuzzTargets {
  clouds: string[];
  /** Chunks of files that completed before the run. */
  resident: RealChunk[];
  /** Ids of files in flight during the run (never forged into a chunk they have: only unknown chunks). */
  inFlight: string[];
}

const enc = new TextEncoder();
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));

/** Values of every JSON type that no field expects all of, plus the numbers that break arithmetic. */
const ODD_VALUES: unknown[] = [
  null,
  true,
  "",
  "x",
  [],
  {},
  -1,
  0.5,
  1e308,
  -1e308,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  "1e9",
  "../../etc/passwd",
  "*",
  ">",
  "a.b",
  "\u0000",
  "A".repeat(5000),
];

/** Field values that look almost right: the ways a chunk event can lie. */
const MUTATIONS: Record<string, unknown[]> = {
  fileId: ["", "../x", "a*b", "a.b.c", "UPPER-case", "x".repeat(70), "ab", 12, null],
  index: [-1, 1.5, 1e308, 2 ** 31, 2 ** 53 + 2, "0", null, 2 ** 40],
  offset: [-1, -1e308, 1e308, 0.25, "0"],
  size: [-5, -1, 1e308, 2 ** 53 + 2, 0.5, "64"],
  sha256: ["", "z".repeat(64), "A".repeat(64), "0".repeat(63), "0".repeat(65), "../../x", 7],
  staging: [null, "staging/x/0", { cloud: "mars", key: "staging/x/0" }, { cloud: "aws", key: "/etc/passwd" }],
  replica: [null, { cloud: "aws" }, { cloud: "aws", key: "staging/x/0" }, { cloud: "mars", key: "chunks/x/0-y" }],
  replicas: [-1, 0, 1e308, "3", 2 ** 31],
  repairs: [-1, 1e308, "1", 99],
  targets: ["aws", ["mars"], [1, 2], [], null],
  transforms: ["validate-jsonl", ["rm -rf"], [null], {}],
};

export class EventFuzzer {
  readonly #rand: () => number;
  readonly #t: FuzzTargets;

  constructor(seed: number, targets: FuzzTargets) {
    this.#rand = mulberry32(seed);
    this.#t = targets;
  }

  #int(n: number): number {
    return Math.floor(this.#rand() * n);
  }
  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)] as T;
  }
  #hex(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += "0123456789abcdef"[this.#int(16)];
    return s;
  }

  /** `count` messages over every subject a worker or the orchestrator consumes. */
  messages(count: number): FuzzMessage[] {
    const out: FuzzMessage[] = [];
    const kinds = [
      () => this.#randomBytes(),
      () => this.#wrongShape(),
      () => this.#mutatedChunkEvent(),
      () => this.#neverPlaced(),
      () => this.#replicaKeyAttack(),
      () => this.#oversized(),
      () => this.#collectAttack(),
    ];
    for (let i = 0; i < count; i++) out.push(this.#pick(kinds)());
    return out;
  }

  /** A subject a consumer reads, in a cloud's stream (chunk, file and dead-letter events) or the hub's FILES. */
  #subject(): string {
    const cloud = this.#pick(this.#t.clouds);
    return this.#pick([
      `chunks.ingested.${cloud}`,
      `chunks.processed.${cloud}`,
      `chunks.placed.${cloud}`,
      `chunks.verified.${cloud}`,
      `files.accepted.${cloud}`,
      `files.ingested.${cloud}`,
      `deadletter.${this.#pick(["ingest", "process", "place", "verify"])}.${cloud}`,
      `files.collect.${cloud}`,
      `files.ingest.${cloud}`,
      "files.ingest",
    ]);
  }

  #randomBytes(): FuzzMessage {
    const bytes = new Uint8Array(this.#int(2048));
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.#int(256);
    return { subject: this.#subject(), payload: bytes, what: `${bytes.length} random bytes` };
  }

  #wrongShape(): FuzzMessage {
    const v = this.#pick([
      () => this.#pick(ODD_VALUES),
      () => Array.from({ length: this.#int(5) }, () => this.#pick(ODD_VALUES)),
      () => Object.fromEntries(Object.keys(MUTATIONS).map((k) => [k, this.#pick(ODD_VALUES)])),
      () => ({ fileId: this.#pick(this.#t.resident).fileId, index: this.#pick(ODD_VALUES) }),
    ])();
    return {
      subject: this.#subject(),
      payload: json(v),
      what: `JSON of a wrong shape ${JSON.stringify(v)?.slice(0, 60)}`,
    };
  }

  /** A well-formed event about a real chunk with one field made hostile. */
  #mutatedChunkEvent(): FuzzMessage {
    const c = this.#pick(this.#t.resident);
    const cloud = this.#pick(this.#t.clouds);
    const ev: Record<string, unknown> = this.#chunkEvent(c, cloud);
    const field = this.#pick(Object.keys(MUTATIONS));
    ev[field] = this.#pick(MUTATIONS[field]!);
    const kind = this.#pick(["ingested", "processed", "placed", "verified"]);
    return {
      subject: `chunks.${kind}.${cloud}`,
      payload: json(ev),
      what: `chunks.${kind} with ${field}=${JSON.stringify(ev[field])?.slice(0, 40)}`,
    };
  }

  #chunkEvent(c: RealChunk, cloud: string): Record<string, unknown> {
    return {
      ...c,
      cloud,
      worker: "fuzz",
      at: new Date().toISOString(),
      durationMs: 1,
      staging: { cloud, store: "fs", bucket: "x", key: stagingKey(c.fileId, c.index) },
      replica: { cloud, store: "fs", bucket: "x", key: replicaKey(c.fileId, c.index, c.sha256) },
      replicas: 3,
      repairs: 0,
      transforms: [],
    };
  }

  /** `chunks.placed` / `chunks.verified` for a chunk never placed, of a real file (resident or in flight). */
  #neverPlaced(): FuzzMessage {
    const cloud = this.#pick(this.#t.clouds);
    const fileId = this.#rand() < 0.5 ? this.#pick(this.#t.resident).fileId : this.#pick(this.#t.inFlight);
    const c = { fileId, index: 5000 + this.#int(1000), offset: 0, size: 1 + this.#int(1000), sha256: this.#hex(64) };
    const kind = this.#pick(["placed", "verified"]);
    return {
      subject: `chunks.${kind}.${cloud}`,
      payload: json(this.#chunkEvent(c, cloud)),
      what: `chunks.${kind} for never-placed chunk ${fileId}/${c.index}`,
    };
  }

  /** `chunks.placed` naming a real replica's key with the wrong hash or size, or a key of another chunk or outside chunks/. */
  #replicaKeyAttack(): FuzzMessage {
    const c = this.#pick(this.#t.resident);
    const cloud = this.#pick(this.#t.clouds);
    const ev = this.#chunkEvent(c, cloud);
    const other = this.#pick(this.#t.resident);
    const lie = this.#pick([
      () => ({ sha256: this.#hex(64) }),
      () => ({ size: c.size + 1 }),
      () => ({
        replica: { cloud, store: "fs", bucket: "x", key: replicaKey(other.fileId, other.index, other.sha256) },
        sha256: this.#hex(64),
      }),
      () => ({ replica: { cloud, store: "fs", bucket: "x", key: stagingKey(c.fileId, c.index) } }),
      () => ({
        replica: {
          cloud: this.#pick(this.#t.clouds),
          store: "fs",
          bucket: "x",
          key: replicaKey(c.fileId, c.index, c.sha256),
        },
        sha256: this.#hex(64),
      }),
    ])();
    return {
      subject: `chunks.placed.${cloud}`,
      payload: json({ ...ev, ...lie }),
      what: `chunks.placed lying ${JSON.stringify(lie).slice(0, 80)}`,
    };
  }

  /** Big payloads (under the server's 1 MiB limit) and big or odd headers. */
  #oversized(): FuzzMessage {
    const c = this.#pick(this.#t.resident);
    const ev = { ...this.#chunkEvent(c, this.#pick(this.#t.clouds)), pad: "p".repeat(200_000 + this.#int(700_000)) };
    const headers = this.#pick([
      {},
      { traceparent: "00-zzzz-yyyy-01", "Ferry-Junk": "h".repeat(16_000) },
      { traceparent: `00-${"0".repeat(32)}-${"0".repeat(16)}-ff` },
      Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`X-Fuzz-${i}`, this.#hex(40)])),
    ]);
    return { subject: this.#subject(), payload: json(ev), headers, what: `oversized ${ev.pad.length}-byte event` };
  }

  /** Staging collection of files still in flight, of every staged file at once, or of a path. */
  #collectAttack(): FuzzMessage {
    const cloud = this.#pick(this.#t.clouds);
    const fileId = this.#pick(this.#t.inFlight);
    const req = this.#pick<Record<string, unknown>>([
      { fileId },
      { fileId, key: stagingKey(fileId, 0) },
      { fileId: "" },
      { fileId: "..", key: "staging/../chunks/x" },
      { fileId: this.#pick(this.#t.resident).fileId, key: "chunks/x" },
    ]);
    return {
      subject: `files.collect.${cloud}`,
      payload: json({ at: new Date().toISOString(), ...req }),
      what: `files.collect ${JSON.stringify(req)}`,
    };
  }
}
