/**
 * A job: a DAG of tasks (image or command, resources, dependencies, retries with backoff, a
 * timeout), a concurrency limit, and an optional cron schedule. `parseJobSpec` fills in the
 * defaults or names every field that is wrong, including unknown dependencies and cycles.
 */
import { KILL_GRACE_MS, nameProblem } from '../../framework-sdk/index.js';
import { FieldReader, type SpecProblem, type SpecResult } from '../common/spec-reader.js';
import { CronParseError, nextFire, parseCron } from './cron.js';

/** One task of a job, defaults filled in. */
export interface JobTaskSpec {
  id: string;
  image?: string;
  command?: string;
  resources: { cpus: number; mem: number; disk: number; gpus: number };
  env: Record<string, string>;
  /** Tasks that must succeed before this one starts. */
  dependsOn: string[];
  /** Further attempts after a failed one (0: none). */
  retries: number;
  /** Before retry n: backoffSeconds × backoffFactor^(n-1), capped at maxBackoffSeconds. */
  backoffSeconds: number;
  backoffFactor: number;
  maxBackoffSeconds: number;
  /** An attempt running longer than this is killed and counts as failed. */
  timeoutSeconds?: number;
  killGraceSeconds: number;
}

/** A validated job. */
export interface JobSpec {
  id: string;
  /** Cron (5 fields or a shorthand); without it, a submit runs the job once, now. */
  schedule?: string;
  /** At most this many tasks of one run at once (0: no limit). */
  concurrency: number;
  env: Record<string, string>;
  tasks: JobTaskSpec[];
}

export const JOB_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const JOB_TASK_ID_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9_-]{0,62})$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const JOB_FIELDS = ['id', 'schedule', 'concurrency', 'env', 'tasks'] as const;
const TASK_FIELDS = ['id', 'image', 'command', 'resources', 'env', 'dependsOn', 'retries', 'backoffSeconds', 'backoffFactor', 'maxBackoffSeconds', 'timeoutSeconds', 'killGraceSeconds'] as const;
const RESOURCE_FIELDS = ['cpus', 'mem', 'disk', 'gpus'] as const;

export const TASK_DEFAULTS = {
  resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 },
  retries: 0,
  backoffSeconds: 1,
  backoffFactor: 2,
  maxBackoffSeconds: 60,
  killGraceSeconds: 3,
} as const;

/** The delay before attempt `attempt` (2 = the first retry) of a task. */
export function retryDelayMs(task: JobTaskSpec, attempt: number): number {
  if (attempt <= 1) return 0;
  const s = task.backoffSeconds * task.backoffFactor ** Math.min(attempt - 2, 10_000);
  return Math.round(Math.min(s, task.maxBackoffSeconds) * 1000);
}

/** The resource request in text form for takeResources. */
export function taskRequest(task: JobTaskSpec): string {
  const r = task.resources;
  return [`cpus:${r.cpus}`, `mem:${r.mem}`, r.disk > 0 ? `disk:${r.disk}` : '', r.gpus > 0 ? `gpus:${r.gpus}` : ''].filter(Boolean).join(';');
}

/** A dependency cycle as task ids (first = last), or undefined when the graph is acyclic. */
export function findCycle(tasks: readonly { id: string; dependsOn: readonly string[] }[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.id, t.dependsOn]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of deps.get(id) ?? []) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const t of tasks) {
    const cycle = visit(t.id);
    if (cycle) return cycle;
  }
  return undefined;
}

function readResources(r: FieldReader): JobTaskSpec['resources'] {
  const out: JobTaskSpec['resources'] = { ...TASK_DEFAULTS.resources };
  const res = r.object('resources');
  if (!res) return out;
  res.onlyKnown(RESOURCE_FIELDS);
  for (const key of RESOURCE_FIELDS) out[key] = res.number(key, { min: 0 }) ?? out[key];
  if (!(out.cpus > 0)) res.fail('cpus', 'must be > 0');
  if (!(out.mem > 0)) res.fail('mem', 'must be > 0');
  return out;
}

function readTask(r: FieldReader): JobTaskSpec | undefined {
  r.onlyKnown(TASK_FIELDS);
  const id = r.string('id', { required: true, pattern: JOB_TASK_ID_PATTERN, patternText: 'a task id (letters, digits, _ and -, at most 63)' });
  const imageText = r.string('image', { nonEmpty: true });
  const imageProblem = imageText === undefined ? undefined : nameProblem('image', imageText);
  const image = imageProblem === undefined ? imageText : r.fail('image', imageProblem);
  const command = r.string('command', { nonEmpty: true });
  if (!r.has('image') && !r.has('command')) r.fail('command', 'is required when there is no image');
  const task: JobTaskSpec = {
    id: id ?? '',
    resources: readResources(r),
    env: r.stringMap('env', ENV_NAME, 'an environment variable name') ?? {},
    dependsOn: r.stringArray('dependsOn') ?? [],
    retries: r.number('retries', { min: 0, max: 100, integer: true }) ?? TASK_DEFAULTS.retries,
    backoffSeconds: r.number('backoffSeconds', { min: 0 }) ?? TASK_DEFAULTS.backoffSeconds,
    backoffFactor: r.number('backoffFactor', { min: 1 }) ?? TASK_DEFAULTS.backoffFactor,
    maxBackoffSeconds: r.number('maxBackoffSeconds', { min: 0 }) ?? TASK_DEFAULTS.maxBackoffSeconds,
    killGraceSeconds: r.number('killGraceSeconds', { min: 0, max: KILL_GRACE_MS.max / 1000 }) ?? TASK_DEFAULTS.killGraceSeconds,
    ...(image !== undefined ? { image } : {}),
    ...(command !== undefined ? { command } : {}),
  };
  const timeout = r.number('timeoutSeconds', { above: 0 });
  if (timeout !== undefined) task.timeoutSeconds = timeout;
  if (r.has('maxBackoffSeconds') && task.maxBackoffSeconds < task.backoffSeconds) r.fail('maxBackoffSeconds', `is ${task.maxBackoffSeconds}, below backoffSeconds ${task.backoffSeconds}`);
  return id === undefined ? undefined : task;
}

/** Validates a user's job spec (parsed JSON). */
export function parseJobSpec(input: unknown): SpecResult<JobSpec> {
  const problems: SpecProblem[] = [];
  const r = FieldReader.of(input, '', problems);
  if (!r) return { ok: false, problems };
  r.onlyKnown(JOB_FIELDS);
  const id = r.string('id', { required: true, pattern: JOB_ID_PATTERN, patternText: 'a job id (lowercase letters, digits and -, at most 63, starting and ending with a letter or digit)' });
  const schedule = r.string('schedule', { nonEmpty: true });
  if (schedule !== undefined) {
    try {
      const cron = parseCron(schedule);
      if (nextFire(cron, 0) === undefined) r.fail('schedule', `'${schedule}' never fires`);
    } catch (err) {
      if (!(err instanceof CronParseError)) throw err;
      r.fail('schedule', `'${schedule}': ${err.message}`);
    }
  }
  const concurrency = r.number('concurrency', { min: 0, integer: true }) ?? 0;
  const env = r.stringMap('env', ENV_NAME, 'an environment variable name') ?? {};
  const tasks: JobTaskSpec[] = [];
  const list = r.array('tasks', { required: true });
  if (list && list.length === 0) r.fail('tasks', 'a job needs at least one task');
  (list ?? []).forEach((raw, i) => {
    const tr = FieldReader.of(raw, `tasks[${i}]`, problems);
    const task = tr && readTask(tr);
    if (task) tasks.push(task);
  });
  const seen = new Set<string>();
  tasks.forEach((task, i) => {
    if (seen.has(task.id)) problems.push({ field: `tasks[${i}].id`, message: `'${task.id}' is used by another task` });
    seen.add(task.id);
  });
  tasks.forEach((task, i) => {
    task.dependsOn.forEach((d, j) => {
      if (d === task.id) problems.push({ field: `tasks[${i}].dependsOn[${j}]`, message: `task '${task.id}' cannot depend on itself` });
      else if (!seen.has(d)) problems.push({ field: `tasks[${i}].dependsOn[${j}]`, message: `unknown task '${d}' (tasks: ${[...seen].join(', ')})` });
    });
  });
  const cycle = findCycle(tasks.map((t) => ({ id: t.id, dependsOn: t.dependsOn.filter((d) => d !== t.id && seen.has(d)) })));
  if (cycle) problems.push({ field: 'tasks', message: `the dependencies form a cycle: ${cycle.join(' → ')}` });
  if (problems.length > 0 || id === undefined) return { ok: false, problems };
  return { ok: true, spec: { id, concurrency, env, tasks, ...(schedule !== undefined ? { schedule } : {}) } };
}
