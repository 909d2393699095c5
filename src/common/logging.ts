/**
 * Structured logs (pino), written to stderr so a command's stdout stays its own output.
 * Child loggers carry agent, framework and task ids on every line.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A logger for one component (`master`, `agent`, `sdk`). */
export function createLogger(component: string, level: LogLevel = 'info'): Logger {
  return pino({ level, base: { component } }, pino.destination(2));
}

/** A logger that drops everything; the default inside libraries and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
