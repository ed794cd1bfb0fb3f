import { createKeyFile, KEY_FILE_ENV } from "../../client/encryption/key-file.ts";
import { InputError } from "../../shared/errors.ts";
import { parseCommand } from "../args.ts";

export const KEYGEN_HELP = `Usage: ferry keygen -o <path>

Writes a new random 256-bit deployment key to <path> (created with mode 0600; an existing file is
never overwritten) and prints its key id. \`ferry ingest --encrypt\` wraps each file's data key with
it; \`ferry get\` and \`ferry cat\` need it to decrypt. Give it with --key-file or ${KEY_FILE_ENV}.

Back it up somewhere the clouds are not: without it, no encrypted file can ever be read again.
The key id (a fingerprint of the key) is what the manifest records; it does not reveal the key.

Options:
  -o, --output <path>  where to write the key (required)`;

/** `ferry keygen`: a new deployment key in a 0600 file. */
export async function keygenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { output: { type: "string", short: "o" } }, false);
  if (values.help) {
    process.stdout.write(`${KEYGEN_HELP}\n`);
    return 0;
  }
  if (!values.output || positionals.length > 0)
    throw new InputError("ferry keygen: give -o <path> (see ferry keygen --help)");
  const key = await createKeyFile(values.output);
  process.stderr.write(`wrote ${key.path} (mode 0600): key id ${key.keyId}; back it up, it cannot be recovered\n`);
  process.stdout.write(`${key.keyId}\n`);
  return 0;
}
