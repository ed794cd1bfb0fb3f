import { resolve } from "node:path";
import { reassemble } from "../../client/reassemble.ts";
import { InputError } from "../../shared/errors.ts";
import { formatBytes } from "../../shared/units.ts";
import { parseCommand } from "../args.ts";
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

export const GET_HELP = `Usage: ferry get <fileId> -o <path> [--from <cloud>]

Rebuilds a file from its verified replicas, nearest cloud first, checking every chunk's SHA-256
and the whole file's. A bad replica is skipped for the next one; if no good copy of a chunk is
left, it fails and leaves nothing at <path>.

Options:
  -o, --output <path>  where to write the file (required)
  --from <cloud>       read only that cloud's replicas
${OBJECTS_OPTION_HELP}
${SERVER_OPTIONS_HELP}`;

/** `ferry get`: reassemble a file from its replicas. */
export async function getCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    output: { type: "string", short: "o" },
    from: { type: "string" },
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
  try {
    const preference = session.deployment.topology.clouds.map((c) => c.name);
    const out = resolve(values.output);
    const r = await reassemble(session.kv, objectAccess(session, objects), fileId, out, {
      preference,
      ...(values.from ? { from: values.from } : {}),
    });
    process.stderr.write(`wrote ${out}: ${formatBytes(r.size)} in ${r.chunks} chunks, sha256 ${r.sha256}\n`);
    return 0;
  } finally {
    await session.close();
  }
}
