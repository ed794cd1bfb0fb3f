import { planReplays, type ReplayPlan, replay } from "../../client/dead-letter-replay.ts";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { isSettled, waitForFiles } from "../../client/ingest.ts";
import { replayOutcome } from "../../client/replay-outcome.ts";
import { FerryError } from "../../shared/errors.ts";
import type { LetterReplayed } from "../../shared/events.ts";
import type { FileRecord } from "../../shared/manifest.ts";
import { ADMIN_IDENTITY } from "../../shared/topology/nats-identities.ts";
import { parseDuration } from "../../shared/units.ts";
import { parseCommand, UsageError } from "../args.ts";
import { openSession, SERVER_OPTIONS, SERVER_OPTIONS_HELP, type SessionOptions, sessionOptions } from "../home.ts";
import { LiveBlock, progressLine } from "../progress.ts";

export const REPLAY_HELP = `Usage: ferry dead-letters replay <#...> [--wait] [--json]
       ferry dead-letters replay --all [--wait] [--json]

Publishes dead-lettered messages again, once you have fixed what they failed on (created or made
readable the file an ingest request names, brought a store back, ...): each message goes to its
subject with its payload, under a new message id (replay-<#>-<n>), so its stage takes it as new.
<#> is a letter's number as ./ferry dead-letters shows it (its sequence in the hub's EVENTS
stream); --all replays every letter not replayed yet. A file that a letter failed goes back in
flight and can complete; the file records how many replays it had. A replayed letter leaves
./ferry dead-letters; --history shows it with when it was replayed and how it went. A replay
that fails again writes a new dead letter (marked "a replay of #<#>"), which can be replayed in turn.

Replay every letter of a file (or use --all): a file with a letter left unreplayed cannot complete.

Refused, with nothing published: a number no dead letter has, a letter replayed already, a letter
whose file is complete, a letter whose message is longer than the letter holds and is gone from its
stream, and one whose subject is not one a stage takes. --all leaves such letters out, saying why.

Runs as the deployment's admin NATS identity (only it may publish the replay event
files.replayed.<cloud>); with --hub, FERRY_NATS_HOME must hold credentials/nats/admin.nk.

Options:
  --all           every letter not replayed yet (instead of numbers)
  --wait          wait until each replayed file is complete or failed again, with progress;
                  exit 1 when one failed again
  --max-wait <d>  with --wait, give up after this long, e.g. 10m (default: no limit)
  --json          one JSON object per replayed letter: seq, stage, cloud, fileId, subject, msgId
                  (with --wait, also state and outcome)
${SERVER_OPTIONS_HELP}`;

/** What `ferry dead-letters replay` was asked, checked before anything connects. */
export interface ReplayArgs {
  seqs: number[] | "all";
  wait: boolean;
  json: boolean;
  maxWaitMs: number;
  session: SessionOptions;
}

/** Parses `ferry dead-letters replay` arguments; undefined for --help. Throws UsageError naming the problem. */
export function parseReplayArgs(argv: string[]): ReplayArgs | undefined {
  const { values, positionals } = parseCommand(argv, {
    all: { type: "boolean" },
    wait: { type: "boolean" },
    json: { type: "boolean" },
    "max-wait": { type: "string" },
    ...SERVER_OPTIONS,
  });
  if (values.help) return undefined;
  if (values.all && positionals.length > 0)
    throw new UsageError("give dead letters' numbers or --all, not both (ferry dead-letters replay --help)");
  if (!values.all && positionals.length === 0)
    throw new UsageError(
      "which dead letters? give their numbers as ./ferry dead-letters shows them (e.g. replay 42), or --all",
    );
  const seqs = values.all ? ("all" as const) : positionals.map(letterNumber);
  if (values["max-wait"] !== undefined && !values.wait) throw new UsageError("--max-wait is for --wait: add --wait");
  const maxWaitMs = values["max-wait"] === undefined ? Infinity : parseDuration("--max-wait", values["max-wait"]);
  return {
    seqs,
    wait: values.wait ?? false,
    json: values.json ?? false,
    maxWaitMs,
    session: { ...sessionOptions(values), identity: ADMIN_IDENTITY },
  };
}

/** A letter's number: a whole number from 1, with or without its `#`. */
function letterNumber(text: string): number {
  const digits = text.startsWith("#") ? text.slice(1) : text;
  const n = Number(digits);
  if (!/^\d+$/.test(digits) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(
      `"${text}" is not a dead letter's number: give the whole number ./ferry dead-letters shows after # (e.g. 42)`,
    );
  return n;
}

/** `ferry dead-letters replay`: publish dead-lettered messages again, and follow their files. */
export async function replayCommand(argv: string[]): Promise<number> {
  const args = parseReplayArgs(argv);
  if (!args) {
    process.stdout.write(`${REPLAY_HELP}\n`);
    return 0;
  }
  const session = await openSession(args.session);
  try {
    const { topology } = session.deployment;
    const client = {
      nc: session.nc,
      hubJs: session.hubJs,
      kv: session.kv,
      hubDomain: topology.hubDomain,
      clouds: topology.clouds.map((c) => c.name),
    };
    const letters = await session.rc.run("reading the dead letters", () =>
      listDeadLetters(session.hubJs, Infinity, { history: true }),
    );
    const { plans, skipped } = await planReplays(client, letters, args.seqs);
    for (const why of skipped) process.stderr.write(`left out ${why}\n`);
    if (plans.length === 0) {
      process.stderr.write("no dead letters to replay\n");
      return 0;
    }
    const done: Array<{ plan: ReplayPlan; event: LetterReplayed }> = [];
    let unpublished = 0;
    for (const plan of plans) {
      try {
        const event = await replay(client, plan);
        done.push({ plan, event });
        if (!args.json && !args.wait) process.stdout.write(`${replayedLine(event)}\n`);
      } catch (err) {
        // The others go on: each letter's replay stands on its own.
        if (!(err instanceof FerryError)) throw err;
        process.stderr.write(`ferry: ${err.message}\n`);
        unpublished++;
      }
    }
    if (!args.wait) {
      if (args.json) for (const d of done) process.stdout.write(`${JSON.stringify(jsonLine(d.event))}\n`);
      return unpublished > 0 ? 1 : 0;
    }
    return Math.max(await waitForReplays(session.kv, done, args), unpublished > 0 ? 1 : 0);
  } finally {
    await session.close();
  }
}

const replayedLine = (e: LetterReplayed): string =>
  `#${e.letterSeq}  replayed as ${e.msgId} on ${e.subject}${e.fileId ? `  file ${e.fileId}` : ""}`;

const jsonLine = (e: LetterReplayed, f?: FileRecord, outcome?: string) => ({
  seq: e.letterSeq,
  stage: e.stage,
  cloud: e.cloud,
  fileId: e.fileId ?? null,
  subject: e.subject,
  msgId: e.msgId,
  ...(f ? { state: f.state, replays: f.replays ?? 0, ...(f.reason ? { reason: f.reason } : {}) } : {}),
  ...(outcome ? { outcome } : {}),
});

/**
 * Waits until every replayed letter's file is complete, durable or failed again (its replays
 * projected first: until then the manifest still shows the old failure); 1 when one failed again.
 */
async function waitForReplays(
  kv: Parameters<typeof waitForFiles>[0],
  done: Array<{ plan: ReplayPlan; event: LetterReplayed }>,
  args: ReplayArgs,
): Promise<number> {
  const seqsOf = new Map<string, number[]>();
  for (const { event } of done)
    if (event.fileId) seqsOf.set(event.fileId, [...(seqsOf.get(event.fileId) ?? []), event.letterSeq]);
  const ids = [...seqsOf.keys()];
  const settled = (f: FileRecord | undefined): boolean =>
    !!f && (seqsOf.get(f.fileId) ?? []).every((s) => f.replayedLetters?.includes(s)) && isSettled(f);
  const live = process.stderr.isTTY && !args.json ? new LiveBlock(process.stderr) : undefined;
  const files = await waitForFiles(
    kv,
    ids,
    (latest) => live?.render(ids.map((id) => progressLine(id, latest.get(id)))),
    args.maxWaitMs,
    settled,
  );
  let failed = 0;
  for (const { event } of done) {
    const f = event.fileId ? files.get(event.fileId) : undefined;
    const outcome = replayOutcome({ fileId: event.fileId }, f);
    if (f && f.state === "failed") failed++;
    process.stdout.write(
      args.json
        ? `${JSON.stringify(jsonLine(event, f, outcome))}\n`
        : `${replayedLine(event)}: ${outcome}${f?.state === "failed" ? ` (${f.reason ?? "no reason"})` : ""}\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}
