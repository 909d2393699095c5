import t from 'tap';
import { Outbox } from '../../src/common/outbox.js';

const turn = () => new Promise<void>((r) => setImmediate(r));

t.test('what is pushed in one turn is written once, together, in order', async (t) => {
  const writes: number[][] = [];
  const outbox = new Outbox<number>((items) => writes.push(items));
  outbox.push(1);
  outbox.push(2);
  outbox.push(3);
  t.same(writes, [], 'nothing is written within the turn');
  await turn();
  t.same(writes, [[1, 2, 3]]);
  outbox.push(4);
  await turn();
  t.same(writes, [[1, 2, 3], [4]], 'a lone item goes alone, a turn later');
});

t.test('flush writes at once; clear drops; an empty outbox writes nothing', async (t) => {
  const writes: string[][] = [];
  const outbox = new Outbox<string>((items) => writes.push(items));
  outbox.push('a');
  outbox.flush();
  t.same(writes, [['a']]);
  outbox.push('b');
  outbox.clear();
  await turn();
  outbox.flush();
  t.same(writes, [['a']], 'nothing after a clear, and no empty write');
});

t.test('forStream writes a lone message as it is and several as one batch', async (t) => {
  type Message = string | { batch: string[] };
  const written: Message[] = [];
  const outbox = Outbox.forStream<Message>((m) => written.push(m), (messages) => ({ batch: messages as string[] }));
  outbox.push('alone');
  await turn();
  outbox.push('a');
  outbox.push('b');
  await turn();
  t.same(written, ['alone', { batch: ['a', 'b'] }]);
});

t.test('a turn holding more than maxItems is written in several writes, each at most maxItems, in order', async (t) => {
  const writes: number[][] = [];
  const outbox = new Outbox<number>((items) => writes.push(items), 3);
  for (let i = 1; i <= 7; i++) outbox.push(i);
  await turn();
  t.same(writes, [[1, 2, 3], [4, 5, 6], [7]]);
});
