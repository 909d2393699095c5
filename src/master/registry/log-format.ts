/**
 * The embedded registry log's records, byte for byte (the format is in log-store.ts): framing a
 * payload with its checksums, and replaying a file back into entries, telling a torn tail (a
 * crash mid-append; dropped) from corruption (anything else; refused).
 */
import zlib from 'node:zlib';
import { RegistryCorruptError, type RegistryOp } from './registry-store.js';

/** Bytes before each record's payload: length, payload CRC32, header CRC32. */
export const RECORD_HEADER_BYTES = 12;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 in JavaScript (~9 ms/MB), for Node before 20.15, which lacks `zlib.crc32`. */
export function crc32Table(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE 802.3, as zlib and gzip): zlib's native one where this Node has it. */
export const crc32: (bytes: Uint8Array) => number =
  (zlib as { crc32?: (bytes: Uint8Array) => number }).crc32 ?? crc32Table;

/** Frames one payload as a record (header + payload). */
export function frameRecord(payload: Buffer): Buffer {
  const record = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  record.writeUInt32BE(payload.length, 0);
  record.writeUInt32BE(crc32(payload), 4);
  record.writeUInt32BE(crc32(record.subarray(0, 8)), 8);
  payload.copy(record, RECORD_HEADER_BYTES);
  return record;
}

export interface Replayed {
  entries: Map<string, string>;
  goodBytes: number;
  /** Records after the last snapshot: what the next compaction would fold away. */
  records: number;
  /** Why the tail was dropped, or undefined if the file ended cleanly. */
  torn: string | undefined;
}

/*
 * A torn write can only be the last thing in the file: every record before it was fsync'd before
 * the next was written. A crash mid-append leaves a prefix of the record, or (on some file systems)
 * the right length with zeros where data never landed. So a bad record is a torn tail only if it
 * reaches the end of the file or nothing but zeros follows it; anything else is corruption, and
 * guessing past it could silently drop or invent registry state.
 */
export function replay(bytes: Buffer, path: string): Replayed {
  const entries = new Map<string, string>();
  let offset = 0;
  let records = 0;
  while (offset < bytes.length) {
    const rest = bytes.length - offset;
    if (rest < RECORD_HEADER_BYTES) return { entries, goodBytes: offset, records, torn: 'short header' };
    const length = bytes.readUInt32BE(offset);
    const end = offset + RECORD_HEADER_BYTES + length;
    const headerOk = bytes.readUInt32BE(offset + 8) === crc32(bytes.subarray(offset, offset + 8));
    const corrupt = (problem: string): RegistryCorruptError => new RegistryCorruptError(
      `registry log ${path} is corrupt at byte ${offset}: ${problem}, and data follows; refusing to guess`,
      `${path}@${offset}`);
    if (!headerOk) {
      if (end === bytes.length || allZero(bytes, offset)) {
        return { entries, goodBytes: offset, records, torn: 'bad header checksum' };
      }
      throw corrupt('bad header checksum');
    }
    if (end > bytes.length) return { entries, goodBytes: offset, records, torn: 'short payload' };
    const payload = bytes.subarray(offset + RECORD_HEADER_BYTES, end);
    if (bytes.readUInt32BE(offset + 4) !== crc32(payload)) {
      if (end === bytes.length || allZero(bytes, end)) {
        return { entries, goodBytes: offset, records, torn: 'bad payload checksum' };
      }
      throw corrupt('bad payload checksum');
    }
    // The checksum matched, so this is what a writer wrote: if it does not parse, never skip it.
    const applied = applyPayload(payload, entries);
    if (applied.problem !== undefined) {
      throw new RegistryCorruptError(
        `registry log ${path} has an unreadable record at byte ${offset}: ${applied.problem}`, `${path}@${offset}`);
    }
    records = applied.kind === 'snapshot' ? 0 : records + 1;
    offset = end;
  }
  return { entries, goodBytes: offset, records, torn: undefined };
}

type Applied = { kind: 'batch' | 'snapshot'; problem?: undefined } | { kind?: undefined; problem: string };

/** Applies one checksummed payload; returns a problem instead if it is not a record this code writes. */
function applyPayload(payload: Buffer, entries: Map<string, string>): Applied {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { problem: `not JSON (${String(err)})` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { problem: 'not an object' };
  const record = parsed as { kind?: unknown; ops?: unknown; entries?: unknown };
  if (record.kind === 'snapshot' && Array.isArray(record.entries)) {
    const fresh = new Map<string, string>();
    for (const entry of record.entries as unknown[]) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
        return { problem: 'bad snapshot entry' };
      }
      fresh.set(entry[0], JSON.stringify(entry[1]));
    }
    entries.clear();
    for (const [k, v] of fresh) entries.set(k, v);
    return { kind: 'snapshot' };
  }
  if (record.kind !== 'batch' || !Array.isArray(record.ops)) {
    return { problem: `unknown record kind ${JSON.stringify(record.kind)}` };
  }
  const ops = record.ops as unknown[];
  for (const op of ops) {
    const o = op as { op?: unknown; key?: unknown; value?: unknown } | null;
    const ok = typeof o === 'object' && o !== null && typeof o.key === 'string' &&
      (o.op === 'delete' || (o.op === 'put' && 'value' in o));
    if (!ok) return { problem: 'bad op' };
  }
  for (const op of ops as RegistryOp[]) {
    if (op.op === 'put') entries.set(op.key, JSON.stringify(op.value));
    else entries.delete(op.key);
  }
  return { kind: 'batch' };
}

function allZero(bytes: Buffer, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
