/**
 * The master's security at start: the CA and certificates (cluster-pki.ts), the join tokens and
 * the first one, the policy, and the audit log. Everything is checked before the master serves:
 * a bad CA, policy file or token file stops the start with a message naming it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { Logger } from '../../common/logging.js';
import { openAuditLog, type AuditSink } from './audit-log.js';
import { prepareClusterPki, type ClusterPki } from './cluster-pki.js';
import { JoinTokens } from './join-tokens.js';
import { MasterSecurity } from './master-security.js';
import { defaultPolicy, describePolicy, type Policy } from './policy.js';
import { loadPolicyFile } from './policy-file.js';

/** Lifetime of the join token made at first start, and of tokens made without a TTL: a day, as kubeadm's. */
export const DEFAULT_JOIN_TOKEN_TTL_MS = 86_400_000;
/** Validity of certificates issued without one (agents', `cert issue`'s): a year. */
export const DEFAULT_CERT_VALID_DAYS = 365;
/** The cluster name when none is given; certificates carry it. */
export const DEFAULT_CLUSTER = 'orbit';

/** How the master secures itself (flags of `orbit master`). Default: TLS, the default policy. */
export interface SecurityConfig {
  /** `--insecure`: plaintext, no identities, everything allowed. Logged loudly at every start. */
  insecure?: boolean;
  /** `--cluster`. */
  cluster?: string;
  caCertPath?: string;
  caKeyPath?: string;
  /** `--policy FILE`: allow rules, deny by default. */
  policyFile?: string;
  /** `--audit-log FILE` (default WORK_DIR/audit.log). */
  auditLogPath?: string;
  certValidDays?: number;
  joinTokenTtlMs?: number;
  /** More names and addresses for the master's certificate (`--advertise`). */
  extraNames?: readonly string[];
  /** Tokens live in the registry (masters in HA, each term loads them): none are kept in the work dir. */
  sharedTokens?: boolean;
}

/** What start-up made: the runtime security, and what to tell the operator. */
export interface PreparedSecurity {
  security: MasterSecurity;
  /** The join token kept in WORK_DIR/security/join-token while it is valid. */
  joinToken: string | undefined;
  certValidDays: number;
  joinTokenTtlMs: number;
}

async function loadPolicy(file: string | undefined): Promise<Policy> {
  return file === undefined ? defaultPolicy() : loadPolicyFile(file);
}

/** The join token in `path` when it still works; else a new one (first start) or none. */
async function keptJoinToken(path: string, tokens: JoinTokens, pki: ClusterPki, ttlMs: number, now: number, firstStart: boolean): Promise<string | undefined> {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    try {
      tokens.check(text, now, pki.pin);
      return text;
    } catch {
      return undefined;
    }
  }
  if (!firstStart) return undefined;
  const { token } = await tokens.create({ ttlMs, description: 'made at first start', nowMs: now, pin: pki.pin });
  writeFileAtomic(path, `${token}\n`);
  return token;
}

export async function prepareSecurity(config: SecurityConfig, workDir: string, listenIp: string, now: () => number, log: Logger): Promise<PreparedSecurity> {
  const certValidDays = config.certValidDays ?? DEFAULT_CERT_VALID_DAYS;
  const joinTokenTtlMs = config.joinTokenTtlMs ?? DEFAULT_JOIN_TOKEN_TTL_MS;
  const policy = await loadPolicy(config.policyFile);
  let pki: ClusterPki | undefined;
  let tokens: JoinTokens | undefined;
  let joinToken: string | undefined;
  if (!config.insecure) {
    const securityDir = join(workDir, 'security');
    const firstStart = !existsSync(join(securityDir, 'join-tokens.json'));
    pki = await prepareClusterPki({
      workDir,
      cluster: config.cluster ?? DEFAULT_CLUSTER,
      caCertPath: config.caCertPath,
      caKeyPath: config.caKeyPath,
      listenIp,
      ...(config.extraNames ? { extraNames: config.extraNames } : {}),
      certValidDays,
      now: new Date(now()),
      log,
    });
    if (config.sharedTokens) {
      // Until this master leads (and loads the registry's), it knows no token: nothing is checked here.
      tokens = JoinTokens.of([], { save: () => Promise.reject(new Error('tokens are kept in the registry, and this master does not lead')) });
    } else {
      tokens = JoinTokens.open(join(securityDir, 'join-tokens.json'));
      joinToken = await keptJoinToken(join(securityDir, 'join-token'), tokens, pki, joinTokenTtlMs, now(), firstStart);
    }
  }
  const audit: AuditSink = openAuditLog(config.auditLogPath ?? join(workDir, 'audit.log'), log, now);
  const security = new MasterSecurity({ pki, tokens, policy, policyFile: config.policyFile, audit, log, now });
  if (config.insecure) {
    log.warn('--insecure: NO TLS, NO IDENTITIES, NO ACLs. Anyone who reaches this master can run anything on every agent. Use it only for tests on one machine.');
  } else {
    log.info({ cluster: pki!.cluster, ca: pki!.pin, admin: pki!.adminCredentialsPath }, `TLS on; ${describePolicy(policy)}`);
  }
  return { security, joinToken, certValidDays, joinTokenTtlMs };
}

/** Reads the policy file again (SIGHUP); a bad file keeps the policy in force and throws naming the problems. */
export async function reloadPolicy(security: MasterSecurity): Promise<string> {
  const policy = await loadPolicy(security.policyFile);
  security.policy = policy;
  return describePolicy(policy);
}
