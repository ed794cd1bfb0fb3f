/** `ferry dead-letters replay` argument handling: numbers or --all, and every mistake named. */
import { describe, expect, it } from "vitest";
import { parseReplayArgs } from "../../cli/commands/dead-letters-replay.ts";

describe("ferry dead-letters replay arguments", () => {
  it("takes letters' numbers, with or without #, as the admin identity", () => {
    const a = parseReplayArgs(["12", "#40", "12", "--wait", "--json"]);
    expect(a).toMatchObject({ seqs: [12, 40, 12], wait: true, json: true, maxWaitMs: Infinity });
    expect(a?.session.identity).toBe("admin");
  });

  it("takes --all, and --max-wait with --wait", () => {
    expect(parseReplayArgs(["--all", "--wait", "--max-wait", "2m"])).toMatchObject({ seqs: "all", maxWaitMs: 120_000 });
  });

  it("returns nothing for --help", () => {
    expect(parseReplayArgs(["--help"])).toBeUndefined();
  });

  it.each([
    [[], /which dead letters\? give their numbers/],
    [["--all", "3"], /numbers or --all, not both/],
    [["abc"], /"abc" is not a dead letter's number/],
    [["0"], /"0" is not a dead letter's number/],
    [["1.5"], /"1.5" is not a dead letter's number/],
    [["-3"], /Unknown option|not a dead letter's number/],
    [["4", "--max-wait", "1m"], /--max-wait is for --wait/],
    [["4", "--bogus"], /Unknown option '--bogus'/],
  ])("refuses %j, naming the problem", (argv, message) => {
    expect(() => parseReplayArgs(argv)).toThrow(message);
  });
});
