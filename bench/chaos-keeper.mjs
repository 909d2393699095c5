// The chaos run's framework: keeps N tasks running, as a service scheduler would. It keeps its
// framework id in a state file, so after a kill -9 it re-subscribes under the same id and
// reconciles. One JSON line per event on stdout. Built only on the public SDK (dist/).
//   --master HOST:PORT --state FILE --tasks N
// SIGUSR1 kills one of its running tasks, so that it launches another (the chaos run then kills
// the agent that launch goes to, within milliseconds).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SchedulerClient, buildTask, isTerminal } from '../dist/src/framework-sdk/index.js';

const { values } = parseArgs({ options: { master: { type: 'string' }, state: { type: 'string' }, tasks: { type: 'string', default: '6' } } });
const want = Number(values.tasks);
const saved = existsSync(values.state) ? JSON.parse(readFileSync(values.state, 'utf8')) : {};
const say = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, t: Date.now(), ...fields })}\n`);
const save = (id) => {
  writeFileSync(`${values.state}.tmp`, JSON.stringify({ id }));
  renameSync(`${values.state}.tmp`, values.state);
};
/** taskId → latest state, as this process has heard. */
const tasks = new Map();
const live = () => [...tasks.values()].filter((s) => !isTerminal(s)).length;

const client = new SchedulerClient({
  master: values.master,
  framework: { name: 'chaos-keeper', failoverTimeoutMs: 10 * 60_000, ...(saved.id ? { id: saved.id } : {}) },
  reconnectBaseMs: 100,
  reconnectMaxMs: 1_000,
});
let reconciled = !saved.id;
client.on('subscribed', async (info) => {
  save(info.frameworkId);
  say('subscribed', { frameworkId: info.frameworkId, resubscribed: info.resubscribed });
  // After a restart this process knows nothing: ask the master what runs.
  await client.reconcile().catch(() => undefined);
  setTimeout(() => {
    reconciled = true;
    client.revive().catch(() => undefined);
  }, 1_500);
});
client.on('update', (s) => {
  tasks.set(s.taskId, s.state);
  say('update', { taskId: s.taskId, state: s.state, reason: s.reason, uuid: s.uuid ?? null, source: s.source });
  if (isTerminal(s.state) && live() < want) client.revive().catch(() => undefined);
});
client.on('offers', async (offers) => {
  for (const offer of offers) {
    const launch = [];
    while (reconciled && live() + launch.length < want && launch.length < 2) {
      launch.push(buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 600', process: true, killGraceMs: 500 }));
    }
    if (launch.length === 0) {
      await client.decline([offer.id], { refuseSeconds: 2 }).catch(() => undefined);
      continue;
    }
    for (const t of launch) {
      tasks.set(t.taskId, 'STAGING');
      say('launched', { taskId: t.taskId, agentId: offer.agentId, hostname: offer.hostname });
    }
    await client.launch(offer, launch, { refuseSeconds: 0 }).catch(() => undefined);
  }
});
process.on('SIGUSR1', () => {
  const running = [...tasks].filter(([, state]) => state === 'RUNNING').map(([id]) => id);
  const victim = running[Math.floor(Math.random() * running.length)];
  if (!victim) return;
  say('killing', { taskId: victim });
  client.kill(victim).catch(() => undefined);
});
setInterval(() => say('running', { count: [...tasks.values()].filter((s) => s === 'RUNNING').length }), 250);
await client.start();
