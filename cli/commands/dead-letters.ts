import { listDeadLetters } from "../../client/dead-letters.ts";
import { parseCommand } from "../args.ts";
import { openSession, SERVER_OPTIONS, SERVER_OPTIONS_HELP, sessionOptions } from "../home.ts";
import { printable } from "../terminal-text.ts";

export const DEAD_LETTERS_HELP = `Usage: ferry dead-letters [--json] [--limit <n>]

Lists the messages that could never be processed, newest last: when, which stage and cloud, the
file and chunk when known, and the reason (a request that is not JSON, a source that does not exist,
a chunk whose replicas stayed corrupt, ...). The original payload is kept in each dead letter.

Options:
  --json         one JSON object per dead letter, with the original payload
  --limit <n>    show at most the newest n (default 50)
${SERVER_OPTIONS_HELP}`;

/** `ferry dead-letters`: what could not pass, and why. */
export async function deadLettersCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    { json: { type: "boolean" }, limit: { type: "string" }, ...SERVER_OPTIONS },
    false,
  );
  if (values.help) {
    process.stdout.write(`${DEAD_LETTERS_HELP}\n`);
    return 0;
  }
  const limit = values.limit === undefined ? 50 : Math.max(1, Number(values.limit) || 50);
  const session = await openSession(sessionOptions(values));
  try {
    const letters = await session.rc.run("reading the dead letters", () => listDeadLetters(session.hubJs, limit));
    if (values.json) {
      for (const l of letters) process.stdout.write(`${JSON.stringify(l)}\n`);
      return 0;
    }
    if (letters.length === 0) {
      process.stdout.write("no dead letters\n");
      return 0;
    }
    for (const l of letters) {
      const where = l.fileId ? ` file ${l.fileId}${l.index === undefined ? "" : ` chunk ${l.index}`}` : "";
      process.stdout.write(
        `${l.at}  ${l.stage}@${l.cloud}${where}  (${l.subject} #${l.streamSeq}, ${l.deliveryCount} deliveries)\n    ${printable(l.reason)}\n`,
      );
    }
    return 0;
  } finally {
    await session.close();
  }
}
