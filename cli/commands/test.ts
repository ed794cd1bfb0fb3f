/**
 * `ferry test`: typecheck, then the vitest suite, then one closing line `N passed, N failed`.
 * That closing line is what CI reads, so it is computed from vitest's JSON results and is
 * always the very last line printed, whatever happened before it.
 */

import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { RUN_MARKER, reapLeftovers } from "./leftovers.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
const RESULTS_FILE = path.join("test-results", "vitest.json");

interface RunResult {
  code: number;
  output: string;
}

interface Tally {
  passed: number;
  failed: number;
}

/** The fields of vitest's JSON report that the tally needs. */
interface VitestJson {
  numPassedTests?: number;
  numFailedTests?: number;
  numFailedTestSuites?: number;
  success?: boolean;
}

/**
 * Runs a package's JS entry with this same Node (process.execPath): the .bin shims start
 * with `#!/usr/bin/env node`, which could pick an older system Node.
 */
function runNode(script: string, args: string[], capture: boolean): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, script), ...args], {
      cwd: REPO_ROOT,
      stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (err) => resolve({ code: 1, output: `${output}${String(err)}\n` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}

async function typecheck(): Promise<boolean> {
  const result = await runNode("node_modules/typescript/bin/tsc", ["-p", "tsconfig.json"], true);
  if (result.code === 0) {
    console.log("ferry test: typecheck passed");
    return true;
  }
  process.stdout.write(result.output);
  console.log("ferry test: FAILED typecheck (tsc -p tsconfig.json)");
  return false;
}

async function runVitest(args: string[]): Promise<number> {
  // A stale report from an earlier run must not be read as this run's results.
  await rm(path.join(REPO_ROOT, RESULTS_FILE), { force: true });
  const vitestArgs = ["run", "--reporter=default", "--reporter=json", `--outputFile=${RESULTS_FILE}`, ...args];
  const result = await runNode("node_modules/vitest/vitest.mjs", vitestArgs, false);
  return result.code;
}

async function readReport(): Promise<VitestJson | undefined> {
  try {
    return JSON.parse(await readFile(path.join(REPO_ROOT, RESULTS_FILE), "utf8")) as VitestJson;
  } catch {
    return undefined;
  }
}

/**
 * Counts from the report. A file that failed to load has no failed test, only a failed
 * suite, so failed suites count when no test failed; a non-zero exit with nothing failed
 * (unhandled error, no test files) counts as one failure so it cannot pass as green.
 */
function tallyVitest(report: VitestJson | undefined, exitCode: number): Tally {
  if (report === undefined) {
    console.log("ferry test: vitest wrote no report (it crashed before finishing)");
    return { passed: 0, failed: 1 };
  }
  const passed = report.numPassedTests ?? 0;
  let failed = report.numFailedTests ?? 0;
  if (failed === 0) failed = report.numFailedTestSuites ?? 0;
  if (failed === 0 && (exitCode !== 0 || report.success === false)) {
    console.log(`ferry test: vitest failed (exit code ${exitCode}) with no failed test; counted as 1 failure`);
    failed = 1;
  }
  return { passed, failed };
}

export async function runTestCommand(args: string[]): Promise<number> {
  const typecheckPassed = await typecheck();
  // Every process the suite starts inherits this marker, so leftovers can be told from anyone else's.
  const runId = randomUUID();
  process.env[RUN_MARKER] = runId;
  const vitestExit = await runVitest(args);
  const tally = tallyVitest(await readReport(), vitestExit);
  if (!typecheckPassed) tally.failed += 1;
  // Give processes stopped at the very end a moment to exit before calling them left behind.
  await new Promise((r) => setTimeout(r, 1000));
  const leftovers = reapLeftovers(runId);
  if (leftovers.length > 0) {
    console.log(
      `ferry test: FAILED: the suite left ${leftovers.length} process(es) running (now killed):\n  ${leftovers.join("\n  ")}`,
    );
    tally.failed += 1;
  }
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  return tally.failed > 0 || vitestExit !== 0 ? 1 : 0;
}
