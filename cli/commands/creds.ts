import { rotateIdentity } from "../../supervisor/creds-rotate.ts";
import { parseCommand, UsageError } from "../args.ts";
import { resolveHome } from "../home.ts";

export const CREDS_HELP = `Usage: ferry creds rotate <identity> [--home <dir>]

Replaces one NATS identity's seed (credentials/nats/<identity>.nk in the home folder) on a running
deployment, without stopping it: the servers accept the old and the new key, the identity's
processes restart one by one with the new seed (an in-flight message comes back to the next
worker), then the old key is dropped. Identities: see README, "Identities and permissions".`;

/** `ferry creds rotate <identity>`. */
export async function credsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { home: { type: "string" } }, true);
  if (values.help) {
    process.stdout.write(`${CREDS_HELP}\n`);
    return 0;
  }
  const [action, identity] = positionals;
  if (action !== "rotate" || !identity || positionals.length > 2)
    throw new UsageError(`expected: ferry creds rotate <identity> (got: ferry creds ${positionals.join(" ")})`);
  await rotateIdentity(resolveHome(values.home), identity, (s) => process.stdout.write(`${s}\n`));
  return 0;
}
