/**
 * The audit log: one JSON line per mutating call (who, what, on what, and how it ended), appended
 * to `--audit-log` (default WORK_DIR/audit.log). Lines go through one append stream in call order;
 * a write error is logged once and the master keeps serving (the log is evidence, not state).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../../common/logging.js';

/** One audited call. */
export interface AuditEntry {
  /** `kind:name`, or `anonymous` under --insecure. */
  principal: string;
  action: string;
  /** What it acted on: a framework id, an agent id, a role, a token id... */
  object: string;
  result: 'allowed' | 'denied' | 'failed';
  /** The ACL rule that decided, or why it failed. */
  detail?: string;
}

export interface AuditSink {
  record(entry: AuditEntry): void;
  close(): Promise<void>;
}

/** An audit log appended to `path`. */
export function openAuditLog(path: string, log: Logger, now: () => number): AuditSink {
  const out: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  let broken = false;
  out.on('error', (err) => {
    if (broken) return;
    broken = true;
    log.error({ err, path }, 'the audit log cannot be written; mutating calls are no longer recorded');
  });
  return {
    record(entry) {
      if (broken) return;
      out.write(`${JSON.stringify({ time: new Date(now()).toISOString(), ...entry })}\n`);
    },
    close() {
      return new Promise((resolve) => out.end(() => resolve()));
    },
  };
}

/** Records nothing (tests of the core alone). */
export const NO_AUDIT: AuditSink = { record: () => undefined, close: async () => undefined };
