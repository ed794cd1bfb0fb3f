import { resolve } from "node:path";
import { getPlainFile } from "../../client/encryption/decrypted-get.ts";
import { KEY_FILE_ENV, keyFileChoice } from "../../client/encryption/key-file.ts";
import { InputError } from "../../shared/errors.ts";
import { formatBytes } from "../../shared/units.ts";
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

export const GET_HELP = `Usage: ferry get <fileId> -o <path> [--from <cloud>] [--key-file <path>]

Rebuilds a file from its verified replicas, nearest cloud first, checking every chunk's SHA-256
and the whole file's. A bad replica is skipped for the next one (and the orchestrator is asked to
write it again from a good copy); if no good copy of a chunk is left, it fails and leaves nothing at <path>. A file ingested with --encrypt is decrypted with the
deployment key: every segment is authenticated and the plaintext's HMAC checked before <path> appears
(written 0600); a wrong key or a changed byte fails and leaves nothing.

Options:
  -o, --output <path>  where to write the file (required)
  --from <cloud>       read only that cloud's replicas
  --key-file <path>    the deployment key, for an encrypted file (default: $${KEY_FILE_ENV})
${OBJECTS_OPTION_HELP}
${SERVER_OPTIONS_HELP}`;

/** `ferry get`: reassemble a file from its replicas. */
export async function getCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    output: { type: "string", short: "o" },
    from: { type: "string" },
    "key-file": { type: "string" },
    ...OBJECTS_OPTION,
    ...SERVER_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(`${GET_HELP}\n`);
    return 0;
  }
  const [fileId] = positionals;
  if (!fileId || !values.output) throw new InputError("ferry get: give a file id and -o <path> (see ferry get --help)");
  const objects = objectsChoice(values.objects);
  const session = await openSession(sessionOptions(values));
  const bad = new BadReplicas();
  try {
    const preference = session.deployment.topology.clouds.map((c) => c.name);
    const out = resolve(values.output);
    const keyFile = keyFileChoice(values["key-file"]);
    const r = await getPlainFile(session.kv, objectAccess(session, objects), fileId, out, {
      preference,
      ...(values.from ? { from: values.from } : {}),
      ...(keyFile ? { keyFile } : {}),
      onSkip: bad.onSkip,
    });
    const how = r.encrypted ? "decrypted, " : "";
    process.stderr.write(`wrote ${out}: ${formatBytes(r.size)} in ${r.chunks} chunks, ${how}sha256 ${r.sha256}\n`);
    return 0;
  } finally {
    await bad.askForRepairs(session);
    await session.close();
  }
}
