/**
 * A small framework built only on the public SDK: it launches N short tasks across the offers it
 * gets, prints one line per state change, and tears itself down when every task has ended.
 *
 *   node dist/examples/demo-framework.js --master 127.0.0.1:5050 [--tasks 5] [--image busybox]
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  buildTask,
  isTerminal,
  SchedulerClient,
  subtract,
  takeResources,
  type Offer,
  type Resources,
  type TaskSpec,
} from '../src/framework-sdk/index.js';

/** What runDemoFramework needs. */
export interface DemoOptions {
  /** The master's gRPC address, `host:port`. */
  master: string;
  /** How many tasks; default 5. */
  tasks?: number;
  /** Run each task in a container from this image; otherwise as a process. */
  image?: string;
  /** Resources per task; default `cpus:0.1;mem:32`. */
  resources?: string;
  /** Give up (and tear down) after this long; default 2 minutes. */
  timeoutMs?: number;
  /** Where the lines go; default stdout. */
  print?: (line: string) => void;
}

/** How the tasks ended. */
export interface DemoResult {
  finished: number;
  failed: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Runs the demo to the end: resolves when every task ended, rejects on timeout or a lost subscription. */
export async function runDemoFramework(options: DemoOptions): Promise<DemoResult> {
  const total = options.tasks ?? 5;
  const request = options.resources ?? 'cpus:0.1;mem:32';
  const print = options.print ?? ((line: string) => console.log(line));
  const client = new SchedulerClient({ master: options.master, framework: { name: 'orbit-demo', failoverTimeoutMs: 0 } });
  const result: DemoResult = { finished: 0, failed: 0 };
  let pending = total; // tasks not launched yet
  let launched = 0;
  const runId = Date.now().toString(36);

  const newTask = (offer: Offer, resources: Resources): TaskSpec => {
    const taskId = `demo-${runId}-${++launched}`;
    return buildTask({
      taskId,
      offer,
      resources,
      command: 'echo hello from $ORBIT_TASK_ID; sleep 2',
      ...(options.image ? { image: options.image } : { process: true }),
    });
  };

  const done = new Promise<DemoResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not finish within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const settle = (): void => {
      if (result.finished + result.failed < total) return;
      clearTimeout(timer);
      resolve(result);
    };

    client.on('subscribed', (info) => {
      print(`subscribed as ${info.frameworkId}; launching ${total} task(s)`);
      if (total === 0) settle();
    });
    client.on('offers', (offers) => {
      // Spread the batch over the agents offered rather than filling the first one.
      const perOffer = Math.ceil(pending / Math.max(1, offers.length));
      for (const offer of offers) {
        const tasks: TaskSpec[] = [];
        let left: Resources = offer.resources;
        for (let r = takeResources(left, request, offer.role); pending > 0 && tasks.length < perOffer && r; r = takeResources(left, request, offer.role)) {
          tasks.push(newTask(offer, r));
          left = subtract(left, r);
          pending--;
        }
        if (tasks.length === 0) {
          client.decline([offer.id], { refuseSeconds: pending > 0 ? 1 : 60 }).catch(() => undefined);
          continue;
        }
        for (const t of tasks) print(`launching ${t.taskId} on ${offer.agentId} (${offer.hostname})`);
        client.launch(offer, tasks).catch((err: unknown) => reject(err instanceof Error ? err : new Error(String(err))));
      }
      if (pending === 0) client.suppress().catch(() => undefined);
    });
    client.on('update', (s) => {
      print(`${s.taskId} ${s.state}${s.message ? `: ${s.message}` : ''}`);
      if (!isTerminal(s.state)) return;
      if (s.state === 'DROPPED' && s.reason === 'INVALID_OFFER') {
        pending++; // the offer was gone: launch it again elsewhere
        client.revive().catch(() => undefined);
        return;
      }
      if (s.state === 'FINISHED') result.finished++;
      else result.failed++;
      settle();
    });
    client.on('error', reject);
    client.start().catch(reject);
  });

  try {
    return await done;
  } finally {
    await client.teardown().catch(() => client.close());
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { master: { type: 'string', default: '127.0.0.1:5050' }, tasks: { type: 'string', default: '5' }, image: { type: 'string' } },
  });
  const tasks = Number(values.tasks);
  if (!Number.isInteger(tasks) || tasks < 0) throw new Error(`--tasks: expected a non-negative integer, got '${values.tasks}'`);
  const result = await runDemoFramework({ master: values.master ?? '127.0.0.1:5050', tasks, ...(values.image ? { image: values.image } : {}) });
  console.log(`done: ${result.finished} finished, ${result.failed} failed`);
  process.exitCode = result.failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`demo-framework: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
