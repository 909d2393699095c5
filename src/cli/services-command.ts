/**
 * `orbit services ...`: the services framework (long-running apps, Marathon-style). `serve` runs
 * the framework process, which keeps its state in --state-dir and answers a local HTTP API; the
 * other subcommands talk to that API (--api, default $ORBIT_SERVICES_API or 127.0.0.1:5060).
 */
import { Option, type Command } from 'commander';
import { ApiClient } from '../frameworks/common/api-client.js';
import { apiBase, readSpecFile, userErrors, waitFor } from '../frameworks/common/cli-support.js';
import { processIo, shortDuration, table, type CommandIo } from '../frameworks/common/command-io.js';
import { describeDisconnect, disconnectedNotice, isDisconnected, type MasterConnection } from '../frameworks/common/master-connection.js';
import type { AppDetails, AppSummary } from '../frameworks/services/app-view.js';
import { SERVICES_API_PORT, startServicesApi, type AppDetailsResponse, type AppListResponse } from '../frameworks/services/services-api.js';
import type { DeployOutcome } from '../frameworks/services/app-requests.js';
import { ServicesFramework } from '../frameworks/services/services-framework.js';
import { serveFramework, type ServeFlags, type ServeSpec } from './serve-framework.js';
import { logLevelOption, masterOption, numberFlag, UsageError } from './common.js';

const DEFAULT_API = `127.0.0.1:${SERVICES_API_PORT}`;
const usage = (message: string) => new UsageError(message);

interface ApiFlags {
  api?: string;
}

function apiOption(): Option {
  return new Option('--api <host:port>', `the services framework's API (default: $ORBIT_SERVICES_API or ${DEFAULT_API})`);
}

function client(flags: ApiFlags): ApiClient {
  const value = flags.api ?? process.env['ORBIT_SERVICES_API'] ?? DEFAULT_API;
  return new ApiClient(apiBase(value, flags.api ? '--api' : process.env['ORBIT_SERVICES_API'] ? '$ORBIT_SERVICES_API' : '--api', usage), 'the services framework (orbit services serve)');
}

const ago = (at: number | undefined, now = Date.now()): string => (at === undefined ? '-' : shortDuration(now - at));

/** One line per outcome, e.g. `redis: upgrading to version 2`. */
export function outcomeLine(o: DeployOutcome, instances?: number): string {
  switch (o.change) {
    case 'created':
      return `${o.id}: created, version ${o.version}${instances !== undefined ? ` (${instances} instance${instances === 1 ? '' : 's'})` : ''}`;
    case 'upgrading':
      return `${o.id}: rolling out version ${o.version}`;
    case 'scaled':
      return `${o.id}: scaled${instances !== undefined ? ` to ${instances} instance${instances === 1 ? '' : 's'}` : ''} (version ${o.version})`;
    case 'unchanged':
      return `${o.id}: unchanged (version ${o.version})`;
  }
}

/**
 * The `list` table. While the framework is disconnected from the master (`master`), a warning
 * comes first and each health count is marked as last known.
 */
export function formatAppList(apps: AppSummary[], master?: MasterConnection, now = Date.now()): string {
  const notice = disconnectedNotice(master, now);
  if (apps.length === 0) return `${notice}no apps\n`;
  const stale = isDisconnected(master) ? ' (last known)' : '';
  const rows = apps.map((a) => [a.id, a.status, String(a.version), `${a.healthy}/${a.instances}${stale}`, String(a.running), a.runs]);
  return `${notice}${table(['ID', 'STATUS', 'VERSION', 'HEALTHY', 'RUNNING', 'RUNS'], rows)}\n`;
}

/**
 * The `show` text: the app, its instances (where, health), and why any is still pending. While
 * the framework is disconnected from the master, a warning comes first and the counts are marked
 * as last known.
 */
export function formatAppDetails(d: AppDetails & { master?: MasterConnection }, now = Date.now()): string {
  const lines: string[] = [];
  const notice = disconnectedNotice(d.master, now);
  if (notice) lines.push(notice.trimEnd());
  lines.push(`app ${d.id}: ${d.status}, version ${d.version}, ${d.healthy}/${d.instances} healthy, ${d.running} running${isDisconnected(d.master) ? ' (last known)' : ''}`);
  lines.push(`runs: ${d.runs}${d.spec.ports > 0 ? `  ports: ${d.spec.ports}` : ''}  resources: cpus ${d.spec.resources.cpus}, mem ${d.spec.resources.mem}`);
  if (d.spec.healthCheck) {
    const h = d.spec.healthCheck;
    const what = h.type === 'command' ? `command '${h.command}'` : h.type === 'http' ? `http PORT${h.portIndex}${h.path}` : `tcp PORT${h.portIndex}`;
    lines.push(`health check: ${what} every ${h.intervalSeconds}s (timeout ${h.timeoutSeconds}s, ${h.maxConsecutiveFailures} failures)`);
  }
  if (d.spec.constraints.length > 0) lines.push(`constraints: ${d.spec.constraints.join(', ')}`);
  if (d.upgrade) lines.push(`rolling to version ${d.version}: ${d.upgrade.oldInstances} old instance(s) left; keeps >= ${d.upgrade.minHealthy} healthy, <= ${d.upgrade.maxTotal} in all`);
  lines.push('');
  if (d.instanceList.length === 0) lines.push('no instances');
  else {
    const rows = d.instanceList.map((i) => [
      i.taskId,
      i.state + (i.killReason ? ` (killing: ${i.killReason})` : ''),
      i.health,
      `${i.hostname} (${i.agentId})`,
      i.ports.join(',') || '-',
      String(i.version),
      ago(i.runningSince ?? i.launchedAt, now),
    ]);
    lines.push(table(['INSTANCE', 'STATE', 'HEALTH', 'HOST (AGENT)', 'PORTS', 'VERSION', 'SINCE'], rows));
  }
  const p = d.pending;
  if (p.count > 0) {
    lines.push('');
    const backoff = p.backoffUntil !== undefined ? `; backing off after ${p.failures} failure(s), next launch in ${shortDuration(Math.max(0, p.backoffUntil - now))}` : '';
    lines.push(`pending: ${p.count} instance(s) to launch${backoff}`);
    if (p.backoffUntil === undefined) {
      if (p.reasons.length === 0) lines.push(p.lastOfferAt === undefined ? '  no offers received yet (are agents registered with free resources?)' : '  waiting for offers');
      else {
        lines.push('  why the last offers did not fit:');
        for (const r of p.reasons) lines.push(`  ${r.hostname} (${r.agentId}): ${r.reason}`);
      }
    }
  }
  if (d.ended.length > 0) {
    lines.push('');
    lines.push('recently ended:');
    for (const e of [...d.ended].reverse().slice(0, 5)) {
      lines.push(`  ${e.taskId} ${e.state}${e.reason && e.reason !== 'NONE' ? ` (${e.reason})` : ''} on ${e.hostname} ${ago(e.endedAt, now)} ago${e.message ? `: ${e.message}` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The services server, served the way every framework server is (serve-framework.ts). */
const SERVE: ServeSpec<ServicesFramework> = {
  kind: 'services',
  keeps: 'apps and task ids',
  create: (options) => new ServicesFramework(options),
  startApi: startServicesApi,
};

/** Waits until the app runs with every instance healthy, as a framework connected to the master sees it. */
async function waitUntilRunning(api: ApiClient, id: string, timeoutS: number, io: CommandIo): Promise<void> {
  let last: AppDetailsResponse | undefined;
  const done = await waitFor(async () => {
    const d = (last = await api.get<AppDetailsResponse>(`/v1/apps/${encodeURIComponent(id)}`));
    return d.status === 'running' && !isDisconnected(d.master) ? d : undefined;
  }, timeoutS * 1000);
  if (!done) {
    const why = last?.master?.state === 'disconnected' ? `; the services framework is ${describeDisconnect(last.master)}` : '';
    throw usage(`${id} is not running with every instance healthy after ${timeoutS} s${why} (see: orbit services show ${id})`);
  }
  io.out(`${id}: running, ${done.healthy}/${done.instances} healthy\n`);
}

/** Adds `orbit services serve|deploy|list|show|scale|restart|remove`. */
export function registerServicesCommand(program: Command, io: CommandIo = processIo): void {
  const services = program.command('services').description('long-running services (Marathon-style): keep N healthy instances of each app');

  services
    .command('serve')
    .description('run the services framework: subscribes to the master and serves the local API the other subcommands use')
    .addOption(masterOption())
    .option('--state-dir <dir>', 'where apps, task ids and the framework id are kept (required)')
    .option('--api-host <host>', 'address the API listens on', '127.0.0.1')
    .option('--api-port <port>', 'port the API listens on (0: any free one)', numberFlag('--api-port', { integer: true }), SERVICES_API_PORT)
    .option('--name <name>', 'the framework name', 'orbit-services')
    .option('--role <role>', 'the role to subscribe with', '*')
    .option('--failover-timeout <seconds>', 'how long the master keeps the instances running while this process is away (default: a week)', numberFlag('--failover-timeout'))
    .addOption(logLevelOption())
    .action((flags: ServeFlags) => serveFramework(SERVE, flags, io));

  const waitOptions = (c: Command): Command =>
    c
      .option('--wait', 'wait until every instance is running and healthy')
      .option('--timeout <seconds>', 'with --wait: give up after this long', numberFlag('--timeout'), 120);

  waitOptions(
    services
      .command('deploy')
      .description('create or update an app from a JSON spec (a changed spec rolls out as a new version)')
      .argument('<file>', 'the app spec (JSON)')
      .addOption(apiOption()),
  ).action(async (file: string, flags: ApiFlags & { wait?: boolean; timeout: number }) => {
    const spec = readSpecFile(file, usage);
    const api = client(flags);
    const o = await userErrors(() => api.post<DeployOutcome>('/v1/apps', spec), usage, `${file}: `);
    const instances = (spec as { instances?: unknown }).instances;
    io.out(`${outcomeLine(o, typeof instances === 'number' ? instances : 1)}\n`);
    if (flags.wait) await userErrors(() => waitUntilRunning(api, o.id, flags.timeout, io), usage);
  });

  services
    .command('list')
    .description('every app: status, version, healthy/wanted instances')
    .addOption(apiOption())
    .option('--json', 'print the JSON the API returns: {apps, master}')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const list = await userErrors(() => client(flags).get<AppListResponse>('/v1/apps'), usage);
      io.out(flags.json ? `${JSON.stringify(list, null, 2)}\n` : formatAppList(list.apps, list.master));
    });

  services
    .command('show')
    .description('one app: where each instance runs, its health, and why any instance is still pending')
    .argument('<id>', 'the app id')
    .addOption(apiOption())
    .option('--json', 'print the JSON the API returns')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const d = await userErrors(() => client(flags).get<AppDetailsResponse>(`/v1/apps/${encodeURIComponent(id)}`), usage);
      io.out(flags.json ? `${JSON.stringify(d, null, 2)}\n` : formatAppDetails(d));
    });

  waitOptions(
    services
      .command('scale')
      .description('set the number of instances')
      .argument('<id>', 'the app id')
      .argument('<instances>', 'how many instances', numberFlag('instances', { integer: true }))
      .addOption(apiOption()),
  ).action(async (id: string, instances: number, flags: ApiFlags & { wait?: boolean; timeout: number }) => {
    const api = client(flags);
    const o = await userErrors(() => api.post<DeployOutcome>(`/v1/apps/${encodeURIComponent(id)}/scale`, { instances }), usage);
    io.out(`${outcomeLine(o, instances)}\n`);
    if (flags.wait) await userErrors(() => waitUntilRunning(api, id, flags.timeout, io), usage);
  });

  waitOptions(
    services
      .command('restart')
      .description("replace every instance, rolling, within the app's upgrade strategy")
      .argument('<id>', 'the app id')
      .addOption(apiOption()),
  ).action(async (id: string, flags: ApiFlags & { wait?: boolean; timeout: number }) => {
    const api = client(flags);
    const o = await userErrors(() => api.post<DeployOutcome>(`/v1/apps/${encodeURIComponent(id)}/restart`), usage);
    io.out(`${o.id}: rolling restart to version ${o.version}\n`);
    if (flags.wait) await userErrors(() => waitUntilRunning(api, id, flags.timeout, io), usage);
  });

  services
    .command('remove')
    .description('kill every instance of an app and forget it')
    .argument('<id>', 'the app id')
    .addOption(apiOption())
    .action(async (id: string, flags: ApiFlags) => {
      await userErrors(() => client(flags).delete(`/v1/apps/${encodeURIComponent(id)}`), usage);
      io.out(`${id}: removing (its instances are being killed)\n`);
    });
}
