/** A pipeline option chosen at ingest that later stages act on. */
export type Transform = "validate-jsonl";
export const TRANSFORMS: readonly Transform[] = ["validate-jsonl"];
