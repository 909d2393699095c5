/**
 * The CLI's credentials, chosen once per run from the global `--credentials FILE` and `--insecure`
 * options (or `$ORBIT_CREDENTIALS`, the default path, or the admin credentials of a master on this
 * host: common/credentials.ts). A missing or unusable file is a one-line UsageError.
 */
import type { Command } from 'commander';
import { findCredentials, type ClientSecurity, type CredentialSources } from '../common/credentials.js';
import { UsageError } from './common.js';

let sources: CredentialSources = {};
let chosen: ClientSecurity | undefined;

/** Adds `--credentials` and `--insecure` to the program; they apply to every subcommand that dials a master. */
export function addSecurityOptions(program: Command): void {
  program
    .option('--credentials <file>', 'credentials file (CA, certificate, key) for the masters (default: $ORBIT_CREDENTIALS, ~/.orbit/credentials.json, or the admin credentials of a master on this host)')
    .option('--insecure', 'talk to a master started with --insecure: plaintext, no identity')
    .hook('preAction', () => {
      const opts = program.opts<{ credentials?: string; insecure?: boolean }>();
      sources = { flag: opts.credentials, insecure: opts.insecure };
      chosen = undefined;
    });
}

/** The credentials for this run (resolved once); UsageError when there are none or they are unusable. */
export function cliSecurity(): ClientSecurity {
  if (chosen) return chosen;
  try {
    chosen = findCredentials(sources);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (chosen.mode === 'insecure') process.stderr.write('orbit: warning: --insecure: plaintext, no identity; only a master started with --insecure accepts this\n');
  return chosen;
}
