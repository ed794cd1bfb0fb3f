/** `ferry lint`: Biome's formatter and linter over the tree (biome.json), the same check `ferry test` runs first. */
import { parseCommand } from "../args.ts";
import { runNodeScript } from "../test-run/node-script.ts";

const BIOME = "node_modules/@biomejs/biome/bin/biome";

export const LINT_HELP = `Usage: ferry lint [--fix]

Checks formatting (120 columns) and lint rules with Biome, configured in biome.json. Prints each
finding with its file, line and the fix; exits 1 when there is any. ./ferry test runs this first.

Options:
  --fix   rewrite files: apply the formatter and the lint fixes that are safe`;

/** Runs Biome; output goes straight to the terminal. Returns its exit code. */
export function runLint(fix: boolean): Promise<number> {
  const args = fix ? ["check", "--write", "."] : ["check", "--reporter=summary", "."];
  return runNodeScript(BIOME, args, false).then((r) => r.code);
}

/** Biome's findings, captured: empty output and exit 0 when the tree is clean. */
export function checkLint(): Promise<{ ok: boolean; output: string }> {
  return runNodeScript(BIOME, ["check", "."], true).then((r) => ({ ok: r.code === 0, output: r.output }));
}

export async function lintCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { fix: { type: "boolean" } }, false);
  if (values.help) {
    process.stdout.write(`${LINT_HELP}\n`);
    return 0;
  }
  const code = await runLint(values.fix === true);
  return code === 0 ? 0 : 1;
}
