/**
 * What a benchmark of masters in HA needs besides etcd (etcd.ts): one cluster CA for every master
 * (`orbit master --ca-cert --ca-key`), and credentials signed by it, made once in a temporary dir:
 * an operator's (the benchmark's SDK clients, HTTP reads and Operator calls) and an agent's (a
 * fleet's agents share one certificate, as `orbit cert issue agent` makes it).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCredentials, type ClientSecurity } from '../../src/common/credentials.js';
import { createCa, issueCertificate, type IdentityKind } from '../../src/common/pki.js';

export interface BenchCa {
  /** The temporary dir holding everything below: remove it when done. */
  dir: string;
  caCertPath: string;
  caKeyPath: string;
  /** `--ca-cert F --ca-key F` for `orbit master`. */
  masterFlags: string[];
  /** operator:admin, as a file (for `orbit` commands) and as client security (for SDK clients and fetches). */
  operatorCredentialsPath: string;
  operator: ClientSecurity;
  /** agent:bench-fleet, for `orbit fleet --credentials`. */
  agentCredentialsPath: string;
}

/** Makes a cluster CA for `cluster` (valid 2 days) with an operator's and an agent's credentials. */
export async function makeBenchCa(cluster = 'orbit'): Promise<BenchCa> {
  const dir = mkdtempSync(join(tmpdir(), 'orbit-bench-ca-'));
  const now = new Date();
  const ca = await createCa(cluster, now, 2);
  const caCertPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  writeFileSync(caCertPath, ca.certPem);
  writeFileSync(caKeyPath, ca.keyPem, { mode: 0o600 });
  const issue = async (kind: IdentityKind, name: string) => {
    const path = join(dir, `${kind}-${name}.credentials.json`);
    const credentials = writeCredentials(path, ca.certPem, await issueCertificate(ca, { identity: { cluster, kind, name }, now, validDays: 2 }));
    return { path, credentials };
  };
  const operator = await issue('operator', 'admin');
  const agent = await issue('agent', 'bench-fleet');
  return {
    dir,
    caCertPath,
    caKeyPath,
    masterFlags: ['--ca-cert', caCertPath, '--ca-key', caKeyPath],
    operatorCredentialsPath: operator.path,
    operator: { mode: 'tls', credentials: operator.credentials },
    agentCredentialsPath: agent.path,
  };
}
