/**
 * The verdict of a vitest run, read from its JSON report. CI reads only the closing line
 * `N passed, N failed`, so everything that should stop a merge must land in `failed`: a failed
 * test or file, a crash, a run in which no test ran, and a test skipped without a stated reason.
 */

/** The fields of vitest's JSON report (`--reporter=json`) that the tally reads. */
export interface VitestJson {
  numPassedTests?: number;
  numFailedTests?: number;
  numFailedTestSuites?: number;
  success?: boolean;
  testResults?: Array<{
    name?: string;
    assertionResults?: Array<{ fullName?: string; status?: string; meta?: { skipReason?: unknown } }>;
  }>;
}

export interface Tally {
  passed: number;
  failed: number;
  /** Tests skipped with a reason (`skipBecause`), each as `<name>: <reason>`. */
  skipped: string[];
  /** Why the run fails beyond its failed tests, one line each. */
  problems: string[];
}

/** Statuses vitest gives a test that did not run. */
const NOT_RUN = new Set(["skipped", "pending", "todo", "disabled"]);

/**
 * Counts a run. A file that failed to load has no failed test, only a failed suite, so failed suites
 * count when no test failed; a non-zero exit with nothing failed counts as one failure.
 */
export function tallyVitest(report: VitestJson | undefined, exitCode: number): Tally {
  if (report === undefined) {
    return { passed: 0, failed: 1, skipped: [], problems: ["vitest wrote no report (it crashed before finishing)"] };
  }
  const passed = report.numPassedTests ?? 0;
  let failed = report.numFailedTests ?? 0;
  if (failed === 0) failed = report.numFailedTestSuites ?? 0;
  const problems: string[] = [];
  const skipped: string[] = [];
  for (const file of report.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (!NOT_RUN.has(test.status ?? "")) continue;
      const name = test.fullName ?? "(unnamed test)";
      const reason = test.meta?.skipReason;
      if (typeof reason === "string" && reason !== "") skipped.push(`${name}: ${reason}`);
      else problems.push(`test ${test.status} without a stated reason: ${name} (${file.name ?? "?"})`);
    }
  }
  if (passed + failed === 0) problems.push("no test ran (every test skipped, or a filter matched nothing)");
  if (failed === 0 && problems.length === 0 && (exitCode !== 0 || report.success === false)) {
    problems.push(`vitest failed (exit code ${exitCode}) with no failed test`);
  }
  return { passed, failed: failed + problems.length, skipped, problems };
}

/** The lines `ferry test` prints for a tally, ending with the closing line CI reads. */
export function tallyLines(t: Tally): string[] {
  const lines = t.problems.map((p) => `ferry test: FAILED: ${p}`);
  if (t.skipped.length > 0) lines.push(`${t.skipped.length} skipped:`, ...t.skipped.map((s) => `  ${s}`));
  lines.push(`${t.passed} passed, ${t.failed} failed`);
  return lines;
}
