import { setTimeout as sleep } from "node:timers/promises";
import { FerryError, InputError } from "../../shared/errors.ts";
import { isFileId } from "../../shared/ids.ts";
import { readScrubRecord, type ScrubRecord, type ScrubReply, type ScrubRequest } from "../../shared/scrub.ts";
import { SCRUB_REQUESTS } from "../../shared/subjects.ts";
import { formatBytes, parseDuration, parseRate } from "../../shared/units.ts";
import { parseCommand } from "../args.ts";
import { openSession, SERVER_OPTIONS, SERVER_OPTIONS_HELP, type Session, sessionOptions } from "../home.ts";
import { LiveBlock } from "../progress.ts";

export const SCRUB_HELP = `Usage: ferry scrub [--file <id>]... [--rate <r>] [--json] [--max-wait <d>]

Reads every verified replica back in its own cloud and checks its SHA-256; a replica that is missing
or corrupt is written again from a good copy in another cloud, and checked again. Waits for every
replica to be checked and prints what was found. The orchestrator also runs a slow scrub in the
background (topology: scrubEvery, default 7d; scrubRate, default 20MB/s).

Options:
  --file <id>      only this file's replicas (repeat for more; default: every complete or durable file)
  --rate <r>       chunk bytes per second to ask the clouds to read, e.g. 50MB/s (default: scrubRate)
  --json           one JSON object at the end: the pass, replicas checked, the ones repaired
  --max-wait <d>   give up waiting after this long, e.g. 30m (default: no limit)
${SERVER_OPTIONS_HELP}
Exit status: 0 every replica checked (and repaired where needed), 1 not all were checked in time,
2 bad input.`;

/** `ferry scrub`: check every replica now, and repair what is bad. */
export async function scrubCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      file: { type: "string", multiple: true },
      rate: { type: "string" },
      json: { type: "boolean" },
      "max-wait": { type: "string" },
      ...SERVER_OPTIONS,
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${SCRUB_HELP}\n`);
    return 0;
  }
  const request = scrubRequestOf(values);
  const maxWaitMs = values["max-wait"] === undefined ? Infinity : parseDuration("--max-wait", values["max-wait"]);
  const session = await openSession(sessionOptions(values));
  try {
    const reply = await askForScrub(session, request);
    const record = await waitForPass(session, reply.pass, maxWaitMs, !values.json && process.stderr.isTTY);
    report(record, values.json === true);
    return record.finishedAt ? 0 : 1;
  } finally {
    await session.close();
  }
}

function scrubRequestOf(values: { file?: string[] | undefined; rate?: string | undefined }): ScrubRequest {
  const request: ScrubRequest = {};
  if (values.file) {
    const bad = values.file.filter((f) => !isFileId(f));
    if (bad.length) throw new InputError(`--file: ${JSON.stringify(bad[0])} is not a file id (see ./ferry status)`);
    request.fileIds = values.file;
  }
  if (values.rate !== undefined) request.rateBytesPerSec = parseRate("--rate", values.rate);
  return request;
}

async function askForScrub(s: Session, request: ScrubRequest): Promise<{ pass: string; replicas: number }> {
  const msg = await s.rc
    .run("asking the orchestrator for a scrub", () =>
      s.nc.request(SCRUB_REQUESTS, JSON.stringify(request), { timeout: 30_000 }),
    )
    .catch((err: Error) => {
      throw new FerryError(
        `no orchestrator answered the scrub request (${err.message}): is ./ferry up running, with its orchestrator?`,
      );
    });
  const reply = msg.json<ScrubReply>();
  if ("error" in reply) throw new InputError(`the orchestrator refused the scrub: ${reply.error}`);
  return reply;
}

/** Polls the pass's tally until every replica was checked, or `maxWaitMs` passed. */
async function waitForPass(s: Session, pass: string, maxWaitMs: number, live: boolean): Promise<ScrubRecord> {
  const block = live ? new LiveBlock(process.stderr) : undefined;
  const started = Date.now();
  for (;;) {
    const record = await readScrubRecord(s.kv, pass);
    if (!record) throw new FerryError(`scrub pass ${pass} has no record in the manifest`);
    block?.render([progressOf(record)]);
    if (record.finishedAt || Date.now() - started > maxWaitMs) return record;
    await sleep(500);
  }
}

const progressOf = (r: ScrubRecord): string =>
  `scrub ${r.pass}: ${r.checked}/${r.asked ?? "?"} replicas checked (${formatBytes(r.bytes)}), ${r.repairedCount} repaired`;

function report(r: ScrubRecord, json: boolean): void {
  if (json) {
    const { pass, asked, checked, bytes, repairedCount, repaired, startedAt, finishedAt } = r;
    const line = {
      pass,
      replicas: asked,
      checked,
      bytes,
      repairedCount,
      repaired,
      startedAt,
      finishedAt: finishedAt ?? null,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  const lines = [progressOf(r)];
  for (const x of r.repaired) lines.push(`  repaired  ${x.fileId} chunk ${x.index} in ${x.cloud}`);
  if (r.repairedCount > r.repaired.length) lines.push(`  ... and ${r.repairedCount - r.repaired.length} more`);
  if (!r.finishedAt)
    lines.push(
      `not every replica was checked in time: is every cloud up (./ferry status)? Failures are in ./ferry dead-letters`,
    );
  process.stdout.write(`${lines.join("\n")}\n`);
}
