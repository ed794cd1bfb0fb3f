import { benchEncryption } from "../../bench/encryption-throughput.ts";
import { benchPipelineVsCopy } from "../../bench/pipeline-vs-copy.ts";
import { InputError } from "../../shared/errors.ts";
import { applyStoresOption, loadTopology, STORES_OPTION_HELP } from "../../shared/topology/config.ts";
import { parseSize } from "../../shared/units.ts";
import { parseCommand } from "../args.ts";
import { resolveTopologyPath } from "../home.ts";

export const BENCH_HELP = `Usage: ferry bench [--size 256MiB] [--runs 3] [--topology <file>] [--stores config|fs]
       ferry bench --encryption [--size 256MiB] [--runs 3]

Measures throughput on a private local deployment: one random file is ingested until complete,
in turn with a baseline that writes the same bytes the same number of times (staging + one per
replica) with a plain fsynced copy and hashes them. Prints medians, the ratio run by run, and
each stage's peak worker memory. Figures from a shared machine are noisy: quote the medians.

With --encryption it measures only the client-side encryption (ingest --encrypt, get and cat of an
encrypted file) in memory, on one core: no deployment, no disk.

Options:
  ${STORES_OPTION_HELP}`;

/** `ferry bench`: the pipeline against a plain copy baseline. */
export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      size: { type: "string" },
      runs: { type: "string" },
      topology: { type: "string" },
      stores: { type: "string" },
      encryption: { type: "boolean" },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${BENCH_HELP}\n`);
    return 0;
  }
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50)
    throw new InputError(`--runs: "${values.runs}" is not a whole number from 1 to 50`);
  const sizeBytes = parseSize("--size", values.size ?? "256MiB");
  if (values.encryption) {
    process.stdout.write(`${(await benchEncryption(sizeBytes, runs)).join("\n")}\n`);
    return 0;
  }
  const lines = await benchPipelineVsCopy({
    topology: applyStoresOption(loadTopology(resolveTopologyPath(values.topology)), values.stores),
    sizeBytes,
    runs,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
