/**
 * `ferry chaos bit-rot`: once every file is complete, replicas rot at rest: chosen by the seed, one in
 * ten (at least one) has a byte flipped, is truncated, or is deleted, through the store's own API (so
 * it works the same on S3, GCS, Azure and fs). Then a scrub pass is asked for, as `ferry scrub`
 * does, and must find and repair every damaged replica; the drill's invariants then read every
 * replica back from every store.
 */
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { type ChunkRecord, readChunkRecords, readFileRecord } from "../shared/manifest.ts";
import { becomesTrue } from "../shared/retry.ts";
import { readScrubRecord, type ScrubReply } from "../shared/scrub.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { SCRUB_REQUESTS } from "../shared/subjects.ts";
import type { Fault, FaultContext, FaultOutcome } from "./fault-drill.ts";
import { sample } from "./random.ts";

const DAMAGES = ["flip", "truncate", "delete"] as const;
type Damage = (typeof DAMAGES)[number];

export function bitRot(): Fault {
  return { name: "bit-rot", run: runBitRot };
}

async function runBitRot(ctx: FaultContext): Promise<FaultOutcome> {
  const { client, log } = ctx;
  const files = await ctx.submit();
  const complete = await becomesTrue(
    async () =>
      (await Promise.all(files.map((f) => readFileRecord(client.kv, f.fileId)))).every((r) => r?.state === "complete"),
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  if (!complete) return { figures: {}, violations: ["the files did not complete before any rot was injected"] };
  const replicas: Array<{ chunk: ChunkRecord; cloud: string; key: string }> = [];
  for (const f of files) {
    const file = await readFileRecord(client.kv, f.fileId);
    if (file)
      for (const chunk of await readChunkRecords(client.kv, file))
        for (const r of chunk.replicas) if (r.verified) replicas.push({ chunk, cloud: r.cloud, key: r.key });
  }
  const victims = sample(ctx.rand, replicas, Math.max(1, Math.round(replicas.length / 10)));
  for (const v of victims) {
    const damage = DAMAGES[Math.floor(ctx.rand() * DAMAGES.length)] as Damage;
    await rot(client.stores.get(v.cloud) as BlobStore, v.key, damage);
    log(`  ${damage}: ${v.cloud} replica of chunk ${v.chunk.index} of ${v.chunk.fileId}`);
  }
  const rottedAt = Date.now();
  const msg = await client.hub.request(SCRUB_REQUESTS, JSON.stringify({ fileIds: files.map((f) => f.fileId) }), {
    timeout: 30_000,
  });
  const reply = msg.json<ScrubReply>();
  if ("error" in reply) return { figures: {}, violations: [`the scrub request was refused: ${reply.error}`] };
  const finished = await becomesTrue(
    async () => (await readScrubRecord(client.kv, reply.pass))?.finishedAt !== undefined,
    {
      timeoutMs: 180_000,
      intervalMs: 250,
    },
  );
  const record = await readScrubRecord(client.kv, reply.pass);
  const scrubMs = Date.now() - rottedAt;
  log(
    `scrub ${reply.pass}: ${record?.checked}/${record?.asked} checked, ${record?.repairedCount} repaired in ${scrubMs} ms`,
  );
  const repaired = record?.repairedCount ?? 0;
  const violations = [
    ...(finished ? [] : [`scrub pass ${reply.pass} did not finish within 180 s`]),
    ...(repaired === victims.length ? [] : [`${victims.length} replicas rotted, the scrub repaired ${repaired}`]),
  ];
  return { figures: { replicas: replicas.length, rotted: victims.length, repaired, scrubMs }, violations };
}

/** Damages one object through its store: a byte flipped, cut to half, or gone. */
async function rot(store: BlobStore, key: string, damage: Damage): Promise<void> {
  if (damage === "delete") return store.delete(key);
  const bytes = await buffer(await store.get(key));
  const changed = damage === "flip" ? flip(bytes) : bytes.subarray(0, Math.floor(bytes.length / 2));
  await store.delete(key);
  await store.put(key, Readable.from([changed]));
}

function flip(bytes: Buffer): Buffer {
  const i = Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  return bytes;
}
