/**
 * Replaying dead letters (`ferry dead-letters replay`): after the operator fixed what a message
 * failed on, the message is published again, to its subject with its payload, so its stage takes it.
 * First a `files.replayed.<cloud>` event goes into the letter's cloud's stream (the admin identity
 * alone may publish it): it marks the letter replayed and takes its failed file back in flight. The
 * replayed work of that cloud, and any dead letter it writes, follow it in the same stream, so the
 * orchestrator sees the replay first. Every letter asked for is checked before anything is published.
 */
import { type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { FerryError, InputError } from "../shared/errors.ts";
import { encodeEvent, type LetterReplayed } from "../shared/events.ts";
import { fileIdFromSequence, isFileId } from "../shared/ids.ts";
import { type ManifestReader, readFileRecord } from "../shared/manifest.ts";
import { FILES_STREAM } from "../shared/stream-names.ts";
import { msgId, REPLAY_OF_HEADER, replayedSubject, replayMsgId } from "../shared/subjects.ts";
import type { StoredDeadLetter } from "./dead-letters.ts";

/** One letter, checked and ready to publish again. */
export interface ReplayPlan {
  letter: StoredDeadLetter;
  /** The whole original payload (from the letter, or from its stream when the letter holds only its start). */
  payload: Uint8Array;
  /** The file the replayed message works on, when it names one (or, for an ingest request, will). */
  fileId?: string;
  /** How many times this message has been replayed, this time included (a replay that failed again is a new letter). */
  attempt: number;
}

/** What the caller needs to reach the deployment. */
export interface ReplayClient {
  nc: NatsConnection;
  hubJs: JetStreamClient;
  kv: ManifestReader;
  /** The hub's JetStream domain, and the clouds (each leaf's domain is its cloud's name). */
  hubDomain: string;
  clouds: string[];
}

/** A subject a stage takes: an ingest request, or a chunk event of a cloud of the topology. */
function isStageSubject(subject: string, clouds: string[]): boolean {
  const m = /^(?:files\.ingest|chunks\.[a-z]+)(?:\.([a-z0-9-]+))?$/.exec(subject);
  if (!m) return false;
  if (m[1] === undefined) return subject === "files.ingest";
  return clouds.includes(m[1]);
}

/**
 * The letters to replay: `seqs` (EVENTS sequences, as `ferry dead-letters` shows them), or every
 * letter not replayed yet when "all". Asked by number, a letter that is unknown, replayed already,
 * of a complete file, or cannot be published again makes one InputError naming every such problem,
 * and nothing is published. With "all", such letters are left out, each with why (`skipped`).
 */
export async function planReplays(
  c: ReplayClient,
  letters: StoredDeadLetter[],
  seqs: number[] | "all",
): Promise<{ plans: ReplayPlan[]; skipped: string[] }> {
  const bySeq = new Map(letters.map((l) => [l.seq, l]));
  const asked = seqs === "all" ? letters.filter((l) => !l.replayed).map((l) => l.seq) : [...new Set(seqs)];
  const problems: string[] = [];
  const plans: ReplayPlan[] = [];
  for (const seq of asked) {
    const letter = bySeq.get(seq);
    try {
      if (!letter)
        throw new InputError(`#${seq}: no dead letter has this number (./ferry dead-letters lists them, with their #)`);
      const plan = await planOne(c, letter, bySeq);
      if (!plan) throw new InputError(`#${seq}: its file ${letter.fileId} is complete: there is nothing to replay`);
      plans.push(plan);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (seqs === "all") return { plans, skipped: problems };
  if (problems.length > 0) throw new InputError(`nothing was replayed:\n  ${problems.join("\n  ")}`);
  return { plans, skipped: [] };
}

/** One letter's plan; undefined when its file is complete. */
async function planOne(
  c: ReplayClient,
  letter: StoredDeadLetter,
  bySeq: Map<number, StoredDeadLetter>,
): Promise<ReplayPlan | undefined> {
  const seq = letter.seq;
  if (letter.replayed)
    throw new InputError(
      `#${seq}: already replayed at ${letter.replayed.at} as message ${letter.replayed.msgId} (./ferry dead-letters --history shows how it went)`,
    );
  if (!isStageSubject(letter.subject, c.clouds))
    throw new InputError(
      `#${seq}: its subject "${letter.subject}" is not one a stage takes: it is not published again`,
    );
  if (letter.fileId && (await readFileRecord(c.kv, letter.fileId))?.state === "complete") return undefined;
  const original = await originalPayload(c, letter);
  const { payload, fileId } = withFileId(letter, original);
  let attempt = 1;
  for (let l = letter; l.replayOf !== undefined && bySeq.has(l.replayOf); l = bySeq.get(l.replayOf) as StoredDeadLetter)
    attempt++;
  return { letter, payload, attempt, ...(fileId ? { fileId } : {}) };
}

/** The letter's payload when it holds all of it; else the original message, read from its stream. */
async function originalPayload(c: ReplayClient, letter: StoredDeadLetter): Promise<Uint8Array> {
  const held = new TextEncoder().encode(letter.payload);
  const whole = letter.payloadBytes === undefined ? held.length < 4096 : letter.payloadBytes === held.length;
  if (whole) return held;
  const domain = letter.stream === FILES_STREAM ? c.hubDomain : letter.cloud;
  try {
    const jsm = await jetstreamManager(c.nc, { domain });
    const m = await jsm.streams.getMessage(letter.stream, { seq: letter.streamSeq });
    if (m) return m.data;
  } catch {
    // told below
  }
  throw new InputError(
    `#${letter.seq}: the letter holds only the start of its message, and the message is gone from stream ${letter.stream} (sequence ${letter.streamSeq}): it cannot be published again`,
  );
}

/**
 * An ingest request without a `fileId` gets the id its worker gave it (from its FILES sequence), so
 * the replay works on the same file; any other payload goes out as it came.
 */
function withFileId(letter: StoredDeadLetter, payload: Uint8Array): { payload: Uint8Array; fileId?: string } {
  if (letter.fileId || letter.stream !== FILES_STREAM)
    return { payload, ...(letter.fileId ? { fileId: letter.fileId } : {}) };
  try {
    const o = JSON.parse(new TextDecoder().decode(payload)) as unknown;
    if (typeof o !== "object" || o === null || Array.isArray(o) || "fileId" in o) return { payload };
    const fileId = fileIdFromSequence(FILES_STREAM, letter.streamSeq);
    if (!isFileId(fileId)) return { payload };
    return { payload: new TextEncoder().encode(JSON.stringify({ fileId, ...o })), fileId };
  } catch {
    return { payload }; // not JSON: it goes out as it came, and its stage says why again
  }
}

/** Publishes the replay event, then the message again with a new id. Returns the event. */
export async function replay(c: ReplayClient, plan: ReplayPlan): Promise<LetterReplayed> {
  const { letter } = plan;
  const event: LetterReplayed = {
    letterSeq: letter.seq,
    stage: letter.stage,
    cloud: letter.cloud,
    ...(plan.fileId ? { fileId: plan.fileId } : {}),
    ...(letter.index === undefined ? {} : { index: letter.index }),
    subject: letter.subject,
    msgId: replayMsgId(letter.seq, plan.attempt),
    at: new Date().toISOString(),
  };
  // One replay event per letter: a second replay, even a concurrent one, is dropped as a duplicate.
  const ack = await c.hubJs
    .publish(replayedSubject(letter.cloud), encodeEvent(event), { msgID: msgId("replayed", letter.seq) })
    .catch((err: unknown) => {
      throw new FerryError(
        `#${letter.seq}: cloud ${letter.cloud}'s stream did not take the replay event (is its leaf up and linked?): ${(err as Error).message}; nothing of this letter was published`,
      );
    });
  if (ack.duplicate)
    throw new InputError(`#${letter.seq}: already being replayed by another ferry dead-letters replay`);
  const h = headers();
  h.set(REPLAY_OF_HEADER, String(letter.seq));
  try {
    await c.hubJs.publish(letter.subject, plan.payload, { msgID: event.msgId, headers: h });
  } catch (err) {
    throw new FerryError(
      `#${letter.seq} is marked replayed, but its message could not be published again to ${letter.subject}: ${(err as Error).message}`,
    );
  }
  return event;
}
