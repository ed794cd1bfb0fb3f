/**
 * `ferry test`: typecheck, lint, then the vitest suite, then one closing line `N passed, N failed`.
 * That closing line is what CI reads, so it is computed from vitest's JSON results (cli/test-run/tally.ts)
 * and is always the very last line printed, whatever happened before it.
 */

import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { REPO_ROOT } from "../../shared/repo-root.ts";
import { RUN_MARKER, reapLeftovers } from "../test-run/leftovers.ts";
import { runNodeScript } from "../test-run/node-script.ts";
import { tallyLines, tallyVitest, type VitestJson } from "../test-run/tally.ts";
import { checkLint } from "./lint.ts";

const RESULTS_FILE = path.join("test-results", "vitest.json");

/** The static checks that run before the suite; each failed one counts as one failure. */
async function staticChecks(): Promise<number> {
  let failed = 0;
  const [types, lint] = await Promise.all([
    runNodeScript("node_modules/typescript/bin/tsc", ["-p", "tsconfig.json"], true),
    checkLint(),
  ]);
  if (types.code === 0) console.log("ferry test: typecheck passed");
  else {
    process.stdout.write(types.output);
    console.log("ferry test: FAILED typecheck (tsc -p tsconfig.json)");
    failed++;
  }
  if (lint.ok) console.log("ferry test: lint passed");
  else {
    process.stdout.write(lint.output);
    console.log("ferry test: FAILED lint (./ferry lint shows it; ./ferry lint --fix repairs formatting)");
    failed++;
  }
  return failed;
}

async function runVitest(args: string[]): Promise<number> {
  // A stale report from an earlier run must not be read as this run's results.
  await rm(path.join(REPO_ROOT, RESULTS_FILE), { force: true });
  const vitestArgs = ["run", "--reporter=default", "--reporter=json", `--outputFile=${RESULTS_FILE}`, ...args];
  return (await runNodeScript("node_modules/vitest/vitest.mjs", vitestArgs, false)).code;
}

async function readReport(): Promise<VitestJson | undefined> {
  try {
    return JSON.parse(await readFile(path.join(REPO_ROOT, RESULTS_FILE), "utf8")) as VitestJson;
  } catch {
    return undefined;
  }
}

export async function runTestCommand(args: string[]): Promise<number> {
  const staticFailures = await staticChecks();
  // Every process the suite starts inherits this marker, so leftovers can be told from anyone else's.
  const runId = randomUUID();
  process.env[RUN_MARKER] = runId;
  const vitestExit = await runVitest(args);
  const tally = tallyVitest(await readReport(), vitestExit);
  tally.failed += staticFailures;
  // Give processes stopped at the very end a moment to exit before calling them left behind.
  await new Promise((r) => setTimeout(r, 1000));
  const leftovers = reapLeftovers(runId);
  if (leftovers.length > 0) {
    tally.problems.push(
      `the suite left ${leftovers.length} process(es) running (now killed):\n  ${leftovers.join("\n  ")}`,
    );
    tally.failed += 1;
  }
  for (const line of tallyLines(tally)) console.log(line);
  return tally.failed > 0 || vitestExit !== 0 ? 1 : 0;
}
