/**
 * `orbit cert issue|renew`, `orbit token create|list|revoke` and `orbit acl check`: credentials
 * for frameworks and operators, join tokens for agents, and what the policy says. `cert issue`
 * works on the master host from its work dir (`--work-dir`, no master needed) or through the
 * Certificates service with an operator's credentials; either way the key is made here and never
 * sent anywhere.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { quote } from '../common/echo.js';
import { identityKindToProto } from '../common/enum-codec.js';
import { readCredentials, writeCredentials, defaultCredentialsPath } from '../common/credentials.js';
import { certNotAfter, createKeyAndCsr, identityNameProblem, principalText, signCsr, type CertAndKey, type Identity } from '../common/pki.js';
import type { CertificateReply__Output } from '../gen/orbit/v1/CertificateReply.js';
import type { TokenInfo__Output } from '../gen/orbit/v1/TokenInfo.js';
import type { TokenList__Output } from '../gen/orbit/v1/TokenList.js';
import type { TokenReply__Output } from '../gen/orbit/v1/TokenReply.js';
import type { OperatorResponse__Output } from '../gen/orbit/v1/OperatorResponse.js';
import { decide, describePolicy, defaultPolicy } from '../master/security/policy.js';
import { loadPolicyFile } from '../master/security/policy-file.js';
import { parsePrincipal, parseRequest } from '../master/security/policy-request.js';
import { cliSecurity } from './cli-security.js';
import { MAX_CERT_VALID_DAYS } from '../master/rpc/certificates-service.js';
import { DEFAULT_CERT_VALID_DAYS } from '../master/security/setup.js';
import { masterOption, numberFlag, UsageError } from './common.js';
import { certificatesCall, masterFrom } from './operator-call.js';
import { formatTable } from './status-command.js';

const ISSUABLE = ['framework', 'operator', 'agent'] as const;
type Issuable = (typeof ISSUABLE)[number];

/** Signs locally with the CA in a master's work dir (the master host's way: no master needed). */
async function issueFromWorkDir(workDir: string, identityOf: (cluster: string) => Identity, csrPem: string, validDays: number): Promise<{ certPem: string; caPem: string }> {
  const dir = join(resolve(workDir), 'security');
  const read = (file: string): string => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      throw new UsageError(`--work-dir ${workDir}: cannot read ${join(dir, file)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is it a master's work dir, and are you its user?`);
    }
  };
  const ca: CertAndKey = { certPem: read('ca.crt'), keyPem: read('ca.key') };
  const admin = readCredentials(join(dir, 'admin.credentials.json'));
  const certPem = await signCsr(ca, csrPem, { identity: identityOf(admin.identity.cluster), now: new Date(), validDays });
  return { certPem, caPem: ca.certPem };
}

function tokenRow(t: TokenInfo__Output): string[] {
  const expires = Number(t.expiresMs);
  return [t.id, new Date(Number(t.createdMs)).toISOString(), expires === 0 ? 'never' : new Date(expires).toISOString(), t.description || '-'];
}

export function registerSecurityCommands(program: Command): void {
  const cert = program.command('cert').description('certificates: credentials files for frameworks, operators and agents');
  cert
    .command('issue')
    .description('make a key and get it a certificate; writes a credentials file (CA, certificate, key; mode 0600)')
    .argument('<kind>', `framework, operator or agent`)
    .argument('<name>', 'the principal name (letters, digits, _ . @ -)')
    .option('--out <file>', 'where to write the credentials (default: ./NAME.credentials.json)')
    .option('--valid-days <days>', 'validity (default: the master\'s --cert-valid-days)', numberFlag('--valid-days', { min: 1, integer: true }))
    .option('--work-dir <dir>', "sign with the CA in this master work dir, on the master host (no master needed)")
    .addOption(masterOption())
    .action(async (kind: string, name: string, flags: { out?: string; validDays?: number; workDir?: string; master?: string }) => {
      if (!(ISSUABLE as readonly string[]).includes(kind)) throw new UsageError(`kind ${quote(kind)}: expected one of ${ISSUABLE.join(', ')}`);
      const problem = identityNameProblem(name);
      if (problem !== undefined) throw new UsageError(`name ${quote(name)} ${problem}`);
      if (flags.validDays !== undefined && flags.validDays > MAX_CERT_VALID_DAYS) throw new UsageError(`--valid-days must be at most ${MAX_CERT_VALID_DAYS}, got ${flags.validDays}`);
      const out = resolve(flags.out ?? `${name}.credentials.json`);
      if (existsSync(out)) throw new UsageError(`${out} exists; remove it or choose another --out`);
      const { keyPem, csrPem } = await createKeyAndCsr({ cluster: 'asking', kind: kind as Issuable, name });
      let reply: { certPem: string; caPem: string };
      if (flags.workDir) {
        reply = await issueFromWorkDir(flags.workDir, (cluster) => ({ cluster, kind: kind as Issuable, name }), csrPem, flags.validDays ?? DEFAULT_CERT_VALID_DAYS);
      } else {
        const master = masterFrom(flags.master);
        reply = await certificatesCall<CertificateReply__Output>(master, 'Issue', (c, o, cb) =>
          c.Issue({ kind: identityKindToProto(kind as Issuable), name, csrPem, validDays: flags.validDays ?? 0 }, o, cb),
        );
      }
      const creds = writeCredentials(out, reply.caPem, { certPem: reply.certPem, keyPem });
      process.stdout.write(`wrote ${out}: ${principalText(creds.identity)} of cluster ${creds.identity.cluster}, valid until ${certNotAfter(creds.certPem).toISOString()}\n`);
    });
  cert
    .command('renew')
    .description('renew the certificate of a credentials file in place (a new key; the same identity)')
    .argument('[file]', 'the credentials file (default: --credentials, $ORBIT_CREDENTIALS or ~/.orbit/credentials.json)')
    .addOption(masterOption())
    .action(async (file: string | undefined, flags: { master?: string }) => {
      const security = cliSecurity();
      if (security.mode !== 'tls') throw new UsageError('there is nothing to renew under --insecure');
      const path = file ? resolve(file) : (process.env.ORBIT_CREDENTIALS ?? defaultCredentialsPath());
      const current = readCredentials(path);
      const { keyPem, csrPem } = await createKeyAndCsr(current.identity);
      const reply = await certificatesCall<CertificateReply__Output>(masterFrom(flags.master), 'Renew', (c, o, cb) => c.Renew({ csrPem }, o, cb));
      const creds = writeCredentials(path, current.caPem, { certPem: reply.certPem, keyPem });
      process.stdout.write(`renewed ${path}: ${principalText(creds.identity)}, valid until ${certNotAfter(creds.certPem).toISOString()}\n`);
    });

  const token = program.command('token').description('join tokens: how agents get their certificates');
  token
    .command('create')
    .description('make a join token and print it (once: only its hash is kept)')
    .option('--ttl <seconds>', "lifetime (default: the master's --join-token-ttl; at most a year)", numberFlag('--ttl', { min: 1, integer: true }))
    .option('--description <text>', 'what it is for', '')
    .addOption(masterOption())
    .action(async (flags: { ttl?: number; description: string; master?: string }) => {
      const reply = await certificatesCall<TokenReply__Output>(masterFrom(flags.master), 'CreateToken', (c, o, cb) => c.CreateToken({ ttlSeconds: flags.ttl ?? 0, description: flags.description }, o, cb));
      const expires = Number(reply.info?.expiresMs ?? 0);
      process.stdout.write(`${reply.token}\n`);
      process.stderr.write(`join token ${reply.info?.id} ${expires === 0 ? 'never expires' : `expires ${new Date(expires).toISOString()}`}; use it as: orbit agent --join TOKEN ...\n`);
    });
  token
    .command('list')
    .description('the join tokens that have not expired (never their secrets)')
    .addOption(masterOption())
    .action(async (flags: { master?: string }) => {
      const list = await certificatesCall<TokenList__Output>(masterFrom(flags.master), 'ListTokens', (c, o, cb) => c.ListTokens({}, o, cb));
      process.stdout.write(list.tokens.length === 0 ? 'no join tokens\n' : `${formatTable(['ID', 'CREATED', 'EXPIRES', 'DESCRIPTION'], list.tokens.map(tokenRow))}\n`);
    });
  token
    .command('revoke')
    .description('revoke a join token: agents can no longer join with it (agents that joined keep their certificates)')
    .argument('<id>', 'the token id (the part after ojt1.)')
    .addOption(masterOption())
    .action(async (id: string, flags: { master?: string }) => {
      const res = await certificatesCall<OperatorResponse__Output>(masterFrom(flags.master), 'RevokeToken', (c, o, cb) => c.RevokeToken({ id }, o, cb));
      process.stdout.write(`${res.message}\n`);
    });

  program
    .command('acl')
    .description('the access policy')
    .command('check')
    .description('whether PRINCIPAL may do ACTION on OBJECT under a policy file (or the default policy), and which rule decides; exit 0 allowed, 3 denied')
    .argument('<principal>', 'KIND:NAME, e.g. framework:spark')
    .argument('<action>', 'e.g. register_framework, run_task, teardown_framework')
    .argument('<object>', 'KEY=VALUE[,KEY=VALUE], e.g. role=analytics or containerizer=docker,image=redis:7,user=root')
    .option('--policy <file>', 'the policy file (default: the default policy)')
    .action(async (who: string, action: string, object: string, flags: { policy?: string }) => {
      let principal;
      let request;
      try {
        principal = parsePrincipal(who);
        request = parseRequest(action, object);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const policy = flags.policy ? await loadPolicyFile(resolve(flags.policy)) : defaultPolicy();
      const decision = decide(policy, principal, request);
      process.stdout.write(`${decision.allowed ? 'allowed' : 'denied'}: ${decision.rule}\n(${describePolicy(policy)})\n`);
      if (!decision.allowed) process.exitCode = 3;
    });
}
