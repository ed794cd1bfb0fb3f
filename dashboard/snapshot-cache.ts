/**
 * The dashboard's one snapshot at a time: every open page and `/api/state` share it, so any number of
 * pages cost the deployment one measurement a second.
 */
import type { DashboardState, StateSource } from "./state.ts";

/** How old a snapshot gets before the next one is measured; open pages get one this often. */
export const SNAPSHOT_EVERY_MS = 1000;

export class SnapshotCache {
  readonly #source: StateSource;
  #latest: { at: number; state: Promise<DashboardState>; settled: boolean } | undefined;

  constructor(source: StateSource) {
    this.#source = source;
  }

  /**
   * The latest snapshot, or a new one once the last has settled and is SNAPSHOT_EVERY_MS old. A
   * snapshot that failed is dropped, so the next caller asks the deployment again.
   */
  current(): Promise<DashboardState> {
    const latest = this.#latest;
    if (latest && !(latest.settled && Date.now() - latest.at >= SNAPSHOT_EVERY_MS)) return latest.state;
    const next = { at: Date.now(), state: this.#source.snapshot(), settled: false };
    next.state.then(
      () => {
        next.settled = true;
      },
      () => {
        if (this.#latest === next) this.#latest = undefined;
      },
    );
    this.#latest = next;
    return next.state;
  }
}
