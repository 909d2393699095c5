import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import { InvalidArgumentError } from '../../src/common/errors.js';
import {
  crc32, crc32Table, frameRecord, LogRegistryStore, RECORD_HEADER_BYTES, RegistryClosedError,
  type LogRegistryStoreOptions,
} from '../../src/master/registry/log-store.js';
import { RegistryCorruptError, type RegistryOp } from '../../src/master/registry/registry-store.js';

const put = (key: string, value: unknown): RegistryOp => ({ op: 'put', key, value });
const del = (key: string): RegistryOp => ({ op: 'delete', key });
const logFile = (dir: string): string => join(dir, 'registry.log');
const size = (file: string): number => statSync(file).size;
const open = (dir: string, more: Omit<LogRegistryStoreOptions, 'dir'> = {}): Promise<LogRegistryStore> =>
  LogRegistryStore.open({ dir, ...more });

/** Opens, loads and closes: the state a restarted master would see, as a plain object. */
async function reload(dir: string, more: Omit<LogRegistryStoreOptions, 'dir'> = {}): Promise<Record<string, unknown>> {
  const store = await open(dir, more);
  const state = Object.fromEntries(await store.load());
  await store.close();
  return state;
}

interface Decoded {
  offset: number;
  end: number;
  payload: { kind: string; ops?: RegistryOp[]; entries?: [string, unknown][] };
}

/** Splits a (well-formed) log file into its records. */
function decode(file: string): Decoded[] {
  const bytes = readFileSync(file);
  const out: Decoded[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const end = offset + RECORD_HEADER_BYTES + bytes.readUInt32BE(offset);
    out.push({ offset, end, payload: JSON.parse(bytes.subarray(offset + RECORD_HEADER_BYTES, end).toString()) });
    offset = end;
  }
  return out;
}

function flipByte(file: string, at: number): void {
  const bytes = readFileSync(file);
  bytes[at] = bytes[at]! ^ 0x20;
  writeFileSync(file, bytes);
}

/** A log with three records: {a:1}, then {b:2} with a deleted, then the batch {c:3, a:4}. */
async function threeRecords(dir: string): Promise<Decoded[]> {
  const store = await open(dir);
  await store.write([put('a', 1)]);
  await store.write([put('b', 2), del('a')]);
  await store.write([put('c', 3), put('a', 4)]);
  await store.close();
  return decode(logFile(dir));
}

t.test('both CRC-32s give the IEEE check value, and agree with zlib on any bytes', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  t.equal(crc32Table(Buffer.from('123456789')), 0xcbf43926);
  const z = (zlib as { crc32?: (b: Uint8Array) => number }).crc32;
  if (!z) return;
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => crc32Table(bytes) === z(bytes)));
});

t.test('round trip', async (t) => {
  t.test('writes survive close and reopen, in a directory it creates', async (t) => {
    const dir = join(t.testdir(), 'work', 'registry');
    const store = await open(dir);
    await store.write([put('agent/a1', { id: 'a1' }), put('weight/web', 2)]);
    await store.write([put('weight/web', 3)]);
    await store.close();
    t.same(await reload(dir), { 'agent/a1': { id: 'a1' }, 'weight/web': 3 });
  });

  t.test('deletes survive too, and deleting a missing key is a no-op', async (t) => {
    const dir = t.testdir();
    const store = await open(dir);
    await store.write([put('a', 1), put('b', 2)]);
    await store.write([del('a'), del('never-there')]);
    await store.close();
    t.same(await reload(dir), { b: 2 });
  });

  t.test('a batch is one record, so it survives whole or not at all', async (t) => {
    const dir = t.testdir();
    const records = await threeRecords(dir);
    t.equal(records.length, 3);
    t.same(records[2]!.payload.ops, [put('c', 3), put('a', 4)]);
    writeFileSync(logFile(dir), readFileSync(logFile(dir)).subarray(0, records[2]!.end - 1));
    t.same(await reload(dir), { b: 2 }, 'neither c nor the new a');
  });

  t.test('load returns copies the caller may change', async (t) => {
    const store = await open(t.testdir());
    await store.write([put('k', { list: [1] })]);
    ((await store.load()).get('k') as { list: number[] }).list.push(2);
    t.same((await store.load()).get('k'), { list: [1] });
    await store.close();
  });
});

t.test('write resolves only once its record is in the file', async (t) => {
  const dir = t.testdir();
  const store = await open(dir);
  for (const n of [1, 2, 3]) {
    await store.write([put(`key${n}`, n)]);
    const records = decode(logFile(dir));
    t.equal(records.length, n);
    t.same(records.at(-1)!.payload.ops, [put(`key${n}`, n)]);
  }
  await store.close();
});

t.test('100 concurrent writes all land, in call order', async (t) => {
  const dir = t.testdir();
  const store = await open(dir);
  const resolved: number[] = [];
  await Promise.all(Array.from({ length: 100 }, (_, i) =>
    store.write([put(`k${i}`, i), put('last', i)]).then(() => resolved.push(i))));
  await store.close();
  const order = Array.from({ length: 100 }, (_, i) => i);
  t.same(resolved, order, 'promises resolve in call order');
  const onDisk = decode(logFile(dir)).flatMap((r) => r.payload.ops ?? []).filter((op) => op.key !== 'last');
  t.same(onDisk.map((op) => op.key), order.map((i) => `k${i}`), 'records hold the batches in call order');
  const state = await reload(dir);
  t.equal(state.last, 99);
  t.equal(Object.keys(state).length, 101);
});

t.test('torn tail', async (t) => {
  t.test('drops a last record cut at any byte, truncates, then appends cleanly', async (t) => {
    const dir = t.testdir();
    const records = await threeRecords(dir);
    const full = readFileSync(logFile(dir));
    const last = records[2]!;
    for (let keep = last.offset; keep < last.end; keep++) {
      writeFileSync(logFile(dir), full.subarray(0, keep));
      const logged: string[] = [];
      const store = await open(dir, { log: (m) => logged.push(m) });
      t.same(Object.fromEntries(await store.load()), { b: 2 }, `cut at ${keep}`);
      t.equal(size(logFile(dir)), last.offset, `truncated back to the good prefix (cut at ${keep})`);
      t.equal(logged.length, keep > last.offset ? 1 : 0, `logged the drop (cut at ${keep})`);
      await store.write([put('d', 5)]);
      await store.close();
      t.same(await reload(dir), { b: 2, d: 5 }, `appends after the truncation (cut at ${keep})`);
    }
  });

  t.test('drops the last record when any payload byte is flipped (bad CRC)', async (t) => {
    const dir = t.testdir();
    const records = await threeRecords(dir);
    const full = readFileSync(logFile(dir));
    const last = records[2]!;
    for (let at = last.offset + RECORD_HEADER_BYTES; at < last.end; at++) {
      writeFileSync(logFile(dir), full);
      flipByte(logFile(dir), at);
      t.same(await reload(dir), { b: 2 }, `flipped byte ${at}`);
      t.equal(size(logFile(dir)), last.offset);
    }
  });

  t.test('drops a tail of zeros, as left by a crash after the size but not the data reached disk', async (t) => {
    const dir = t.testdir();
    const records = await threeRecords(dir);
    appendFileSync(logFile(dir), Buffer.alloc(100));
    t.same(await reload(dir), { b: 2, c: 3, a: 4 });
    t.equal(size(logFile(dir)), records[2]!.end);
    const bytes = readFileSync(logFile(dir));
    bytes.fill(0, records[2]!.offset + RECORD_HEADER_BYTES);
    writeFileSync(logFile(dir), bytes);
    t.same(await reload(dir), { b: 2 }, 'a zeroed payload fails its CRC');
  });
});

t.test('corruption', async (t) => {
  t.test('a flipped byte anywhere in an earlier record is an error naming the file and offset', async (t) => {
    const dir = t.testdir();
    const records = await threeRecords(dir);
    const full = readFileSync(logFile(dir));
    const middle = records[1]!;
    for (let at = middle.offset; at < middle.end; at++) {
      writeFileSync(logFile(dir), full);
      flipByte(logFile(dir), at);
      const err = await open(dir).then(() => undefined, (e: unknown) => e);
      t.type(err, RegistryCorruptError, `flipped byte ${at}`);
      t.equal((err as RegistryCorruptError).where, `${logFile(dir)}@${middle.offset}`);
      t.match((err as Error).message, `at byte ${middle.offset}`);
      t.equal(size(logFile(dir)), full.length, 'the file is left alone');
    }
  });

  t.test('a damaged length in the last record is corruption: a torn write cannot make one', async (t) => {
    const dir = t.testdir();
    const records = await threeRecords(dir);
    flipByte(logFile(dir), records[2]!.offset + 3);
    await t.rejects(open(dir), { name: 'RegistryCorruptError', where: `${logFile(dir)}@${records[2]!.offset}` });
  });

  t.test('a record with a good CRC that is not a registry record is never skipped', async (t) => {
    for (const payload of ['not json', '[1,2]', '{"kind":"other"}', '{"kind":"batch","ops":[{"op":"put","key":"k"}]}']) {
      const dir = t.testdir();
      await threeRecords(dir);
      const at = size(logFile(dir));
      appendFileSync(logFile(dir), frameRecord(Buffer.from(payload)));
      await t.rejects(open(dir), { name: 'RegistryCorruptError', where: `${logFile(dir)}@${at}` }, payload);
    }
  });
});

t.test('compaction', async (t) => {
  t.test('after N records the log becomes one snapshot with the same state, and shrinks', async (t) => {
    const dir = t.testdir();
    const store = await open(dir, { compactAfterRecords: 10 });
    for (let i = 0; i < 9; i++) await store.write([put(`k${i % 3}`, { i, pad: 'x'.repeat(50) })]);
    const before = size(logFile(dir));
    await store.write([del('k0')]);
    await store.close();
    const records = decode(logFile(dir));
    t.equal(records.length, 1);
    t.equal(records[0]!.payload.kind, 'snapshot');
    t.ok(size(logFile(dir)) < before, `${size(logFile(dir))} < ${before} bytes`);
    const expected = { k1: { i: 7, pad: 'x'.repeat(50) }, k2: { i: 8, pad: 'x'.repeat(50) } };
    t.same(await reload(dir), expected);
    const again = await open(dir, { compactAfterRecords: 10 });
    await again.write([put('k3', 3)]);
    await again.close();
    t.same(decode(logFile(dir)).map((r) => r.payload.kind), ['snapshot', 'batch'], 'appends after the snapshot');
    t.same(await reload(dir), { ...expected, k3: 3 });
  });

  t.test('counts the records already in the file when reopened', async (t) => {
    const dir = t.testdir();
    for (let i = 0; i < 2; i++) {
      const store = await open(dir, { compactAfterRecords: 6 });
      for (let j = 0; j < 3; j++) await store.write([put(`k${i}${j}`, j)]);
      await store.close();
    }
    t.same(decode(logFile(dir)).map((r) => r.payload.kind), ['snapshot']);
  });

  t.test('a leftover registry.log.tmp (a crash before the rename) is ignored and removed', async (t) => {
    for (const tmp of [Buffer.from('half a snapsh'), frameRecord(Buffer.from('{"kind":"snapshot","entries":[["ghost",1]]}'))]) {
      const dir = t.testdir();
      await threeRecords(dir);
      writeFileSync(join(dir, 'registry.log.tmp'), tmp);
      const logged: string[] = [];
      t.same(await reload(dir, { log: (m) => logged.push(m) }), { b: 2, c: 3, a: 4 });
      t.notOk(existsSync(join(dir, 'registry.log.tmp')));
      t.match(logged, [/registry\.log\.tmp/]);
    }
  });

  t.test('reloads to the model state after random batches, compactions and reopens', async (t) => {
    const root = t.testdir();
    let run = 0;
    const op = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
    );
    const step = fc.record({
      batches: fc.array(fc.array(op, { maxLength: 4 }), { minLength: 1, maxLength: 3 }), // written concurrently
      reopen: fc.boolean(),
    });
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 20 }), async (every, steps) => {
      const dir = join(root, String(run++));
      const model = new Map<string, unknown>();
      let store = await open(dir, { compactAfterRecords: every });
      for (const { batches, reopen } of steps) {
        await Promise.all(batches.map((ops) => store.write(ops)));
        for (const o of batches.flat()) {
          if (o.op === 'put') model.set(o.key, JSON.parse(JSON.stringify(o.value)));
          else model.delete(o.key);
        }
        assert.deepStrictEqual(await store.load(), model);
        if (reopen) {
          await store.close();
          store = await open(dir, { compactAfterRecords: every });
        }
      }
      await store.close();
      assert.deepStrictEqual(new Map(Object.entries(await reload(dir))), model);
    }), { numRuns: 60 });
    t.pass('property held');
  });
});

t.test('close and failure', async (t) => {
  t.test('close flushes queued writes; later writes and loads reject; close is idempotent', async (t) => {
    const dir = t.testdir();
    const store = await open(dir);
    const pending = [store.write([put('a', 1)]), store.write([put('b', 2)])];
    await store.close();
    await Promise.all(pending);
    await store.close();
    await t.rejects(store.write([put('c', 3)]), RegistryClosedError);
    await t.rejects(store.load(), RegistryClosedError);
    t.same(await reload(dir), { a: 1, b: 2 });
  });

  t.test('a value JSON cannot hold is refused at once, and the queue carries on', async (t) => {
    const store = await open(t.testdir());
    await t.rejects(store.write([put('a', 1), put('u', undefined)]), TypeError);
    await t.rejects(store.write([put('n', 10n)]), TypeError);
    await store.write([put('b', 2)]);
    t.same(Object.fromEntries(await store.load()), { b: 2 });
    await store.close();
  });

  t.test('after a failed write every later write rejects, carrying the cause', async (t) => {
    const dir = t.testdir();
    const store = await open(dir);
    await store.write([put('a', 1)]);
    // White box: pull the file out from under the writer, as a dying disk would.
    await (store as unknown as { fh: FileHandle }).fh.close();
    const failed = await store.write([put('b', 2)]).then(() => undefined, (e: unknown) => e);
    t.type(failed, RegistryClosedError);
    t.ok((failed as Error).cause, 'names the I/O error');
    await t.rejects(store.write([put('c', 3)]), RegistryClosedError);
    await store.close().catch(() => {});
    t.same(await reload(dir), { a: 1 });
  });

  t.test('refuses a compaction threshold that is not a positive integer', async (t) => {
    for (const n of [0, -1, 1.5, Number.NaN]) {
      await t.rejects(open(t.testdir(), { compactAfterRecords: n }), InvalidArgumentError, String(n));
    }
  });
});
