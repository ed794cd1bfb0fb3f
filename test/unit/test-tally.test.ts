import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tallyLines, tallyVitest, type VitestJson } from "../../cli/test-run/tally.ts";

const ROOT = resolve(import.meta.dirname, "../..");

const test = (fullName: string, status: string, skipReason?: string) => ({
  fullName,
  status,
  ...(skipReason === undefined ? {} : { meta: { skipReason } }),
});

describe("tallyVitest", () => {
  it("counts passed and failed tests of a clean run", () => {
    const report: VitestJson = { numPassedTests: 3, numFailedTests: 1, success: false, testResults: [] };
    expect(tallyVitest(report, 1)).toEqual({ passed: 3, failed: 1, skipped: [], problems: [] });
  });

  it("fails a run in which no test ran", () => {
    const t = tallyVitest({ numPassedTests: 0, numFailedTests: 0, success: true, testResults: [] }, 0);
    expect(t.failed).toBe(1);
    expect(t.problems.join()).toMatch(/no test ran/);
  });

  it("fails a run whose only tests were skipped, even with reasons", () => {
    const report: VitestJson = {
      numPassedTests: 0,
      testResults: [{ name: "a.test.ts", assertionResults: [test("a", "skipped", "no fuse")] }],
    };
    const t = tallyVitest(report, 0);
    expect(t.skipped).toEqual(["a: no fuse"]);
    expect(t.failed).toBe(1);
  });

  it("counts a test skipped without a reason as a failure, and one with a reason as skipped", () => {
    const report: VitestJson = {
      numPassedTests: 2,
      testResults: [
        {
          name: "x.test.ts",
          assertionResults: [
            test("ok", "passed"),
            test("later", "todo"),
            test("off", "skipped"),
            test("fuse", "skipped", "needs /dev/fuse"),
          ],
        },
      ],
    };
    const t = tallyVitest(report, 0);
    expect(t.skipped).toEqual(["fuse: needs /dev/fuse"]);
    expect(t.problems).toEqual([
      "test todo without a stated reason: later (x.test.ts)",
      "test skipped without a stated reason: off (x.test.ts)",
    ]);
    expect(t.failed).toBe(2);
  });

  it("counts a file that failed to load, a crash and a non-zero exit", () => {
    expect(tallyVitest({ numPassedTests: 5, numFailedTests: 0, numFailedTestSuites: 2 }, 1).failed).toBe(2);
    expect(tallyVitest(undefined, 1)).toMatchObject({ passed: 0, failed: 1 });
    expect(tallyVitest({ numPassedTests: 5, numFailedTests: 0, success: false }, 1).failed).toBe(1);
  });

  it("ends its lines with the closing line CI reads, skipped tests listed before it", () => {
    const lines = tallyLines({ passed: 7, failed: 1, skipped: ["fuse: no fuse"], problems: ["no test ran"] });
    expect(lines).toEqual(["ferry test: FAILED: no test ran", "1 skipped:", "  fuse: no fuse", "7 passed, 1 failed"]);
  });
});

describe("skipBecause through vitest itself", () => {
  it("puts the reason in vitest's JSON report, where the tally finds it", () => {
    const out = mkdtempSync(join(tmpdir(), "ferry-tally-"));
    try {
      const file = join(out, "report.json");
      const run = spawnSync(
        process.execPath,
        [
          join(ROOT, "node_modules/vitest/vitest.mjs"),
          "run",
          "--config",
          join(ROOT, "test/fixtures/tally/vitest.config.ts"),
          "--reporter=json",
          `--outputFile=${file}`,
        ],
        { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
      );
      const t = tallyVitest(JSON.parse(readFileSync(file, "utf8")) as VitestJson, run.status ?? 1);
      expect(t.passed).toBe(1);
      expect(t.skipped).toEqual(["skips with a reason: needs /dev/fuse"]);
      expect(t.problems).toEqual([
        `test skipped without a stated reason: skips without a reason (${join(ROOT, "test/fixtures/tally/skips.fixture.ts")})`,
      ]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
