/**
 * `ferry chaos mix`: a seeded mix of the other scenarios over a longer run. Each round runs one fault,
 * or two at once on two different clouds (lose-cloud, partition, slow-store where the cloud has a
 * store server, disk-full of an fs store's or a store server's disk), and a last round rots replicas
 * and scrubs them. The parts' own targets assume they run alone, so here they are reported, not
 * enforced; the mix's target is that every file is complete within 90 s of the last heal, and the
 * drill's invariants hold as for every scenario.
 */

import { becomesTrue } from "../shared/retry.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { bitRot } from "./bit-rot.ts";
import { diskFull } from "./disk-full.ts";
import type { Fault, FaultContext, FaultOutcome, Figures } from "./fault-drill.ts";
import { everyFileIs, loseCloud } from "./lose-cloud.ts";
import { partition } from "./partition.ts";
import { sample } from "./random.ts";
import { slowStore } from "./slow-store.ts";
import { inMountNamespace } from "./small-disk.ts";

export interface MixOptions {
  /** Rounds of faults before the last (bit-rot) round. @default 3 */
  rounds?: number;
}

/** Every file complete within this long of the last round. */
const SETTLE_TARGET_MS = 90_000;

type Part = { kind: string; cloud: string; fault: Fault };

export function mix(options: MixOptions = {}): Fault {
  const rounds: Part[][] = [];
  return {
    name: "mix",
    links: { leaves: true, stores: true },
    async prepare(d, rand) {
      for (let r = 0; r < (options.rounds ?? 3); r++) rounds.push(planRound(d, rand));
      for (const part of rounds.flat()) await part.fault.prepare?.(d, rand);
    },
    run: (ctx) => runMix(ctx, rounds),
  };
}

/** One or two faults (seeded), each on a cloud of its own. */
function planRound(d: Deployment, rand: () => number): Part[] {
  const count = rand() < 0.5 ? 1 : 2;
  const clouds = sample(rand, Object.keys(d.leaves), count);
  return clouds.map((cloud) => {
    const kinds = ["lose-cloud", "partition", ...(d.localStores[cloud] ? ["slow-store"] : [])];
    if (inMountNamespace()) kinds.push("disk-full");
    const kind = sample(rand, kinds, 1)[0] as string;
    return { kind, cloud, fault: faultOf(kind, cloud, d) };
  });
}

function faultOf(kind: string, cloud: string, d: Deployment): Fault {
  if (kind === "lose-cloud") return loseCloud({ cloud, outageMs: d.topology.placementDeadlineMs + 10_000 });
  if (kind === "partition") return partition({ cloud, cutMs: d.topology.duplicateWindowMs + 15_000, flapMs: 6000 });
  if (kind === "slow-store") return slowStore({ cloud, phaseMs: 3000 });
  return diskFull({ disk: "store", cloud, fullForMs: 10_000, diskBytes: 256 * 1024 * 1024 });
}

async function runMix(ctx: FaultContext, rounds: Part[][]): Promise<FaultOutcome> {
  const figures: Figures = {};
  const notes: string[] = [];
  for (const [i, parts] of rounds.entries()) {
    const name = `round ${i + 1}`;
    ctx.log(`${name}: ${parts.map((p) => `${p.kind} on ${p.cloud}`).join(" and ")}, at once`);
    const outcomes = await Promise.all(parts.map((p) => p.fault.run(ctx)));
    figures[name] = parts.map((p) => `${p.kind}@${p.cloud}`).join("+");
    for (const [j, o] of outcomes.entries()) notes.push(...o.violations.map((v) => `${name} ${parts[j]?.kind}: ${v}`));
  }
  const lastHeal = Date.now();
  const settled = await becomesTrue(async () => everyFileIs(ctx, ctx.submitted(), ["complete"]), {
    timeoutMs: SETTLE_TARGET_MS,
    intervalMs: 500,
  });
  figures.completeAfterLastRoundMs = Date.now() - lastHeal;
  const rot = await bitRot().run(ctx);
  figures.rotted = rot.figures.rotted ?? 0;
  figures.repaired = rot.figures.repaired ?? 0;
  // Targets the parts would have met alone: reported, since two faults at once delay each other.
  figures.partTargetsMissed = notes.length;
  for (const n of notes) ctx.log(`  (part target missed: ${n})`);
  const violations = [
    ...(settled ? [] : [`files not complete within ${SETTLE_TARGET_MS / 1000} s of the last round`]),
    ...rot.violations,
  ];
  return { figures, violations };
}
