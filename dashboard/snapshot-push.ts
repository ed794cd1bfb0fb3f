/**
 * The dashboard's Server-Sent Events (`/api/events`): the open pages' streams, and one loop that
 * writes the current snapshot to all of them every second while any is open.
 */
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { SNAPSHOT_EVERY_MS, type SnapshotCache } from "./snapshot-cache.ts";

export class SnapshotPush {
  readonly #snapshots: SnapshotCache;
  readonly #streams = new Set<ServerResponse>();
  readonly #stop = new AbortController();
  #pushing: Promise<void> | undefined;

  constructor(snapshots: SnapshotCache) {
    this.#snapshots = snapshots;
  }

  /** Answers `res` as an event stream that gets every snapshot until the page goes away or stop(). */
  open(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n");
    this.#streams.add(res);
    res.on("close", () => this.#streams.delete(res));
    this.#pushing ??= this.#loop();
  }

  /** Ends every open stream and the loop; `finished` tells when the loop's last push is over. */
  stop(): void {
    this.#stop.abort();
    for (const res of this.#streams) res.end();
    this.#streams.clear();
  }

  /** Resolves once no push is under way. */
  async finished(): Promise<void> {
    await this.#pushing;
  }

  async #loop(): Promise<void> {
    while (this.#streams.size > 0 && !this.#stop.signal.aborted) {
      const started = Date.now();
      try {
        const frame = `data: ${JSON.stringify(await this.#snapshots.current())}\n\n`;
        for (const res of this.#streams) res.write(frame);
      } catch {
        // the hub did not answer this time; the page shows the time of the last snapshot
      }
      await sleep(Math.max(0, SNAPSHOT_EVERY_MS - (Date.now() - started)), undefined, {
        signal: this.#stop.signal,
      }).catch(() => undefined);
    }
    this.#pushing = undefined;
  }
}
