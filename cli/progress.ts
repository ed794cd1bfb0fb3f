import type { FileRecord } from "../shared/manifest.ts";
import { formatBytes } from "../shared/units.ts";
import { printable } from "./terminal-text.ts";

const WIDTH = 28;

/** One line per file: a bar of chunks with all replicas verified, and the state; name and reason printable. */
export function progressLine(name: string, f: FileRecord | undefined): string {
  if (!f) return `${pad(name)} [${" ".repeat(WIDTH)}]   0%  queued`;
  const total = f.chunkCount ?? Math.max(1, Math.ceil(f.size / Math.max(1, f.chunkSize)));
  const ratio = f.state === "complete" ? 1 : total === 0 ? 0 : Math.min(1, f.chunksComplete / total);
  const filled = Math.round(ratio * WIDTH);
  const pct = `${Math.floor(ratio * 100)}`.padStart(3);
  const detail =
    f.state === "failed"
      ? `failed: ${printable(f.reason ?? "unknown reason")}`
      : f.state === "durable"
        ? durableNote(f)
        : f.chunkCount === undefined
          ? `ingesting: ${f.chunksIngested} chunks read, ${f.chunksComplete} replicated, ${formatBytes(f.size)}`
          : `${f.state} ${f.chunksComplete}/${f.chunkCount} chunks, ${formatBytes(f.size)}`;
  return `${pad(name)} [${"#".repeat(filled)}${" ".repeat(WIDTH - filled)}] ${pct}%  ${detail}`;
}

/** Where a durable file is held, and that it heals by itself. */
export function durableNote(f: FileRecord): string {
  const held = f.heldBy?.length ? f.heldBy.join(", ") : "the clouds that answer";
  return `durable on ${held}, short of ${f.replicas} replicas: completes when the other clouds return`;
}

function pad(name: string): string {
  const shown = printable(name);
  const n = shown.length > 24 ? `…${shown.slice(-23)}` : shown;
  return n.padEnd(24);
}

/** Redraws a block of lines in place on a terminal. */
export class LiveBlock {
  #lines = 0;
  readonly #out: NodeJS.WriteStream;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
  }

  render(lines: string[]): void {
    if (this.#lines > 0) this.#out.write(`\x1b[${this.#lines}A`);
    for (const l of lines) this.#out.write(`\x1b[2K${l}\n`);
    this.#lines = lines.length;
  }
}
