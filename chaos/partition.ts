/**
 * `ferry chaos partition`: one cloud's leaf loses its link to the hub while files are ingested in every
 * cloud. First a silent cut (the proxy swallows every byte and closes nothing, as a dead WAN route
 * does) held longer than the JetStream duplicate window, then a link that flaps, up and down every few
 * seconds (the proxy refuses and resets), then healed. Measured: how long the hub took to notice the
 * cut, how long the leaf took to link again after the heal, and how long after the heal every file was
 * complete (the target: 30 s).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { leafLinks } from "../shared/nats/monitoring.ts";
import { becomesTrue } from "../shared/retry.ts";
import type { Toxiproxy } from "../supervisor/toxiproxy.ts";
import type { Fault, FaultContext, FaultOutcome } from "./fault-drill.ts";
import { everyFileIs } from "./lose-cloud.ts";
import { sample } from "./random.ts";

export interface PartitionOptions {
  /** How long the silent cut lasts. @default the duplicate window + 15 s */
  cutMs?: number;
  /** How long the link flaps after the cut. @default 12 s */
  flapMs?: number;
  /** The cloud whose link is cut. @default one chosen by the seed */
  cloud?: string;
}

/** The target: the backlog drained within 30 s of the heal. */
const DRAIN_TARGET_MS = 30_000;
/** Each flap's down and up time lies between these (seeded). */
const FLAP_MIN_MS = 1500;
const FLAP_MAX_MS = 4000;

export function partition(options: PartitionOptions = {}): Fault {
  return { name: "partition", links: { leaves: true }, run: (ctx) => runPartition(ctx, options) };
}

async function runPartition(ctx: FaultContext, options: PartitionOptions): Promise<FaultOutcome> {
  const { pipeline, log } = ctx;
  const d = pipeline.deployment;
  const proxy = ctx.links?.toxiproxy;
  if (!proxy) throw new Error("partition: the drill has no proxies between leaves and hub");
  const victim = options.cloud ?? (sample(ctx.rand, Object.keys(d.leaves), 1)[0] as string);
  const links = ctx.links?.leafLinks(victim) ?? [];
  const linked = async (): Promise<boolean> => (await leafLinks(d.hubNodes, [victim]))[victim] === true;
  const cutMs = options.cutMs ?? d.topology.duplicateWindowMs + 15_000;
  const flapMs = options.flapMs ?? 12_000;

  log(
    `cutting ${victim}'s link to the hub silently for ${cutMs} ms (duplicate window ${d.topology.duplicateWindowMs} ms)`,
  );
  const cutAt = Date.now();
  for (const link of links) await blackHole(proxy, link, true);
  const files = await ctx.submit();
  const noticed = await becomesTrue(async () => !(await linked()), { timeoutMs: cutMs, intervalMs: 250 });
  const detectMs = noticed ? Date.now() - cutAt : -1;
  log(noticed ? `the hub lost ${victim}'s leaf ${detectMs} ms after the cut` : "the hub never noticed the cut");
  await sleep(Math.max(0, cutAt + cutMs - Date.now()));
  for (const link of links) await blackHole(proxy, link, false);

  const flaps = await flap(ctx, links, flapMs);
  log(`${victim}'s link flapped ${flaps} times over ${flapMs} ms; healed`);
  const healedAt = Date.now();
  const relinked = await becomesTrue(linked, { timeoutMs: DRAIN_TARGET_MS, intervalMs: 100 });
  const relinkMs = Date.now() - healedAt;
  const drained = await becomesTrue(async () => everyFileIs(ctx, files, ["complete"]), {
    timeoutMs: DRAIN_TARGET_MS - (Date.now() - healedAt),
    intervalMs: 250,
  });
  const drainMs = Date.now() - healedAt;
  log(`${drained ? "every file complete" : "NOT every file complete"} ${drainMs} ms after the heal`);
  const violations = [
    ...(relinked ? [] : [`${victim}'s leaf did not link again within ${DRAIN_TARGET_MS / 1000} s of the heal`]),
    ...(drained ? [] : [`files not complete within ${DRAIN_TARGET_MS / 1000} s of the heal`]),
  ];
  return { figures: { cloud: victim, cutMs, detectMs, flaps, relinkMs, drainAfterHealMs: drainMs }, violations };
}

/** A silent cut: every byte either way is held (toxiproxy's `timeout` toxic with no timeout), nothing closed. */
async function blackHole(proxy: Toxiproxy, link: string, on: boolean): Promise<void> {
  for (const stream of ["upstream", "downstream"] as const) {
    const name = `cut-${stream}`;
    if (on) await proxy.addToxic(link, { name, type: "timeout", stream, attributes: { timeout: 0 } });
    else await proxy.removeToxic(link, name);
  }
}

/** Takes the links down and up again, for seeded stretches, until `forMs` has passed; leaves them up. */
async function flap(ctx: FaultContext, links: string[], forMs: number): Promise<number> {
  const proxy = ctx.links?.toxiproxy as Toxiproxy;
  const stretch = () => FLAP_MIN_MS + Math.floor(ctx.rand() * (FLAP_MAX_MS - FLAP_MIN_MS));
  const until = Date.now() + forMs;
  let flaps = 0;
  while (Date.now() < until) {
    for (const link of links) await proxy.setEnabled(link, false);
    flaps++;
    await sleep(stretch());
    for (const link of links) await proxy.setEnabled(link, true);
    await sleep(stretch());
  }
  return flaps;
}
