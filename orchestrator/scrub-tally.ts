/**
 * Counts a scrub's results into its pass's record (`scrub.<pass>` in the manifest) as the clouds'
 * `chunks.verified` events come back: each replica checked, and those that had to be written again.
 * The pass's message ids make each replica's event unique within the pass; only an orchestrator
 * killed between this write and its ack could count one twice.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/log.ts";
import type { ChunkVerified } from "../shared/events.ts";
import { MAX_LISTED, type ScrubRecord, scrubKey } from "../shared/scrub.ts";
import { updateJson } from "./kv-update.ts";

export async function tallyScrub(kv: KV, e: ChunkVerified, log?: Logger): Promise<void> {
  const mark = e.scrub;
  if (!mark) return;
  const at = e.at;
  const stored = await updateJson<ScrubRecord>(kv, scrubKey(mark.pass), (cur) => {
    if (!cur) return undefined; // not a pass this deployment started
    const next = { ...cur, checked: cur.checked + 1 };
    if (mark.repairs > 0) {
      next.repairedCount = cur.repairedCount + 1;
      if (cur.repaired.length < MAX_LISTED)
        next.repaired = [...cur.repaired, { fileId: e.fileId, index: e.index, cloud: e.replica.cloud }];
    }
    if (next.asked !== null && next.checked >= next.asked) next.finishedAt = at;
    return next;
  });
  if (mark.repairs > 0 && stored)
    log?.warn(
      { pass: mark.pass, fileId: e.fileId, index: e.index, cloud: e.replica.cloud },
      "scrub repaired a replica: it was missing or corrupt, and is written again from a good copy",
    );
}
