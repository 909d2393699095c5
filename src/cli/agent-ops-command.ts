/**
 * Operator actions on one agent, as subcommands of `orbit agent` (which itself runs an agent):
 * `orbit agent drain AGENT_ID`, `orbit agent reactivate AGENT_ID`, `orbit agent gone AGENT_ID`.
 */
import type { Command } from 'commander';
import { masterOption } from './common.js';
import { drainAgent, markAgentGone, masterFrom, reactivateAgent } from './operator-call.js';
import { printJson } from './status-command.js';

interface OpsFlags {
  master?: string;
  json?: boolean;
}

const ACTIONS: { name: string; description: string; call: (master: string, agentId: string) => Promise<string> }[] = [
  {
    name: 'drain',
    description: "drain an agent for maintenance: no new offers, its tasks killed with their grace period; 'drained' once they have ended",
    call: drainAgent,
  },
  { name: 'reactivate', description: 'end a drain: the agent is offered again', call: reactivateAgent },
  {
    name: 'gone',
    description: 'mark an agent gone for good: its tasks become GONE and it may never re-register under this id (it needs a fresh --work-dir)',
    call: markAgentGone,
  },
];

/**
 * Adds `drain`, `reactivate` and `gone` to the `agent` command. `--master` may come before or
 * after the subcommand: the agent command has a --master of its own, and commander gives an
 * option to the command that names it first, so both are read.
 */
export function addAgentOperations(agent: Command): void {
  for (const action of ACTIONS) {
    agent
      .command(`${action.name} <agent-id>`)
      .description(action.description)
      .addOption(masterOption())
      .option('--json', 'print the outcome as JSON')
      .action(async (agentId: string, _opts: OpsFlags, command: Command) => {
        const opts = command.optsWithGlobals<OpsFlags>();
        const message = await action.call(masterFrom(opts.master), agentId);
        if (opts.json) printJson({ agentId, message });
        else process.stdout.write(`${message}\n`);
      });
  }
}
