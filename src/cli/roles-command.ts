/**
 * Roles, weights and quota: `orbit roles` shows each role's weight, quota, holdings, share and —
 * when it got nothing in the last allocation cycle — why; `orbit weights set` and `orbit quota
 * set|remove` change them (durably, on the master).
 */
import type { Command } from 'commander';
import { parseResources, type Resources } from '../common/resources.js';
import { masterOption, resolveMaster, UsageError } from './common.js';
import { fetchState, setQuota, updateWeights } from './operator-call.js';
import { clusterStateToJson } from './state-json.js';
import { formatTable } from './status-command.js';

function master(flag: string | undefined): string {
  try {
    return resolveMaster(flag);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function resourcesArg(what: string, text: string): Resources {
  try {
    return parseResources(text);
  } catch (err) {
    throw new UsageError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function registerRolesCommands(program: Command): void {
  program
    .command('roles')
    .description('show roles: weight, quota, what they hold, dominant share, and why any got no offer')
    .addOption(masterOption())
    .option('--json', 'print the roles as JSON')
    .action(async (opts: { master?: string; json?: boolean }) => {
      const state = clusterStateToJson(await fetchState(master(opts.master)));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(state.roles, null, 2)}\n`);
        return;
      }
      const rows = state.roles.map((r) => [
        r.role,
        String(r.weight),
        r.quota ? r.quota.guarantee || '-' : '-',
        r.quota ? r.quota.limit || '-' : '-',
        r.allocated || '-',
        r.dominantShare.toFixed(3),
        String(r.offersLastCycle),
      ]);
      process.stdout.write(formatTable(['ROLE', 'WEIGHT', 'GUARANTEE', 'LIMIT', 'ALLOCATED', 'SHARE', 'OFFERS'], rows));
      for (const r of state.roles) for (const why of r.explanation) process.stdout.write(`${r.role}: ${why}\n`);
    });

  const weights = program.command('weights').description('role weights for fair sharing (default 1)');
  weights
    .command('set <role> <weight> [more...]')
    .description("set roles' weights (ROLE WEIGHT [ROLE WEIGHT...], all or none): a role of weight 2 is entitled to twice the share of a role of weight 1")
    .addOption(masterOption())
    .action(async (role: string, weightText: string, more: string[], opts: { master?: string }) => {
      if (more.length % 2 !== 0) throw new UsageError(`weights: expected ROLE WEIGHT pairs, got an odd '${more.at(-1)}' at the end`);
      const pairs = [role, weightText, ...more];
      const weights = [];
      for (let i = 0; i < pairs.length; i += 2) {
        const text = pairs[i + 1]!;
        const weight = Number(text);
        if (!Number.isFinite(weight) || weight <= 0) throw new UsageError(`weight of role '${pairs[i]}': expected a positive number, got '${text}'`);
        weights.push({ role: pairs[i]!, weight });
      }
      process.stdout.write(`${await updateWeights(master(opts.master), weights)}\n`);
    });

  const quota = program.command('quota').description("a role's quota: a guarantee held for it and a limit it never exceeds");
  quota
    .command('set <role> <guarantee>')
    .description("set a role's quota, e.g. orbit quota set analytics 'cpus:4;mem:4096' --limit 'cpus:8;mem:8192'")
    .addOption(masterOption())
    .option('--limit <resources>', 'the most the role may hold (default: no limit)')
    .option('--force', 'set it even if the limit is below what the role holds or the guarantee exceeds the cluster')
    .action(async (role: string, guaranteeText: string, opts: { master?: string; limit?: string; force?: boolean }) => {
      const guarantee = resourcesArg('guarantee', guaranteeText);
      const limit = resourcesArg('--limit', opts.limit ?? '');
      process.stdout.write(`${await setQuota(master(opts.master), role, guarantee, limit, opts.force ?? false)}\n`);
    });
  quota
    .command('remove <role>')
    .description("remove a role's quota")
    .addOption(masterOption())
    .action(async (role: string, opts: { master?: string }) => {
      process.stdout.write(`${await setQuota(master(opts.master), role, [], [], false)}\n`);
    });
}
