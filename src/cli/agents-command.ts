/**
 * `orbit agents`: every agent the master knows (Operator.GetAgents) with its status, used/total
 * per resource, attributes and HTTP address; --json prints the agents of GET /state.
 */
import type { Command } from 'commander';
import { parseResources, scalar } from '../common/resources.js';
import { AGENT_STATUS_VIEWS, type AgentView } from '../common/state-view.js';
import { masterOption } from './common.js';
import { fetchAgents, masterFrom } from './operator-call.js';
import { agentsToJson } from './state-json.js';
import { formatAge, formatTable, printJson } from './status-command.js';

/** `1.5/4 cpus`-style cell: used of total, mem and disk in GiB once they reach it. */
export function usedOfTotal(kind: string, used: number, total: number): string {
  const n = (x: number): string => String(Math.round(x * 100) / 100);
  if ((kind === 'mem' || kind === 'disk') && total >= 1024) return `${n(used / 1024)}/${n(total / 1024)} GiB`;
  return `${n(used)}/${n(total)}${kind === 'mem' || kind === 'disk' ? ' MiB' : ''}`;
}

/** The agents table, with a one-line count by status under it. */
export function formatAgents(agents: AgentView[], now = Date.now()): string {
  if (agents.length === 0) return 'no agents registered\n';
  const rows = agents.map((a) => {
    const total = parseResources(a.resources);
    const used = parseResources(a.used);
    return [
      a.id,
      a.hostname,
      a.status,
      usedOfTotal('cpus', scalar(used, 'cpus'), scalar(total, 'cpus')),
      usedOfTotal('mem', scalar(used, 'mem'), scalar(total, 'mem')),
      usedOfTotal('disk', scalar(used, 'disk'), scalar(total, 'disk')),
      a.address ? `${a.address}:${a.httpPort}` : '-',
      a.registeredAt > 0 ? formatAge(now - a.registeredAt) : '-',
      a.attributes || '-',
    ];
  });
  const counts = AGENT_STATUS_VIEWS.map((s) => [s, agents.filter((a) => a.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  return `${formatTable(['ID', 'HOSTNAME', 'STATUS', 'CPUS', 'MEM', 'DISK', 'HTTP', 'AGE', 'ATTRIBUTES'], rows)}\n\n${agents.length} agent(s): ${counts.join(', ')}\n`;
}

/** Adds `orbit agents [--json]`. */
export function registerAgentsCommand(program: Command): void {
  program
    .command('agents')
    .description('list the agents: status (active, disconnected, unreachable, draining, drained), used/total resources, attributes')
    .addOption(masterOption())
    .option('--json', 'print the agents as JSON (as in GET /state)')
    .action(async (opts: { master?: string; json?: boolean }) => {
      const agents = agentsToJson(await fetchAgents(masterFrom(opts.master)));
      if (opts.json) printJson(agents);
      else process.stdout.write(formatAgents(agents));
    });
}
