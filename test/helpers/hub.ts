import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "../../shared/nats/connect.ts";
import type { NatsIdentity } from "../../shared/nats/identity.ts";
import { FILES_STREAM } from "../../shared/stream-names.ts";
import { ALL_INGEST_REQUESTS } from "../../shared/subjects.ts";

/** What the hub's FILES stream holds of ingest requests: how many, and the stream sequence of the last one. */
export interface IngestRequestsSeen {
  count: number;
  lastSeq: number;
}

/**
 * Reads the ingest requests the hub's FILES stream holds. A request a client published is there once
 * the publish is acknowledged, before any worker or the orchestrator has seen it. (The stream's
 * files.completed messages are left out: the orchestrator publishes those for earlier files.)
 */
export async function ingestRequestsOnHub(
  hubUrl: string,
  domain: string,
  identity: NatsIdentity,
): Promise<IngestRequestsSeen> {
  const nc = await connectNats(hubUrl, "test-files-stream", identity);
  try {
    const jsm = await jetstream(nc, { domain }).jetstreamManager();
    let count = 0;
    let lastSeq = 0;
    for (const filter of ALL_INGEST_REQUESTS) {
      const info = await jsm.streams.info(FILES_STREAM, { subjects_filter: filter });
      for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
        count += n;
        const last = await jsm.streams.getMessage(FILES_STREAM, { last_by_subj: subject });
        lastSeq = Math.max(lastSeq, last?.seq ?? 0);
      }
    }
    return { count, lastSeq };
  } finally {
    await nc.close();
  }
}
