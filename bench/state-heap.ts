/**
 * Compares two V8 heap snapshots (bench/state-gc.ts writes them when ORBIT_BENCH_HEAP_DIR is set)
 * and says what the second holds more of, per unit (say, per task):
 *
 *   node dist/bench/state-heap.js BEFORE.heapsnapshot AFTER.heapsnapshot --per 10000 [--top 20]
 *
 * Prints self size and count by kind (objects by constructor, arrays, strings, closures, ...),
 * then the string values that occur most often in AFTER: many copies of one value are candidates
 * for sharing one copy.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Tally {
  bySort: Map<string, { count: number; bytes: number }>;
  stringCopies: Map<string, { count: number; bytes: number }>;
}

function tally(path: string): Tally {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const bySort = new Map<string, { count: number; bytes: number }>();
  const stringCopies = new Map<string, { count: number; bytes: number }>();
  const bump = (map: typeof bySort, key: string, bytes: number) => {
    const e = map.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += bytes;
    map.set(key, e);
  };
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const name = snap.strings[snap.nodes[i + nameAt]!]!;
    const bytes = snap.nodes[i + sizeAt]!;
    const sort = type === 'object' || type === 'closure' ? `${type} ${name}` : type;
    bump(bySort, sort, bytes);
    if (type === 'string') bump(stringCopies, name.length > 60 ? `${name.slice(0, 57)}...` : name, bytes);
  }
  return { bySort, stringCopies };
}

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const per = flag('--per', 1);
const top = flag('--top', 20);
const [beforePath, afterPath] = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
if (!beforePath || !afterPath) throw new Error('usage: state-heap.js BEFORE.heapsnapshot AFTER.heapsnapshot [--per N] [--top N]');
const before = tally(beforePath);
const after = tally(afterPath);
const rows = [...after.bySort].map(([sort, a]) => {
  const b = before.bySort.get(sort) ?? { count: 0, bytes: 0 };
  return { sort, count: (a.count - b.count) / per, bytes: (a.bytes - b.bytes) / per };
});
rows.sort((x, y) => y.bytes - x.bytes);
const total = rows.reduce((s, r) => s + r.bytes, 0);
console.log(`heap added per unit (÷${per}): ${total.toFixed(0)} bytes`);
for (const r of rows.slice(0, top)) console.log(`  ${r.bytes.toFixed(0).padStart(7)} B  ${r.count.toFixed(2).padStart(7)} ×  ${r.sort}`);
const copies = [...after.stringCopies].map(([value, a]) => ({ value, count: a.count - (before.stringCopies.get(value)?.count ?? 0), bytes: a.bytes - (before.stringCopies.get(value)?.bytes ?? 0) }));
copies.sort((x, y) => y.count - x.count);
console.log(`strings with the most new copies (per unit):`);
for (const c of copies.slice(0, top)) console.log(`  ${(c.count / per).toFixed(2).padStart(7)} ×  ${(c.bytes / per).toFixed(0).padStart(5)} B  ${JSON.stringify(c.value)}`);
