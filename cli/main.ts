#!/usr/bin/env node
/**
 * The ferry command line. `./ferry` (the wrapper at the repository root) sets up Node 24, the npm
 * dependencies and nats-server, then runs this file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FerryError, InputError } from "../shared/errors.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { UsageError } from "./args.ts";
import { benchCommand } from "./commands/bench.ts";
import { catCommand } from "./commands/cat.ts";
import { chaosCommand } from "./commands/chaos.ts";
import { composeCommand } from "./commands/compose.ts";
import { credsCommand } from "./commands/creds.ts";
import { deadLettersCommand } from "./commands/dead-letters.ts";
import { demoCommand } from "./commands/demo.ts";
import { downCommand } from "./commands/down.ts";
import { getCommand } from "./commands/get.ts";
import { ingestCommand } from "./commands/ingest.ts";
import { keygenCommand } from "./commands/keygen.ts";
import { lintCommand } from "./commands/lint.ts";
import { planCommand } from "./commands/plan.ts";
import { reportCommand } from "./commands/report.ts";
import { scrubCommand } from "./commands/scrub.ts";
import { statusCommand } from "./commands/status.ts";
import { runTestCommand } from "./commands/test.ts";
import { upCommand } from "./commands/up.ts";

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string }> = {
  demo: { run: demoCommand, summary: "run the whole pipeline on a generated dataset and check every byte" },
  up: { run: upCommand, summary: "start the local deployment (hub, leaves, workers); --detach to background it" },
  down: { run: downCommand, summary: "stop everything ./ferry up started" },
  plan: {
    run: planCommand,
    summary: "write one host's bundle (--role hub|cloud): nats configs, systemd units, credential names",
  },
  ingest: { run: ingestCommand, summary: "publish files into the pipeline (--wait, --json)" },
  status: { run: statusCommand, summary: "show the topology and files in flight, or one file's chunks and replicas" },
  get: { run: getCommand, summary: "rebuild a file from its verified replicas (-o <path>, --from <cloud>)" },
  cat: {
    run: catCommand,
    summary: "stream a file or a byte range to stdout, each chunk verified first (--range START-END)",
  },
  report: {
    run: reportCommand,
    summary: "per stage throughput, success rate and share of time; flags the bottleneck (--since, --file, --json)",
  },
  keygen: { run: keygenCommand, summary: "write a new deployment key for ingest --encrypt, get and cat (-o <path>)" },
  creds: { run: credsCommand, summary: "rotate <identity>: replace one NATS identity's seed on a running deployment" },
  "dead-letters": {
    run: deadLettersCommand,
    summary: "list the messages that could never be processed, and why; replay <#...> sends them again once fixed",
  },
  scrub: {
    run: scrubCommand,
    summary: "read every replica back, check its SHA-256, and rewrite a missing or corrupt one from a good copy",
  },
  compose: {
    run: composeCommand,
    summary: "generate docker-compose.yml and its nats configs from the topology (--check for CI)",
  },
  chaos: {
    run: chaosCommand,
    summary: "break it on purpose (kill-workers: SIGKILL workers mid-flight) and check every invariant",
  },
  bench: { run: benchCommand, summary: "measure throughput and worker memory against a plain-copy baseline" },
  lint: { run: lintCommand, summary: "check formatting and lint rules with Biome (--fix rewrites what it safely can)" },
  test: { run: runTestCommand, summary: "typecheck, lint and run the whole test suite" },
};

const HELP = `ferry — moves training data into several clouds at once over NATS JetStream, verified byte for byte.

Usage: ./ferry <command> [options]      (./ferry <command> --help for details)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(13)} ${c.summary}`)
  .join("\n")}

Quick start:  ./ferry demo        ./ferry test`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (name === "--version" || name === "version") {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    process.stdout.write(`ferry ${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
  return command.run(rest);
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  // Errors we raise on purpose carry their own explanation; anything else is a bug worth its stack.
  process.stderr.write(
    err instanceof FerryError
      ? `ferry: ${err.message}\n`
      : `ferry: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  code = err instanceof InputError ? 2 : 1;
}
await exitWhenWritten(code);

/**
 * Exits once stdout and stderr have taken everything written: a command that has finished is done,
 * even when a library still holds a socket to a server that stopped answering.
 */
async function exitWhenWritten(exitCode: number): Promise<never> {
  const drained = (s: NodeJS.WriteStream) => new Promise<void>((done) => s.write("", () => done()));
  await Promise.race([
    Promise.all([drained(process.stdout), drained(process.stderr)]),
    new Promise((r) => setTimeout(r, 5000).unref()),
  ]);
  process.exit(exitCode);
}
