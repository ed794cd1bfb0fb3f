/**
 * Where a chunk's replicas go. First choice: the chunk's own cloud (its copy is the cheapest), then
 * the others in topology order, each at most once; with fewer clouds than replicas wanted, every
 * cloud gets one. Then failover: a chosen cloud that has not verified its replica within the
 * placement deadline is passed over for a cloud that holds none yet and answers (`reachable`), the
 * healthiest and fastest first (`preference`), so a lost cloud does not hold a chunk below its
 * replicas. With no such cloud left, the chunk is short of clouds, and a file whose chunks are all
 * replicated or short is durable. The orchestrator decides failovers (orchestrator/placement-watch.ts)
 * from the manifest; this file decides on plain values.
 */

export function chooseTargets(clouds: readonly string[], home: string, wanted: number): string[] {
  const ordered = clouds.includes(home) ? [home, ...clouds.filter((c) => c !== home)] : [...clouds];
  return ordered.slice(0, Math.max(0, wanted));
}

/** A cloud asked to hold a replica of the chunk, and since when (ms since the epoch). */
export interface Assignment {
  cloud: string;
  at: number;
}

export interface PlacementView {
  /** The topology's clouds, in order. */
  clouds: readonly string[];
  replicas: number;
  /** Every cloud asked so far: the first choice (at the time the chunk was processed), then failovers. */
  assigned: readonly Assignment[];
  /** Clouds holding a verified replica. */
  verified: readonly string[];
  /** Clouds that answer now. */
  reachable: ReadonlySet<string>;
  now: number;
  deadlineMs: number;
  /** The order failover picks clouds in, best first (orchestrator/cloud-health.ts). @default `clouds` */
  preference?: readonly string[];
}

/**
 * The clouds to ask now for the replicas the chunk still lacks: none while the clouds asked are
 * within their deadline; for each one past it, the next cloud (in order of preference) that holds no
 * replica, was never asked and answers. Fewer than missing (maybe none) when there are not enough such clouds.
 */
export function failoverTargets(v: PlacementView): string[] {
  const verified = new Set(v.verified);
  const waiting = v.assigned.filter((a) => !verified.has(a.cloud) && v.now - a.at < v.deadlineMs);
  const missing = v.replicas - verified.size - new Set(waiting.map((a) => a.cloud)).size;
  if (missing <= 0) return [];
  const asked = new Set(v.assigned.map((a) => a.cloud));
  const order = v.preference ?? v.clouds;
  return order.filter((c) => !verified.has(c) && !asked.has(c) && v.reachable.has(c)).slice(0, missing);
}

/**
 * Whether the chunk is as safe as the clouds that answer allow, and no safer: at least one verified
 * replica but fewer than wanted, every cloud asked and unverified past its deadline and silent (one
 * that still answers is slow, and is waited on), and no cloud left to fail over to.
 */
export function isShortOfClouds(v: PlacementView): boolean {
  const verified = new Set(v.verified);
  if (verified.size === 0 || verified.size >= v.replicas) return false;
  const pending = v.assigned.filter((a) => !verified.has(a.cloud));
  if (pending.some((a) => v.now - a.at < v.deadlineMs || v.reachable.has(a.cloud))) return false;
  return failoverTargets(v).length === 0;
}

/** The clouds asked that have not verified their replica within the deadline, each once. */
export function overdueClouds(v: Omit<PlacementView, "reachable">): string[] {
  const verified = new Set(v.verified);
  const late = v.assigned.filter((a) => !verified.has(a.cloud) && v.now - a.at >= v.deadlineMs);
  return [...new Set(late.map((a) => a.cloud))];
}
