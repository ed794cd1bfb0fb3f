import { pipeline } from "node:stream/promises";
import { parseByteRange } from "../../client/byte-range.ts";
import { openPlainStream } from "../../client/encryption/decrypted-read.ts";
import { KEY_FILE_ENV, keyFileChoice } from "../../client/encryption/key-file.ts";
import { InputError } from "../../shared/errors.ts";
import { parseCommand } from "../args.ts";
import { BadReplicas } from "../bad-replicas.ts";
import {
  OBJECTS_OPTION,
  OBJECTS_OPTION_HELP,
  objectAccess,
  objectsChoice,
  openSession,
  SERVER_OPTIONS,
  SERVER_OPTIONS_HELP,
  sessionOptions,
} from "../home.ts";

export const CAT_HELP = `Usage: ferry cat <fileId> [--range START-END] [--from <cloud>] [--key-file <path>]

Streams a file, or a byte range of it, to stdout from its verified replicas, nearest cloud first.
Each chunk is read whole and checked against its SHA-256 before any of its bytes are written; a
missing or corrupt replica is skipped for the next (a line on stderr says so). If no good copy of a
chunk is left, it stops there with exit status 1: what was written before is correct, nothing after
it is written. Memory stays at about two chunks whatever the file's size.
A file ingested with --encrypt is decrypted with the deployment key: only the 64 KiB segments that
cover the range are read, and each is authenticated before its bytes are written; a wrong key writes
nothing, a changed byte stops it with exit status 1.
From Node code, openPlainStream (client/encryption/decrypted-read.ts) gives the same bytes as a Readable.

Options:
  --range <r>    only these bytes: START-END (END inclusive, as in HTTP), START- (to the end) or -N
                 (the last N bytes, written --range=-N); e.g. --range 0-1048575 is the first MiB
  --from <cloud> read only that cloud's replicas
  --key-file <path>  the deployment key, for an encrypted file (default: $${KEY_FILE_ENV})
${OBJECTS_OPTION_HELP}
${SERVER_OPTIONS_HELP}`;

/** `ferry cat`: a file's bytes on stdout, verified chunk by chunk. */
export async function catCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    range: { type: "string" },
    from: { type: "string" },
    "key-file": { type: "string" },
    ...OBJECTS_OPTION,
    ...SERVER_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(`${CAT_HELP}\n`);
    return 0;
  }
  const [fileId, ...extra] = positionals;
  if (!fileId || extra.length > 0) throw new InputError("ferry cat: give one file id (see ferry cat --help)");
  const range = values.range === undefined ? undefined : parseByteRange(values.range);
  const objects = objectsChoice(values.objects);
  const session = await openSession(sessionOptions(values));
  const bad = new BadReplicas();
  try {
    const keyFile = keyFileChoice(values["key-file"]);
    const { stream } = await openPlainStream(session.kv, objectAccess(session, objects), fileId, {
      ...(keyFile ? { keyFile } : {}),
      preference: session.deployment.topology.clouds.map((c) => c.name),
      ...(values.from ? { from: values.from } : {}),
      ...(range ? { range } : {}),
      onSkip: bad.onSkip,
    });
    await pipeline(stream, process.stdout).catch((err: NodeJS.ErrnoException) => {
      // The reader went away (`ferry cat ... | head`): it has what it wanted.
      if (err.code !== "EPIPE") throw err;
    });
    return 0;
  } finally {
    await bad.askForRepairs(session);
    await session.close();
  }
}
