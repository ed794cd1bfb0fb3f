import { PoisonMessageError } from "../../shared/errors.ts";

/** JSON text is UTF-8 (RFC 8259): bytes that do not decode fail the line instead of becoming U+FFFD. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Checks that every line of a chunk is a JSON value, in pieces as they stream (memory is bounded by the
 * longest line). A chunk cut on record boundaries holds whole lines; its last line may lack a newline.
 */
export class JsonlValidator {
  #pending: Buffer[] = [];
  #line = 0;
  readonly #chunkIndex: number;

  constructor(chunkIndex: number) {
    this.#chunkIndex = chunkIndex;
  }

  update(piece: Uint8Array): void {
    let start = 0;
    const buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      this.#pending.push(buf.subarray(start, nl));
      this.#checkLine();
      start = nl + 1;
    }
    if (start < buf.length) this.#pending.push(Buffer.from(buf.subarray(start)));
  }

  /** Checks the last line; throws PoisonMessageError on the first bad line. */
  end(): void {
    if (this.#pending.length > 0) this.#checkLine();
  }

  #checkLine(): void {
    this.#line++;
    const bytes = Buffer.concat(this.#pending);
    this.#pending = [];
    let text: string;
    try {
      text = UTF8.decode(bytes).trim();
    } catch {
      throw new PoisonMessageError(`line ${this.#line} of chunk ${this.#chunkIndex} is not valid UTF-8`);
    }
    if (text === "") return;
    try {
      JSON.parse(text);
    } catch (err) {
      throw new PoisonMessageError(
        `line ${this.#line} of chunk ${this.#chunkIndex} is not valid JSON: ${(err as Error).message}`,
      );
    }
  }
}
