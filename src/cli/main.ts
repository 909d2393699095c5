/**
 * The `orbit` command: a thin composition of subcommands, each in its own file.
 * Errors a user can fix print one line and exit 1; anything else also prints its stack.
 */
import { Command, CommanderError } from 'commander';
import { addAgentOperations } from './agent-ops-command.js';
import { registerAgentCommand } from './agent-command.js';
import { registerAgentsCommand } from './agents-command.js';
import { registerFleetCommand } from './fleet-command.js';
import { registerFrameworkCommands } from './frameworks-command.js';
import { registerLogsCommand } from './logs-command.js';
import { registerTaskCommands } from './tasks-command.js';
import { registerMasterCommand } from './master-command.js';
import { registerJobsCommand } from './jobs-command.js';
import { registerRolesCommands } from './roles-command.js';
import { registerServicesCommand } from './services-command.js';
import { registerRunCommand } from './run-command.js';
import { registerStatusCommand } from './status-command.js';
import { addSecurityOptions } from './cli-security.js';
import { registerSecurityCommands } from './security-command.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('orbit')
    .description('Orbit: a small cluster resource scheduler in the style of Apache Mesos')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError(false);
  addSecurityOptions(program);
  registerMasterCommand(program);
  registerAgentCommand(program);
  addAgentOperations(program.commands.find((c) => c.name() === 'agent')!);
  registerFleetCommand(program);
  registerRunCommand(program);
  registerStatusCommand(program);
  registerRolesCommands(program);
  registerAgentsCommand(program);
  registerFrameworkCommands(program);
  registerTaskCommands(program);
  registerLogsCommand(program);
  registerServicesCommand(program);
  registerJobsCommand(program);
  registerSecurityCommands(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`orbit: ${message}\n`);
    if (err instanceof Error && !['UsageError', 'CredentialsError', 'PkiError', 'PolicyFileError', 'InvalidArgumentError', 'ResourceParseError', 'AttributeParseError', 'WorkDirLockedError', 'RegistryCorruptError', 'RegistryWriteError'].includes(err.name)) {
      process.stderr.write(`${err.stack ?? ''}\n`);
    }
    process.exitCode = 1;
  }
}
