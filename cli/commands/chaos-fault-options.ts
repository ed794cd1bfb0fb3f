/** `ferry chaos <scenario>`'s options: the drill's topology and the scenario's fault, with every bad value a usage error. */
import { bitRot } from "../../chaos/bit-rot.ts";
import { diskFull } from "../../chaos/disk-full.ts";
import type { Fault } from "../../chaos/fault-drill.ts";
import { hubNode } from "../../chaos/hub-node.ts";
import { loseCloud } from "../../chaos/lose-cloud.ts";
import { mix } from "../../chaos/mix.ts";
import { partition } from "../../chaos/partition.ts";
import { slowStore } from "../../chaos/slow-store.ts";
import { localServerFor } from "../../shared/stores/registry.ts";
import { applyHubNodesOption, applyStoresOption, loadTopology, type Topology } from "../../shared/topology/config.ts";
import { parseDuration, parseSize } from "../../shared/units.ts";
import { UsageError } from "../args.ts";
import { resolveTopologyPath } from "../home.ts";

export type Values = { [k: string]: string | boolean | undefined };

/** The user's clouds with drill settings: 1 MiB chunks, a short ack wait and placement deadline. */
export function drillTopology(values: Values, scenario: string): Topology {
  const t = applyStoresOption(
    loadTopology(resolveTopologyPath(values.topology as string | undefined)),
    values.stores as string | undefined,
  );
  return {
    // hub-node kills one node of the 3-node hub.
    ...(scenario === "hub-node" ? applyHubNodesOption(t, "3") : t),
    chunkSizeBytes: 1024 * 1024,
    ackWaitMs: 5000,
    placementDeadlineMs: flagDuration("placement-deadline", values["placement-deadline"] ?? "5s"),
    duplicateWindowMs: flagDuration("duplicate-window", values["duplicate-window"] ?? "10s"),
  };
}

export function faultOf(scenario: string, values: Values, topology: Topology): Fault {
  if (scenario === "bit-rot") return bitRot();
  const clouds = topology.clouds.map((c) => c.name);
  const cloud = values.cloud as string | undefined;
  if (cloud !== undefined && !clouds.includes(cloud))
    throw new UsageError(`--cloud: "${cloud}" is not a cloud of the topology (${clouds.join(", ")})`);
  const duration = (flag: string) => (values[flag] === undefined ? undefined : flagDuration(flag, values[flag]));
  const only = <T>(key: string, v: T | undefined) => (v === undefined ? {} : { [key]: v });
  if (scenario === "slow-store") {
    checkStoreServer(topology, cloud);
    return slowStore({ ...only("phaseMs", duration("phase")), ...only("cloud", cloud) });
  }
  if (scenario === "mix")
    return mix(only("rounds", values.rounds === undefined ? undefined : whole("--rounds", values.rounds as string)));
  if (scenario === "hub-node")
    return hubNode(
      only("rounds", values.rounds === undefined ? undefined : whole("--rounds", values.rounds as string)),
    );
  if (scenario === "disk-full") {
    const disk = values.disk ?? "store";
    if (disk !== "store" && disk !== "jetstream")
      throw new UsageError(`--disk: "${disk}" is not one of "store", "jetstream"`);
    const diskBytes =
      values["disk-size"] === undefined ? undefined : asUsage(() => parseSize("--disk-size", values["disk-size"]));
    return diskFull({
      disk,
      ...only("fullForMs", duration("full-for")),
      ...only("diskBytes", diskBytes),
      ...only("cloud", cloud),
    });
  }
  if (scenario === "partition")
    return partition({
      ...only("cutMs", duration("cut")),
      ...only("flapMs", duration("flap")),
      ...only("cloud", cloud),
    });
  return loseCloud({ ...only("outageMs", duration("outage")), ...only("cloud", cloud) });
}

/** slow-store slows a store server ferry runs: `cloud` (or some cloud) must have one. */
function checkStoreServer(topology: Topology, cloud: string | undefined): void {
  const served = topology.clouds.filter((c) => localServerFor(c.store)).map((c) => c.name);
  if (served.includes(cloud ?? served[0] ?? "")) return;
  throw new UsageError(
    `slow-store: ${cloud ?? "no cloud"} has a store server ferry runs (S3, GCS or Azure Blob) to slow; fs stores have none (leave out --stores fs)`,
  );
}

/** A duration flag's value; a bad one is a usage error (exit 2), like every other bad flag. */
const flagDuration = (flag: string, value: string | boolean | undefined): number =>
  asUsage(() => parseDuration(`--${flag}`, value));

export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function whole(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`${flag}: "${v}" is not a whole number of at least ${min}`);
  return n;
}
