import { randomUUID } from "node:crypto";

/**
 * The blocks one put stages, at most `maxConcurrency` in flight. The first failure is kept and
 * stops the others (and, through `signal`, the reading of the body); the caller's abort stops them too.
 */
export class StagedBlocks {
  /** Block ids in the order the blocks were staged: the block list the put commits. */
  readonly ids: string[] = [];
  /** Aborts when the caller gives up or a block fails: what reads the body and sends blocks listens to. */
  readonly signal: AbortSignal;
  readonly #stageOne: (id: string, block: Buffer, signal: AbortSignal) => Promise<unknown>;
  readonly #maxConcurrency: number;
  readonly #stop = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** One prefix per put, so the blocks of racing writers to the same key never mix. */
  readonly #idPrefix = randomUUID();
  #failure: { error: unknown } | undefined;

  constructor(
    stageOne: (id: string, block: Buffer, signal: AbortSignal) => Promise<unknown>,
    maxConcurrency: number,
    callerSignal: AbortSignal | undefined,
  ) {
    this.#stageOne = stageOne;
    this.#maxConcurrency = maxConcurrency;
    this.signal = callerSignal ? AbortSignal.any([callerSignal, this.#stop.signal]) : this.#stop.signal;
  }

  /** Waits for a free slot (bounded memory: the body is not read further meanwhile); throws the first block's failure. */
  async waitForSlot(): Promise<void> {
    while (this.#inFlight.size >= this.#maxConcurrency) await Promise.race(this.#inFlight);
    if (this.#failure) throw this.#failure.error;
  }

  /** Starts sending `block`; its failure surfaces from waitForSlot or settle. */
  stage(block: Buffer): void {
    const id = Buffer.from(`${this.#idPrefix}-${String(this.ids.length).padStart(6, "0")}`).toString("base64");
    this.ids.push(id);
    const upload: Promise<void> = this.#stageOne(id, block, this.signal)
      .then(
        () => {},
        (error: unknown) => {
          this.#failure ??= { error };
          this.#stop.abort();
        },
      )
      .finally(() => this.#inFlight.delete(upload));
    this.#inFlight.add(upload);
  }

  /** Waits for every block; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all(this.#inFlight);
    if (this.#failure) throw this.#failure.error;
  }

  /** Stops the blocks still in flight and waits until they have ended. */
  async abandon(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#inFlight);
  }

  /** What a put that failed with `err` reports: a read cut short because a block failed reports that block's error. */
  failureFor(err: unknown): unknown {
    return this.#failure && err === this.#stop.signal.reason ? this.#failure.error : err;
  }
}
