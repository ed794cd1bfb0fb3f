import { type ParseArgsConfig, parseArgs } from "node:util";
import { InputError } from "../shared/errors.ts";

/** A command line that cannot be understood; printed with the command's usage. */
export class UsageError extends InputError {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses a command's arguments strictly; unknown flags become a UsageError naming the flag. */
export function parseCommand<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
