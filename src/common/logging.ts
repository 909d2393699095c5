/**
 * Structured logs (pino), written to stderr so a command's stdout stays its own output.
 * Every line carries `component` (master, agent, sdk); callers put `agentId`, `frameworkId` and
 * `taskId` on the lines about one (directly, or once with `withIds` for a child logger).
 *
 * Format: JSON lines, one object per line, for machines; human-readable lines
 * (`12:00:01.123 INFO  master agent=agent-x task=t1: task launched {"cpus":1}`) when stderr is a
 * terminal. `ORBIT_LOG_FORMAT=json|pretty` overrides the guess.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The id fields that the pretty format puts up front, in this order, and their short names. */
const ID_FIELDS: readonly (readonly [key: string, label: string])[] = [
  ['agentId', 'agent'],
  ['frameworkId', 'framework'],
  ['taskId', 'task'],
];

export interface LoggerOptions {
  /** Human-readable lines instead of JSON (default: $ORBIT_LOG_FORMAT, else whether stderr is a terminal). */
  pretty?: boolean;
  /** Colours in pretty lines (default: whether stderr is a terminal). */
  colorize?: boolean;
  /** Where lines go (default: stderr). */
  destination?: NodeJS.WritableStream | DestinationStream;
}

/** Whether logs should be pretty: $ORBIT_LOG_FORMAT (`json` or `pretty`) decides, then whether stderr is a terminal. */
export function wantsPrettyLogs(env: NodeJS.ProcessEnv = process.env, isTTY = process.stderr.isTTY === true): boolean {
  const format = env['ORBIT_LOG_FORMAT']?.toLowerCase();
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return isTTY;
}

/** The pretty line's head: `component agent=… framework=… task=…: message`. */
export function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const ids = ID_FIELDS.filter(([key]) => log[key] !== undefined && log[key] !== '').map(([key, label]) => `${label}=${String(log[key])}`);
  const head = [log['component'], ...ids].filter((x) => x !== undefined && x !== '').join(' ');
  const msg = log[messageKey];
  return `${head}${msg !== undefined && msg !== '' ? `${head ? ': ' : ''}${String(msg)}` : ''}`;
}

/** A logger for one component (`master`, `agent`, `sdk`): JSON lines, or pretty ones on a terminal. */
export function createLogger(component: string, level: LogLevel = 'info', options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? wantsPrettyLogs();
  if (!pretty) return pino({ level, base: { component } }, (options.destination as DestinationStream | undefined) ?? pino.destination(2));
  const stream = PinoPretty({
    destination: options.destination ?? 2,
    sync: true,
    colorize: options.colorize ?? process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    singleLine: true,
    ignore: ['pid', 'hostname', 'component', ...ID_FIELDS.map(([key]) => key)].join(','),
    messageFormat: prettyMessage,
  });
  return pino({ level, base: { component } }, stream);
}

/** A child logger whose every line carries these ids; undefined or empty ones are left out. */
export function withIds(log: Logger, ids: { agentId?: string | undefined; frameworkId?: string | undefined; taskId?: string | undefined }): Logger {
  const bindings: Record<string, string> = {};
  for (const [key] of ID_FIELDS) {
    const value = ids[key as keyof typeof ids];
    if (value) bindings[key] = value;
  }
  return log.child(bindings);
}

/** A logger that drops everything; the default inside libraries and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
