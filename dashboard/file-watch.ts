/**
 * Keeps every file record of the manifest in memory for the dashboard by watching the KV bucket's
 * `file.*` keys, so a snapshot never has to read the whole manifest; and the latest scrub pass's
 * tally (`scrub.*`: pass ids sort by their start).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { FileRecord } from "../shared/manifest.ts";
import { SCRUB_PREFIX, type ScrubRecord } from "../shared/scrub.ts";

export class FileWatch {
  readonly #kv: KV;
  readonly #files = new Map<string, FileRecord>();
  #scrub: ScrubRecord | undefined;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(kv: KV) {
    this.#kv = kv;
    this.#done = this.#run();
  }

  /** Every file the manifest holds, as last seen. */
  files(): FileRecord[] {
    return [...this.#files.values()];
  }

  /** The latest scrub pass's tally, if a pass ever ran. */
  latestScrub(): ScrubRecord | undefined {
    return this.#scrub;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#watch?.stop();
    await this.#done;
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        // The watch first delivers the current value of every key, then each change.
        this.#watch = await this.#kv.watch({ key: ["file.*", `${SCRUB_PREFIX}*`] });
        if (this.#stop.signal.aborted) this.#watch.stop();
        for await (const e of this.#watch) {
          if (e.key.startsWith(SCRUB_PREFIX)) {
            if (
              e.operation === "PUT" &&
              e.length > 0 &&
              (!this.#scrub || e.key >= `${SCRUB_PREFIX}${this.#scrub.pass}`)
            )
              this.#scrub = e.json<ScrubRecord>();
            continue;
          }
          const id = e.key.slice("file.".length);
          if (e.operation !== "PUT" || e.length === 0) this.#files.delete(id);
          else this.#files.set(id, e.json<FileRecord>());
        }
      } catch {
        // the hub is restarting or unreachable: watch again
      }
      await sleep(1000, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    }
  }
}
