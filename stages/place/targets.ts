/**
 * Chooses the clouds that hold a chunk's replicas: the chunk's own cloud first (its copy is the
 * cheapest), then the others in topology order, each at most once. Health, capacity and latency
 * weighting come later; with fewer clouds than replicas wanted, every cloud gets one.
 */
export function chooseTargets(clouds: readonly string[], home: string, wanted: number): string[] {
  const ordered = clouds.includes(home) ? [home, ...clouds.filter((c) => c !== home)] : [...clouds];
  return ordered.slice(0, Math.max(0, wanted));
}
