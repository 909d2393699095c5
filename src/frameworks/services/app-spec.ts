/**
 * A service app's spec: what to run, how many, where, how to check it and how to replace it.
 * `parseAppSpec` turns the user's JSON into an AppSpec with every default filled in, or names
 * each field that is wrong (unknown fields included); nothing half-valid gets through.
 */
import { HEALTH_CHECK_BOUNDS, KILL_GRACE_MS, nameProblem, type Bounds, type NameKind } from '../../framework-sdk/index.js';
import { FieldReader, fieldPath, type SpecProblem, type SpecResult } from '../common/spec-reader.js';
import { contradictions, parseConstraint, type Constraint } from './constraints.js';

/** A health check as the user writes it; seconds may be fractions. */
export interface AppHealthCheck {
  type: 'command' | 'http' | 'tcp';
  /** For `command`: runs under `/bin/sh -c` (in the container for Docker tasks), healthy on exit 0. */
  command?: string;
  /** For `http` and `tcp`: which of the app's ports (0 = PORT0). */
  portIndex?: number;
  /** For `http`. */
  path?: string;
  delaySeconds: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  maxConsecutiveFailures: number;
  gracePeriodSeconds: number;
}

/** Marathon's upgrade strategy, as fractions of `instances`. */
export interface UpgradeStrategy {
  /** Healthy instances kept during a rolling restart or upgrade: ceil(instances × this). */
  minimumHealthCapacity: number;
  /** Extra instances allowed during one: floor(instances × this), at least 1 when above 0. */
  maximumOverCapacity: number;
}

/** A validated app with every default filled in. */
export interface AppSpec {
  id: string;
  instances: number;
  image?: string;
  command?: string;
  resources: { cpus: number; mem: number; disk: number; gpus: number };
  /** How many host ports each instance gets (`$PORT0`...). */
  ports: number;
  env: Record<string, string>;
  labels: Record<string, string>;
  healthCheck?: AppHealthCheck;
  /** In canonical `FIELD:OPERATOR[:VALUE]` text. */
  constraints: string[];
  killGraceSeconds: number;
  /** Launch delay after a failure: backoffSeconds × backoffFactor^(failures-1), capped. */
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
  upgradeStrategy: UpgradeStrategy;
}

export const APP_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TOP_FIELDS = [
  'id', 'instances', 'image', 'command', 'resources', 'ports', 'env', 'labels', 'healthCheck', 'constraints',
  'killGraceSeconds', 'backoffSeconds', 'backoffFactor', 'maxLaunchDelaySeconds', 'upgradeStrategy',
] as const;
const HEALTH_FIELDS = ['type', 'command', 'portIndex', 'path', 'delaySeconds', 'intervalSeconds', 'timeoutSeconds', 'maxConsecutiveFailures', 'gracePeriodSeconds'] as const;
const RESOURCE_FIELDS = ['cpus', 'mem', 'disk', 'gpus'] as const;

/** Defaults: Orbit's `orbit run` resources, Mesos' health timings, Marathon's backoff and strategy. */
export const APP_DEFAULTS = {
  instances: 1,
  resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 },
  killGraceSeconds: 3,
  backoffSeconds: 1,
  backoffFactor: 1.15,
  maxLaunchDelaySeconds: 300,
  upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
  healthCheck: { delaySeconds: 15, intervalSeconds: 10, timeoutSeconds: 20, maxConsecutiveFailures: 3, gracePeriodSeconds: 0 },
} as const;

/** The instance counts a rolling restart or upgrade works within. */
export interface UpgradeBounds {
  /** Never fewer healthy instances than this while old ones are replaced. */
  minHealthy: number;
  /** Never more instances (old, new and still being killed) than this. */
  maxTotal: number;
}

/** minHealthy = ceil(n × minimumHealthCapacity); maxTotal = n + floor(n × maximumOverCapacity), the extra at least 1 when the fraction is above 0. */
export function upgradeBounds(instances: number, s: UpgradeStrategy): UpgradeBounds {
  const minHealthy = Math.min(instances, Math.ceil(instances * s.minimumHealthCapacity - 1e-9));
  const extra = s.maximumOverCapacity > 0 ? Math.max(1, Math.floor(instances * s.maximumOverCapacity + 1e-9)) : 0;
  return { minHealthy, maxTotal: instances + extra };
}

/** Why `instances` under `strategy` could never replace an instance, or undefined when it can. */
export function strategyProblem(instances: number, s: UpgradeStrategy): string | undefined {
  const { minHealthy, maxTotal } = upgradeBounds(instances, s);
  if (instances > 0 && minHealthy >= instances && maxTotal <= instances) {
    return `minimumHealthCapacity ${s.minimumHealthCapacity} keeps all ${instances} instance(s) healthy and maximumOverCapacity ${s.maximumOverCapacity} allows no extra one, so no instance could ever be replaced (lower minimumHealthCapacity or raise maximumOverCapacity)`;
  }
  return undefined;
}

/** The parsed constraints of a valid spec. */
export function appConstraints(spec: AppSpec): Constraint[] {
  return spec.constraints.map((text) => {
    const parsed = parseConstraint(text);
    if (!parsed.ok) throw new Error(`app ${spec.id}: constraint '${text}' no longer parses: ${parsed.message}`);
    return parsed.constraint;
  });
}

/** The resource request in text form for takeResources, e.g. `cpus:0.5;mem:128;ports:1`. */
export function resourceRequest(spec: AppSpec): string {
  const r = spec.resources;
  return [
    `cpus:${r.cpus}`,
    `mem:${r.mem}`,
    r.disk > 0 ? `disk:${r.disk}` : '',
    r.gpus > 0 ? `gpus:${r.gpus}` : '',
    spec.ports > 0 ? `ports:${spec.ports}` : '',
  ].filter(Boolean).join(';');
}

/** True when two specs run the same thing the same way (they may differ in `instances` only). */
export function sameRunConfig(a: AppSpec, b: AppSpec): boolean {
  return canonical({ ...a, instances: 0 }) === canonical({ ...b, instances: 0 });
}

/** JSON with object keys sorted, so that field order does not make two specs differ. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}

/** A string the master would refuse as a `kind` is a problem here already. */
function named(r: FieldReader, key: string, kind: NameKind, value: string | undefined): string | undefined {
  const problem = value === undefined ? undefined : nameProblem(kind, value);
  return problem === undefined ? value : r.fail(key, problem);
}

/**
 * Seconds within the master's bounds (given in ms). A range starting above 0 is first checked as
 * "> 0", so that 0 is named as such.
 */
function seconds(r: FieldReader, key: string, bounds: Bounds): number | undefined {
  const [min, max] = [bounds.min / 1000, bounds.max / 1000];
  const value = r.number(key, min > 0 ? { above: 0, max } : { min, max });
  if (value !== undefined && value < min) return r.fail(key, `must be >= ${min}, got ${value}`);
  return value;
}

function readHealthCheck(r: FieldReader, ports: number): AppHealthCheck | undefined {
  r.onlyKnown(HEALTH_FIELDS);
  const type = r.string('type', { required: true });
  const d = APP_DEFAULTS.healthCheck;
  const b = HEALTH_CHECK_BOUNDS;
  const hc: AppHealthCheck = {
    type: 'tcp',
    delaySeconds: seconds(r, 'delaySeconds', b.delayMs) ?? d.delaySeconds,
    intervalSeconds: seconds(r, 'intervalSeconds', b.intervalMs) ?? d.intervalSeconds,
    timeoutSeconds: seconds(r, 'timeoutSeconds', b.timeoutMs) ?? d.timeoutSeconds,
    maxConsecutiveFailures: r.number('maxConsecutiveFailures', { min: 1, max: b.consecutiveFailures.max, integer: true }) ?? d.maxConsecutiveFailures,
    gracePeriodSeconds: seconds(r, 'gracePeriodSeconds', b.gracePeriodMs) ?? d.gracePeriodSeconds,
  };
  const command = r.string('command', { nonEmpty: true });
  const portIndex = r.number('portIndex', { min: 0, integer: true });
  const path = named(r, 'path', 'health check path', r.string('path', { pattern: /^\//, patternText: 'a path starting with /' }));
  switch (type) {
    case undefined:
      return undefined;
    case 'command':
      if (command === undefined && !r.has('command')) r.fail('command', "is required for a 'command' check");
      if (r.has('portIndex')) r.fail('portIndex', "applies to 'http' and 'tcp' checks only");
      if (r.has('path')) r.fail('path', "applies to 'http' checks only");
      return { ...hc, type, ...(command !== undefined ? { command } : {}) };
    case 'http':
    case 'tcp': {
      if (r.has('command')) r.fail('command', "applies to 'command' checks only");
      if (type === 'tcp' && r.has('path')) r.fail('path', "applies to 'http' checks only");
      const index = portIndex ?? 0;
      if (ports === 0) r.fail('portIndex', `a '${type}' check needs a port, and the app has none (set "ports": 1)`);
      else if (index >= ports) r.fail('portIndex', `is ${index}, but the app has only ${ports} port(s) (0..${ports - 1})`);
      return { ...hc, type, portIndex: index, ...(type === 'http' ? { path: path ?? '/' } : {}) };
    }
    default:
      r.fail('type', `'${type}' is not one of command, http, tcp`);
      return undefined;
  }
}

function readResources(top: FieldReader): AppSpec['resources'] {
  const out: AppSpec['resources'] = { ...APP_DEFAULTS.resources };
  if (!top.has('resources')) return out;
  const raw = top.raw('resources');
  if (typeof raw === 'string') {
    // The Mesos text form, e.g. "cpus:0.5;mem:128" (ports go in "ports").
    for (const item of raw.split(';').map((s) => s.trim()).filter(Boolean)) {
      const m = /^(cpus|mem|disk|gpus):([0-9]*\.?[0-9]+)$/.exec(item);
      if (!m) {
        top.fail('resources', `'${item}' is not cpus:N, mem:N, disk:N or gpus:N (ports are asked for with "ports")`);
        continue;
      }
      out[m[1] as keyof AppSpec['resources']] = Number(m[2]);
    }
  } else {
    const r = top.object('resources');
    if (!r) return out;
    r.onlyKnown(RESOURCE_FIELDS);
    for (const key of RESOURCE_FIELDS) out[key] = r.number(key, { min: 0 }) ?? out[key];
  }
  if (!(out.cpus > 0)) top.fail('resources', 'cpus must be > 0');
  if (!(out.mem > 0)) top.fail('resources', 'mem must be > 0');
  return out;
}

/** Validates a user's app spec (parsed JSON). */
export function parseAppSpec(input: unknown): SpecResult<AppSpec> {
  const problems: SpecProblem[] = [];
  const r = FieldReader.of(input, '', problems);
  if (!r) return { ok: false, problems };
  r.onlyKnown(TOP_FIELDS);
  const id = r.string('id', { required: true, pattern: APP_ID_PATTERN, patternText: 'an app id (lowercase letters, digits and -, at most 63, starting and ending with a letter or digit)' });
  const instances = r.number('instances', { min: 0, integer: true }) ?? APP_DEFAULTS.instances;
  const image = named(r, 'image', 'image', r.string('image', { nonEmpty: true }));
  const command = r.string('command', { nonEmpty: true });
  if (image === undefined && command === undefined && !r.has('image') && !r.has('command')) r.fail('command', 'is required when there is no image');
  const ports = r.number('ports', { min: 0, max: 100, integer: true }) ?? 0;
  const resources = readResources(r);
  const env = r.stringMap('env', ENV_NAME, 'an environment variable name') ?? {};
  const labels = r.stringMap('labels') ?? {};
  for (const [key, value] of Object.entries(labels)) {
    const problem = nameProblem('label key', key) ?? nameProblem('label value', value);
    if (problem !== undefined) r.fail(`labels.${key}`, problem);
  }
  const hcReader = r.object('healthCheck');
  const healthCheck = hcReader ? readHealthCheck(hcReader, ports) : undefined;

  const constraints: Constraint[] = [];
  (r.array('constraints') ?? []).forEach((c, i) => {
    const parsed = parseConstraint(c);
    if (parsed.ok) constraints.push(parsed.constraint);
    else problems.push({ field: `constraints[${i}]`, message: parsed.message });
  });
  if (!problems.some((p) => p.field === 'instances')) for (const message of contradictions(constraints, instances)) problems.push({ field: 'constraints', message });

  const killGraceSeconds = seconds(r, 'killGraceSeconds', KILL_GRACE_MS) ?? APP_DEFAULTS.killGraceSeconds;
  const backoffSeconds = r.number('backoffSeconds', { min: 0 }) ?? APP_DEFAULTS.backoffSeconds;
  const backoffFactor = r.number('backoffFactor', { min: 1 }) ?? APP_DEFAULTS.backoffFactor;
  const maxLaunchDelaySeconds = r.number('maxLaunchDelaySeconds', { min: 0 }) ?? APP_DEFAULTS.maxLaunchDelaySeconds;
  if (r.has('maxLaunchDelaySeconds') && maxLaunchDelaySeconds < backoffSeconds) r.fail('maxLaunchDelaySeconds', `is ${maxLaunchDelaySeconds}, below backoffSeconds ${backoffSeconds}`);

  const upgradeStrategy: UpgradeStrategy = { ...APP_DEFAULTS.upgradeStrategy };
  const s = r.object('upgradeStrategy');
  if (s) {
    s.onlyKnown(['minimumHealthCapacity', 'maximumOverCapacity']);
    upgradeStrategy.minimumHealthCapacity = s.number('minimumHealthCapacity', { min: 0, max: 1 }) ?? upgradeStrategy.minimumHealthCapacity;
    upgradeStrategy.maximumOverCapacity = s.number('maximumOverCapacity', { min: 0, max: 1 }) ?? upgradeStrategy.maximumOverCapacity;
  }
  // Only a valid instance count says whether the strategy can work.
  const instancesValid = !problems.some((p) => p.field === 'instances');
  const strategyWhy = instancesValid ? strategyProblem(instances, upgradeStrategy) : undefined;
  if (strategyWhy) problems.push({ field: fieldPath('', 'upgradeStrategy'), message: strategyWhy });

  if (problems.length > 0 || id === undefined) return { ok: false, problems };
  const spec: AppSpec = {
    id,
    instances,
    resources,
    ports,
    env,
    labels,
    constraints: constraints.map((c) => c.text),
    killGraceSeconds,
    backoffSeconds,
    backoffFactor,
    maxLaunchDelaySeconds,
    upgradeStrategy,
    ...(image !== undefined ? { image } : {}),
    ...(command !== undefined ? { command } : {}),
    ...(healthCheck ? { healthCheck } : {}),
  };
  return { ok: true, spec };
}
