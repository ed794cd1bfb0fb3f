/**
 * `ferry chaos slow-store`: one cloud's store server answers badly while files are ingested: added
 * latency, a bandwidth cap, connections that stall then close (timeouts) and connections reset by the
 * peer, one after another in a seeded order, each for a stretch and with a batch of files of its own,
 * through the proxy every process opens the store by. Then the store is healed. Every file must be complete within 60 s of the heal; the
 * report says how many were complete while the store was still bad.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { becomesTrue } from "../shared/retry.ts";
import type { Toxic } from "../supervisor/toxiproxy.ts";
import { readRecords } from "./drill-client.ts";
import type { Fault, FaultContext, FaultOutcome } from "./fault-drill.ts";
import type { DrillFile } from "./invariants.ts";
import { everyFileIs } from "./lose-cloud.ts";
import { sample } from "./random.ts";

export interface SlowStoreOptions {
  /** How long each kind of trouble lasts. @default 6 s */
  phaseMs?: number;
  /** The cloud whose store is slowed. @default one with a store server, chosen by the seed */
  cloud?: string;
}

/** Back to every file complete within this long of the heal. */
const HEAL_TARGET_MS = 60_000;

/** The kinds of trouble, each a toxic on both directions of the store's link (toxiproxy's own types). */
export const STORE_TROUBLES: Record<string, (stream: "upstream" | "downstream") => Toxic> = {
  latency: (stream) => ({
    name: `latency-${stream}`,
    type: "latency",
    stream,
    attributes: { latency: 150, jitter: 50 },
  }),
  bandwidth: (stream) => ({ name: `bandwidth-${stream}`, type: "bandwidth", stream, attributes: { rate: 512 } }),
  // A third of the connections stall, then close after 2 s without an answer.
  timeouts: (stream) => ({
    name: `timeouts-${stream}`,
    type: "timeout",
    stream,
    toxicity: 0.33,
    attributes: { timeout: 2000 },
  }),
  // A third of the connections reset by the peer at once.
  resets: (stream) => ({
    name: `resets-${stream}`,
    type: "reset_peer",
    stream,
    toxicity: 0.33,
    attributes: { timeout: 0 },
  }),
};

export function slowStore(options: SlowStoreOptions = {}): Fault {
  return { name: "slow-store", links: { stores: true }, run: (ctx) => runSlowStore(ctx, options) };
}

async function runSlowStore(ctx: FaultContext, options: SlowStoreOptions): Promise<FaultOutcome> {
  const { log } = ctx;
  const links = ctx.links;
  const proxied = Object.keys(ctx.pipeline.deployment.stores).filter((c) => links?.storeLink(c) !== undefined);
  const victim = options.cloud ?? sample(ctx.rand, proxied, 1)[0];
  const link = victim === undefined ? undefined : links?.storeLink(victim);
  if (!links || victim === undefined || link === undefined)
    throw new Error(
      `slow-store: ${options.cloud ? `${options.cloud}'s store has` : "no cloud has"} a store server to slow (fs stores have none)`,
    );
  const phaseMs = options.phaseMs ?? 6000;
  const order = sample(ctx.rand, Object.keys(STORE_TROUBLES), Object.keys(STORE_TROUBLES).length);
  log(`slowing ${victim}'s store: ${order.join(", ")}, ${phaseMs} ms each`);
  const files: DrillFile[] = [];
  for (const trouble of order) {
    // Each kind of trouble meets files of its own, submitted as it starts.
    files.push(...(await ctx.submit()));
    const toxicOf = STORE_TROUBLES[trouble] as (stream: "upstream" | "downstream") => Toxic;
    const toxics = [toxicOf("upstream"), toxicOf("downstream")];
    for (const t of toxics) await links.toxiproxy.addToxic(link, t);
    await sleep(phaseMs);
    for (const t of toxics) await links.toxiproxy.removeToxic(link, t.name);
  }
  const records = [...(await readRecords(ctx.client.kv, files)).values()];
  const completeWhileSlow = records.filter((r) => r?.state === "complete").length;
  const healedAt = Date.now();
  log(`${victim}'s store healed; ${completeWhileSlow} of ${files.length} file(s) were complete already`);
  const healed = await becomesTrue(async () => everyFileIs(ctx, files, ["complete"]), {
    timeoutMs: HEAL_TARGET_MS,
    intervalMs: 250,
  });
  const completeAfterHealMs = Date.now() - healedAt;
  log(`${healed ? "every file complete" : "NOT every file complete"} ${completeAfterHealMs} ms after the heal`);
  return {
    figures: { cloud: victim, troubles: order.join(","), phaseMs, completeWhileSlow, completeAfterHealMs },
    violations: healed ? [] : [`files not complete within ${HEAL_TARGET_MS / 1000} s of the store's heal`],
  };
}
