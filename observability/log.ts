import pino, { type Logger } from "pino";

export type { Logger };

/**
 * The root logger: JSON lines on stderr (stdout belongs to command output).
 * `FERRY_LOG_LEVEL` picks the level. @default "info"
 */
export function createLogger(bindings: Record<string, string | number>): Logger {
  return pino({ level: process.env.FERRY_LOG_LEVEL ?? "info", base: { pid: process.pid, ...bindings } }, pino.destination(2));
}
