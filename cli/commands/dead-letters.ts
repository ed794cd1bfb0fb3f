import { listDeadLetters, type StoredDeadLetter } from "../../client/dead-letters.ts";
import { replayedFiles, replayOutcome } from "../../client/replay-outcome.ts";
import type { FileRecord } from "../../shared/manifest.ts";
import { parseCommand, UsageError } from "../args.ts";
import { openSession, SERVER_OPTIONS, SERVER_OPTIONS_HELP, sessionOptions } from "../home.ts";
import { printable } from "../terminal-text.ts";
import { replayCommand } from "./dead-letters-replay.ts";

export const DEAD_LETTERS_HELP = `Usage: ferry dead-letters [--json] [--limit <n>] [--history]
       ferry dead-letters replay <#...> | --all [--wait] [--json]   (see ferry dead-letters replay --help)

Lists the messages that could never be processed and were not replayed yet, newest last: each
one's number (#, its sequence in the hub's EVENTS stream), when, which stage and cloud, the file and
chunk when known, and the reason (a request that is not JSON, a source that does not exist, a chunk
whose replicas stayed corrupt, ...). The original payload is kept in each dead letter.

Once the cause is fixed, \`ferry dead-letters replay <#>\` publishes the message again. A replayed
letter is listed no more; --history lists it too, with when it was replayed and how it went.

Options:
  --json         one JSON object per dead letter, with the original payload (and with --history,
                 "replayed" and "outcome" on a replayed one)
  --limit <n>    show at most the newest n (default 50)
  --history      also the letters already replayed, with when and the outcome: file complete,
                 failed again, or in flight
${SERVER_OPTIONS_HELP}`;

/** `ferry dead-letters`: what could not pass, and why; `ferry dead-letters replay`: send it again. */
export async function deadLettersCommand(argv: string[]): Promise<number> {
  if (argv[0] === "replay") return replayCommand(argv.slice(1));
  const { values, positionals } = parseCommand(argv, {
    json: { type: "boolean" },
    limit: { type: "string" },
    history: { type: "boolean" },
    ...SERVER_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(`${DEAD_LETTERS_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(`unexpected "${positionals[0]}": the only subcommand is "replay" (ferry dead-letters --help)`);
  const limit = values.limit === undefined ? 50 : Math.max(1, Number(values.limit) || 50);
  const session = await openSession(sessionOptions(values));
  try {
    const letters = await session.rc.run("reading the dead letters", () =>
      listDeadLetters(session.hubJs, Infinity, { history: values.history ?? false }),
    );
    const files = values.history ? await replayedFiles(session.kv, letters) : new Map<string, FileRecord>();
    const shown = letters.slice(-limit);
    if (values.json) {
      for (const l of shown) process.stdout.write(`${JSON.stringify(withOutcome(l, letters, files))}\n`);
      return 0;
    }
    if (shown.length === 0) {
      process.stdout.write("no dead letters\n");
      return 0;
    }
    for (const l of shown) process.stdout.write(describe(withOutcome(l, letters, files)));
    return 0;
  } finally {
    await session.close();
  }
}

type Shown = StoredDeadLetter & { outcome?: string };

function withOutcome(l: StoredDeadLetter, all: StoredDeadLetter[], files: Map<string, FileRecord>): Shown {
  if (!l.replayed) return l;
  const id = l.replayed.fileId ?? l.fileId;
  const again = all.find((a) => a.replayOf === l.seq)?.seq;
  return { ...l, outcome: replayOutcome({ fileId: id, again }, id ? files.get(id) : undefined) };
}

function describe(l: Shown): string {
  const where = l.fileId ? ` file ${l.fileId}${l.index === undefined ? "" : ` chunk ${l.index}`}` : "";
  const deliveries = `${l.deliveryCount} ${l.deliveryCount === 1 ? "delivery" : "deliveries"}`;
  const replay = l.replayOf === undefined ? "" : `, a replay of #${l.replayOf}`;
  // A replay event, like a letter, comes from a cloud's stream: every field of it is shown escaped.
  const replayed = l.replayed
    ? `\n    replayed ${printable(String(l.replayed.at))} as ${printable(String(l.replayed.msgId))}: ${l.outcome}`
    : "";
  return `#${l.seq}  ${l.at}  ${l.stage}@${l.cloud}${where}  (${printable(l.subject)}, ${deliveries}${replay})\n    ${printable(l.reason)}${replayed}\n`;
}
