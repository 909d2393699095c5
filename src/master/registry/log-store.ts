/**
 * The embedded RegistryStore: an append-only, fsync'd log file `registry.log` in the master's work
 * dir. The whole registry is also kept in memory (as JSON text), so `load()` is a copy and
 * compaction can write a snapshot without reading the file.
 *
 * File format: a sequence of records, each
 *   [u32 BE payload length][u32 BE CRC32 of payload][u32 BE CRC32 of the 8 bytes before][payload]
 * where the payload is UTF-8 JSON, either
 *   {"kind":"batch","ops":[RegistryOp, ...]}       one or more write() batches, applied in order
 *   {"kind":"snapshot","entries":[[key, value], ...]}  the whole map; replaces what came before
 * The header checksum makes the length trustworthy, so a damaged length in the middle of the file is
 * reported as corruption instead of being mistaken for a torn tail (which would drop good records).
 */
import { constants } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from '../../common/errors.js';
import { takeNextEpoch } from './epoch-file.js';
import { frameRecord, replay } from './log-format.js';
import { RegistryClosedError, type RegistryOp, type RegistryStore } from './registry-store.js';

export { crc32, crc32Table, frameRecord, RECORD_HEADER_BYTES } from './log-format.js';

/** Name of the log file inside the store's dir. */
export const REGISTRY_LOG_FILE = 'registry.log';
/** Compaction writes the snapshot here, then renames it over the log. */
export const REGISTRY_TMP_FILE = 'registry.log.tmp';
/** Default for `compactAfterRecords`. */
export const DEFAULT_COMPACT_AFTER_RECORDS = 1000;
export interface LogRegistryStoreOptions {
  /** Directory holding the log; created if missing. */
  dir: string;
  /** Appended records after which the log is rewritten as one snapshot (default 1000). */
  compactAfterRecords?: number;
  /** Told about recoveries: a dropped torn tail, a removed leftover temp file, a failed compaction. */
  log?: (msg: string) => void;
  /** Where the epoch is counted (default: `epoch` beside the log's directory, the master's work dir). */
  epochFile?: string;
}

export { RegistryClosedError } from './registry-store.js';

/** A write's ops, already encoded: JSON text for the record and per-op JSON values for the map. */
interface EncodedBatch {
  json: string[];
  ops: { key: string; valueJson?: string }[];
}

interface PendingWrite {
  batch: EncodedBatch;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The embedded registry store: see the file comment for the format. Open with `LogRegistryStore.open`. */
export class LogRegistryStore implements RegistryStore {
  private pending: PendingWrite[] = [];
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private failure: unknown;
  private compactionDue: number;

  private constructor(
    private readonly dir: string,
    private readonly path: string,
    private fh: FileHandle,
    private size: number,
    private records: number,
    private readonly entries: Map<string, string>,
    private readonly compactAfterRecords: number,
    private readonly log: (msg: string) => void,
    private readonly epochFile: string,
  ) {
    this.compactionDue = compactAfterRecords;
  }

  /**
   * Opens (creating if needed) the log in `options.dir` and recovers it: removes a leftover
   * `registry.log.tmp`, replays every record, and truncates a torn last record away (logged).
   * Throws RegistryCorruptError, naming the file and byte offset, for a bad record followed by data.
   */
  static async open(options: LogRegistryStoreOptions): Promise<LogRegistryStore> {
    const compactAfter = options.compactAfterRecords ?? DEFAULT_COMPACT_AFTER_RECORDS;
    if (!(compactAfter >= 1) || !(Number.isInteger(compactAfter) || compactAfter === Infinity)) {
      throw new InvalidArgumentError('compactAfterRecords', `must be a positive integer, not ${compactAfter}`);
    }
    const log = options.log ?? (() => {});
    const path = join(options.dir, REGISTRY_LOG_FILE);
    await mkdir(options.dir, { recursive: true });
    // A temp file is only ever a compaction that did not reach its rename: the log is authoritative.
    try {
      await unlink(join(options.dir, REGISTRY_TMP_FILE));
      log(`registry: removed ${REGISTRY_TMP_FILE} left by an interrupted compaction`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      const bytes = await fh.readFile();
      const { entries, goodBytes, records, torn } = replay(bytes, path);
      if (torn) {
        await fh.truncate(goodBytes);
        await fh.sync();
        log(`registry: dropped a torn last record in ${path} at byte ${goodBytes} ` +
          `(${torn}, ${bytes.length - goodBytes} bytes); the write it held never completed`);
      }
      await syncDir(options.dir); // makes a newly created log's directory entry durable
      return new LogRegistryStore(options.dir, path, fh, goodBytes, records, entries, compactAfter, log, options.epochFile ?? join(dirname(options.dir), 'epoch'));
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** A copy of the current state (values parsed afresh, so callers may mutate them). */
  async load(): Promise<Map<string, unknown>> {
    if (this.closing) throw new RegistryClosedError(`registry log ${this.path} is closed`);
    const out = new Map<string, unknown>();
    for (const [key, json] of this.entries) out.set(key, JSON.parse(json));
    return out;
  }

  /**
   * Appends the batch as part of one record and resolves after fdatasync. Concurrent calls are
   * queued and never interleave; writes waiting together share one record and one fsync (group
   * commit), applied in call order. Rejects at once for a value JSON cannot hold (undefined, a
   * function, a BigInt) and with RegistryClosedError after close() or a failed write.
   */
  write(ops: readonly RegistryOp[]): Promise<void> {
    if (this.closing) return Promise.reject(new RegistryClosedError(`registry log ${this.path} is closed`));
    if (this.failure !== undefined) return Promise.reject(this.failedError());
    let batch: EncodedBatch;
    try {
      batch = encodeBatch(ops);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.drained = this.drain();
      }
    });
  }

  /** The next epoch, counted in `epochFile`. */
  async takeEpoch(): Promise<number> {
    return takeNextEpoch(this.epochFile);
  }

  /** Waits for queued writes to become durable, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.drained;
      await this.fh.close();
    })();
    return this.closing;
  }

  /*
   * The single writer. Everything queued while a record is being written goes into the next record,
   * so under load the number of fsyncs stays near one per disk round trip. The in-memory map changes
   * only after the fsync, so a snapshot never holds a write that was not yet durable. Any I/O error
   * stops the store for good: after a failed fsync the page cache and the disk may disagree, and
   * retrying could report success for lost data (Mesos aborts the master on a registry failure too).
   */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0);
        try {
          await this.append(group.map((w) => w.batch));
        } catch (err) {
          this.fail(err, group);
          return;
        }
        for (const w of group) w.resolve();
        if (this.records >= this.compactionDue) {
          await new Promise(setImmediate); // let the writers just resolved run before the snapshot blocks
          await this.compact();
        }
        if (this.failure !== undefined) return;
      }
    } finally {
      this.draining = false;
    }
  }

  private async append(batches: EncodedBatch[]): Promise<void> {
    const json = batches.flatMap((b) => b.json);
    if (json.length === 0) return;
    const record = frameRecord(Buffer.from(`{"kind":"batch","ops":[${json.join(',')}]}`));
    await writeAll(this.fh, record, this.size);
    await this.fh.datasync();
    this.size += record.length;
    this.records += 1;
    for (const batch of batches) {
      for (const op of batch.ops) {
        if (op.valueJson === undefined) this.entries.delete(op.key);
        else this.entries.set(op.key, op.valueJson);
      }
    }
  }

  /*
   * Snapshot to registry.log.tmp, fsync, rename over registry.log, fsync the directory. A crash
   * before the rename leaves the old log (the temp file is removed at open); after it, the new one.
   * Failing before the rename is harmless: keep appending to the old log and retry later. Failing
   * after it is not: the rename may not be durable, so later appends to the new file could vanish.
   */
  private async compact(): Promise<void> {
    const tmpPath = join(this.dir, REGISTRY_TMP_FILE);
    const parts: string[] = [];
    for (const [key, json] of this.entries) parts.push(`[${JSON.stringify(key)},${json}]`);
    const record = frameRecord(Buffer.from(`{"kind":"snapshot","entries":[${parts.join(',')}]}`));
    let tmp: FileHandle | undefined;
    try {
      tmp = await open(tmpPath, 'w', 0o644);
      await writeAll(tmp, record, 0);
      await tmp.sync();
      await rename(tmpPath, this.path);
    } catch (err) {
      await tmp?.close().catch(() => {});
      await unlink(tmpPath).catch(() => {});
      this.compactionDue = this.records + this.compactAfterRecords;
      this.log(`registry: compaction of ${this.path} failed, still appending to it: ${String(err)}`);
      return;
    }
    const old = this.fh;
    this.fh = tmp;
    this.size = record.length;
    this.records = 0;
    this.compactionDue = this.compactAfterRecords;
    await old.close().catch(() => {});
    try {
      await syncDir(this.dir);
    } catch (err) {
      this.fail(err, []);
    }
  }

  private fail(err: unknown, group: PendingWrite[]): void {
    this.failure = err;
    this.log(`registry: write to ${this.path} failed; the store accepts no more writes: ${String(err)}`);
    for (const w of [...group, ...this.pending.splice(0)]) w.reject(this.failedError());
  }

  private failedError(): RegistryClosedError {
    return new RegistryClosedError(
      `registry log ${this.path} stopped after a failed write (${String(this.failure)}); restart the master`,
      { cause: this.failure },
    );
  }
}

function encodeBatch(ops: readonly RegistryOp[]): EncodedBatch {
  const batch: EncodedBatch = { json: [], ops: [] };
  for (const [i, op] of ops.entries()) {
    if (typeof op.key !== 'string' || op.key === '') throw new TypeError(`ops[${i}].key must be a non-empty string`);
    const key = JSON.stringify(op.key);
    if (op.op === 'delete') {
      batch.json.push(`{"op":"delete","key":${key}}`);
      batch.ops.push({ key: op.key });
    } else if (op.op === 'put') {
      const valueJson = JSON.stringify(op.value) as string | undefined;
      if (valueJson === undefined) throw new TypeError(`ops[${i}].value (key '${op.key}') cannot be stored as JSON`);
      batch.json.push(`{"op":"put","key":${key},"value":${valueJson}}`);
      batch.ops.push({ key: op.key, valueJson });
    } else {
      throw new TypeError(`ops[${i}].op must be 'put' or 'delete'`);
    }
  }
  return batch;
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
