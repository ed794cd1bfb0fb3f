/**
 * What `get` and `cat` do about a bad replica they meet: say so on stderr, read the next one, and,
 * once done, ask the orchestrator to scrub that replica, so it is written again from a good copy.
 */
import type { ChunkRecord, ReplicaRecord } from "../shared/manifest.ts";
import type { ScrubReply } from "../shared/scrub.ts";
import { SCRUB_REQUESTS } from "../shared/subjects.ts";
import type { Session } from "./home.ts";

/** Repairs asked for at most per command: a cloud that lost everything is a job for `ferry scrub`. */
const MAX_ASKED = 20;

export class BadReplicas {
  readonly #seen: Array<{ fileId: string; index: number; cloud: string }> = [];

  /** The reader's `onSkip`: warns, and remembers the replica. */
  readonly onSkip = (c: ChunkRecord, r: ReplicaRecord, why: string): void => {
    process.stderr.write(`ferry: chunk ${c.index}: the ${r.cloud} replica is unusable (${why}); trying the next\n`);
    this.#seen.push({ fileId: c.fileId, index: c.index, cloud: r.cloud });
  };

  /** Asks for each bad replica to be scrubbed; never throws (the read itself succeeded or failed already). */
  async askForRepairs(s: Session): Promise<void> {
    for (const replica of this.#seen.slice(0, MAX_ASKED)) {
      try {
        const msg = await s.nc.request(SCRUB_REQUESTS, JSON.stringify({ replica }), { timeout: 5000 });
        const reply = msg.json<ScrubReply>();
        const what = `the ${replica.cloud} replica of chunk ${replica.index}`;
        process.stderr.write(
          "error" in reply
            ? `ferry: could not ask for ${what} to be repaired: ${reply.error}\n`
            : `ferry: asked for ${what} to be checked and written again (scrub ${reply.pass})\n`,
        );
      } catch (err) {
        process.stderr.write(
          `ferry: no orchestrator answered a repair request (${(err as Error).message}); run ./ferry scrub\n`,
        );
        return;
      }
    }
    if (this.#seen.length > MAX_ASKED)
      process.stderr.write(`ferry: ${this.#seen.length - MAX_ASKED} more bad replicas: run ./ferry scrub\n`);
  }
}
