/**
 * How every Orbit client reaches the masters, in one place (STYLE.md 19): the master list, the
 * channel credentials and options, the clients of each service, and the typed reason a refused
 * call carries. Channels are mutual TLS with the client's credentials (common/credentials.ts),
 * trusting only the cluster CA and only a master's certificate of the same cluster; plaintext only
 * when the caller asked for `--insecure`. A client moves down the list when a connection attempt
 * fails, and to the leader a standby names when it answers NOT_LEADER.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentLinkClient } from '../gen/orbit/v1/AgentLink.js';
import type { OperatorClient } from '../gen/orbit/v1/Operator.js';
import type { SchedulerClient as SchedulerStub } from '../gen/orbit/v1/Scheduler.js';
import type { CertificatesClient } from '../gen/orbit/v1/Certificates.js';
import type { ClientSecurity } from './credentials.js';
import { identityFromAltNames, principalText, type IdentityKind } from './pki.js';
import { quote } from './echo.js';
import { InvalidArgumentError, type ErrorReason } from './errors.js';
import { orbitV1 } from './proto.js';
import { decodeStatusDetails, STATUS_DETAILS_KEY } from './status-details.js';

/** Masters, as `HOST:PORT` targets in the order a client tries them; never empty. */
export type MasterList = readonly [string, ...string[]];

// A hostname or IPv4 address (letters, digits, '_', '.', '-'), or an IPv6 address in brackets.
const HOST = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const IPV6 = /^\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]$/;
/** The longest host accepted: a DNS name's limit. */
const MAX_HOST_CHARS = 253;
const EXAMPLE = 'for example 127.0.0.1:5050, or h1:5050,h2:5050 for several masters';

/** Why one `HOST:PORT` entry is not one, or undefined when it is. */
function addressProblem(entry: string): string | undefined {
  const colon = entry.lastIndexOf(':');
  if (colon < 0) return 'has no port';
  const host = entry.slice(0, colon);
  const port = entry.slice(colon + 1);
  if (host === '') return 'has no host';
  if (host.length > MAX_HOST_CHARS) return `has a host of ${host.length} characters; at most ${MAX_HOST_CHARS}`;
  if (!HOST.test(host) && !IPV6.test(host)) {
    return /^[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*$/.test(host) ? 'has an IPv6 host without brackets ([::1]:5050)' : `has host ${quote(host)}: letters, digits, '_', '.' and '-', or an IPv6 address in brackets`;
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) return `has port ${quote(port)}: 1 to 65535`;
  return undefined;
}

/**
 * Parses `HOST:PORT[,HOST:PORT...]`. Throws InvalidArgumentError naming `source` (the flag or
 * variable it came from) and the entry at fault; an entry listed twice is refused too.
 */
export function parseMasterList(text: string, source = '--master'): MasterList {
  const entries = text.split(',').map((e) => e.trim());
  const several = entries.length > 1;
  const seen = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const which = several ? `entry ${i + 1} of ${quote(text)}, ${quote(entry)}` : quote(entry);
    if (entry === '') throw new InvalidArgumentError(source, `${several ? `entry ${i + 1} of ${quote(text)}` : 'the master address'} is empty; expected HOST:PORT (${EXAMPLE})`);
    const problem = addressProblem(entry);
    if (problem !== undefined) throw new InvalidArgumentError(source, `${which} ${problem}; expected HOST:PORT (${EXAMPLE})`);
    if (seen.has(entry)) throw new InvalidArgumentError(source, `${which} is listed twice`);
    seen.add(entry);
  }
  return entries as unknown as MasterList;
}

/** True when `text` names masters through etcd (`etcd://HOST:PORT[,...]`) rather than listing them. */
export function isEtcdMasters(text: string): boolean {
  return text.startsWith('etcd://');
}

/**
 * Checks `--master`'s value without connecting: a master list, or `etcd://HOST:PORT[,...]`.
 * Returns it normalised; throws InvalidArgumentError naming `source`.
 */
export function checkMasterSpec(text: string, source = '--master'): string {
  if (!isEtcdMasters(text)) return formatMasterList(parseMasterList(text, source));
  parseEtcdUrl(text, source);
  return text;
}

/** The etcd endpoints of `etcd://HOST:PORT[,HOST:PORT...]`, as `http://HOST:PORT` URLs. */
export function parseEtcdUrl(text: string, source = '--registry'): string[] {
  const prefix = 'etcd://';
  if (!text.startsWith(prefix)) throw new InvalidArgumentError(source, `${quote(text)} is not an etcd URL; expected etcd://HOST:PORT[,HOST:PORT...]`);
  const hosts = text.slice(prefix.length).split(',');
  return hosts.map((host, i) => {
    const at = hosts.length > 1 ? `entry ${i + 1}, ${quote(host)},` : quote(host);
    const m = /^([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(host);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65_535) throw new InvalidArgumentError(source, `${at} is not HOST:PORT with a port from 1 to 65535 (etcd://127.0.0.1:2379)`);
    return `http://${host}`;
  });
}


/**
 * The masters `text` names: a `HOST:PORT[,...]` list as it is, or for `etcd://HOST:PORT[,...]`
 * the live masters of `cluster` read from etcd, the leader first (read once: a client follows the
 * leader among them from then on). Throws InvalidArgumentError naming `source` when the text is
 * malformed or etcd lists no master.
 */
export async function resolveMasterList(text: string, source: string, cluster: string): Promise<MasterList> {
  if (!isEtcdMasters(text)) return parseMasterList(text, source);
  // Loaded only for etcd://: most clients never need the etcd client.
  const { readMasters } = await import('./etcd-client.js');
  const endpoints = parseEtcdUrl(text, source);
  let masters: { address: string }[];
  try {
    masters = await readMasters(endpoints, cluster);
  } catch (err) {
    throw new InvalidArgumentError(source, `cannot read the masters of cluster ${quote(cluster)} from ${quote(text)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (masters.length === 0) throw new InvalidArgumentError(source, `etcd at ${quote(text)} lists no master of cluster ${quote(cluster)}: is one running with --registry ${text}?`);
  return parseMasterList([...new Set(masters.map((m) => m.address))].join(','), `${source} (read from etcd)`);
}

/** The cluster a client's credentials belong to ('orbit' under --insecure). */
export function clusterOf(security: ClientSecurity): string {
  return security.mode === 'tls' ? security.credentials.identity.cluster : 'orbit';
}

/** The list as `--master` takes it. */
export function formatMasterList(masters: MasterList): string {
  return masters.join(',');
}

// ---- credentials and options ------------------------------------------------------------------

/**
 * Checks that a server's certificate names one of `kinds` (a master; for HTTP, an agent too) of
 * `cluster` (any cluster when undefined: an agent joining does not know it yet). Used instead of a
 * host name check: servers are reached by whatever address an operator typed (an IP, a VM name, a
 * load balancer), and only the cluster CA, which the client trusts alone, can issue those identities.
 */
export function checkServerIdentity(cluster: string | undefined, kinds: readonly IdentityKind[], altNames: string | undefined): Error | undefined {
  const identity = identityFromAltNames(altNames);
  if (identity && kinds.includes(identity.kind) && (cluster === undefined || identity.cluster === cluster)) return undefined;
  const expected = `a ${kinds.join(' or ')} of ${cluster === undefined ? 'an Orbit cluster' : `cluster ${quote(cluster)}`}`;
  return new Error(`the server's certificate names ${identity ? `${principalText(identity)} of cluster ${quote(identity.cluster)}` : 'no Orbit identity'}, not ${expected}`);
}

/** The credentials of every client channel to a master. */
export function channelCredentials(security: ClientSecurity): grpc.ChannelCredentials {
  if (security.mode === 'insecure') return grpc.credentials.createInsecure();
  const { caPem, keyPem, certPem, identity } = security.credentials;
  return grpc.credentials.createSsl(Buffer.from(caPem), Buffer.from(keyPem), Buffer.from(certPem), {
    checkServerIdentity: (_host, cert) => checkServerIdentity(identity.cluster, ['master'], cert.subjectaltname),
  });
}

/**
 * Channel options shared by every Orbit client: keepalives notice a dead peer. Clients take up to
 * 64 MiB from the master, more than the master takes from them (master/rpc/wire-limits.ts): they
 * trust the master they chose, and what it sends grows with the cluster (GetState of thousands of
 * agents, a cycle's offers for all of them in one batch).
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  // The TLS server name sent: masters are checked by the identity in their certificate, not by
  // host name (checkServerIdentity), and an IP address is not a valid server name (RFC 6066).
  'grpc.ssl_target_name_override': 'orbit-master',
};

// ---- clients ----------------------------------------------------------------------------------

/**
 * A client of one master at a time: the first of the list, until a connection attempt through it
 * fails (then the next; after the last, the first again) or the master says it does not lead (then
 * the leader it names, listed or not, or else the next). Several users may share one (a fleet's
 * agents share a few connections): the first to report a failure moves them all.
 */
export class MasterClients<C extends grpc.Client> {
  private index = 0;
  /** The address in use when it came from a leader hint rather than the list. */
  private hinted: string | undefined;
  /** Since when the master in use has answered NOT_LEADER without naming a leader. */
  private hintlessSince: number | undefined;
  private client: C;
  private closed = false;

  constructor(readonly masters: MasterList, private readonly make: (address: string) => C) {
    this.client = make(masters[0]);
  }

  /** The client in use. */
  get current(): C {
    return this.client;
  }

  /** The master the client in use talks to. */
  get address(): string {
    return this.hinted ?? this.masters[this.index]!;
  }

  /**
   * Reports that a connection attempt through `client` failed, and returns the client to use now:
   * the next master's (the failed one is closed). A no-op when `client` is not the one in use (a
   * user sharing it moved on already), when there is only one master, or after close().
   */
  failed(client: C): C {
    if (client !== this.client || this.closed) return this.client;
    if (this.hinted === undefined && this.masters.length === 1) return this.client;
    if (this.hinted === undefined) this.index = (this.index + 1) % this.masters.length;
    this.hinted = undefined;
    return this.replace();
  }

  /**
   * Reports that the master behind `client` does not lead, and returns the client to use now: the
   * leader's (`leader`, from the refusal's hint); with no hint, the same one, until that master has
   * named no leader for HINTLESS_MOVE_MS, then the next of the list. A no-op when `client` is not
   * the one in use, or when the hint is where it already is.
   */
  follow(client: C, leader: string | undefined, now = Date.now()): C {
    if (client !== this.client || this.closed) return this.client;
    if (leader === undefined) {
      // An election under way: every master would say the same, and moving would cut off every
      // stream sharing this client. Move on only when this master has named no leader for a while
      // (it may be the one that cannot reach etcd).
      this.hintlessSince ??= now;
      if (now - this.hintlessSince < HINTLESS_MOVE_MS) return this.client;
      return this.failed(client);
    }
    this.hintlessSince = undefined;
    if (leader === this.address) return this.client;
    const listed = this.masters.indexOf(leader);
    if (listed >= 0) {
      this.index = listed;
      this.hinted = undefined;
    } else {
      this.hinted = leader;
    }
    return this.replace();
  }

  /** Closes the client in use; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private replace(): C {
    this.hintlessSince = undefined;
    this.client.close();
    this.client = this.make(this.address);
    return this.client;
  }
}

/** True while `client` has a live connection to its master: a call that failed then was answered. */
export function isConnected(client: grpc.Client): boolean {
  return client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
}

/** Scheduler clients, for a framework's SDK. */
export function schedulerClients(masters: MasterList, security: ClientSecurity): MasterClients<SchedulerStub> {
  return new MasterClients(masters, (address) => new (orbitV1().Scheduler)(address, channelCredentials(security), CHANNEL_OPTIONS));
}

/** Operator clients, for the CLI. */
export function operatorClients(masters: MasterList, security: ClientSecurity): MasterClients<OperatorClient> {
  return new MasterClients(masters, (address) => new (orbitV1().Operator)(address, channelCredentials(security), CHANNEL_OPTIONS));
}

/** Certificates clients, for the CLI's `cert` and `token` commands and an agent's renewal. */
export function certificatesClients(masters: MasterList, security: ClientSecurity): MasterClients<CertificatesClient> {
  return new MasterClients(masters, (address) => new (orbitV1().Certificates)(address, channelCredentials(security), CHANNEL_OPTIONS));
}

/**
 * A Certificates client for an agent joining: it has no certificate yet, so it trusts the CA whose
 * pin the join token carried (fetched and checked by the caller) and presents none.
 */
export function joinClient(address: string, caPem: string): CertificatesClient {
  const credentials = grpc.credentials.createSsl(Buffer.from(caPem), null, null, {
    checkServerIdentity: (_host, cert) => checkServerIdentity(undefined, ['master'], cert.subjectaltname),
  });
  return new (orbitV1().Certificates)(address, credentials, CHANNEL_OPTIONS);
}

/** An AgentLink client on a connection of its own (a fleet shares a few among its agents). */
export function agentLinkClients(masters: MasterList, security: ClientSecurity): MasterClients<AgentLinkClient> {
  return new MasterClients(masters, (address) => newAgentLinkClient(address, security));
}

/** One AgentLink client for `address`, on a connection of its own. */
export function newAgentLinkClient(address: string, security: ClientSecurity): AgentLinkClient {
  // A distinct option keeps grpc-js from pooling this client's connection with another client's.
  return new (orbitV1().AgentLink)(address, channelCredentials(security), {
    ...CHANNEL_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
    // Notice a restarted master within a second, and never wait more than 3 s to try again.
    'grpc.initial_reconnect_backoff_ms': 500,
    'grpc.max_reconnect_backoff_ms': 3_000,
    // Notice a master that stopped answering (paused, or cut off) within about 10 s: in HA another
    // leads by then. Not sooner: a master busy for a few seconds (thousands of agents
    // re-registering at once) must not have every agent of a connection cut off and re-register
    // again. (grpc-js servers take pings at any rate; Node answers them in its HTTP/2 layer.)
    'grpc.keepalive_time_ms': 5_000,
    'grpc.keepalive_timeout_ms': 5_000,
  });
}

// ---- refusals ---------------------------------------------------------------------------------

/**
 * What a NOT_LEADER refusal says: `{ leader }` with the leader's HOST:PORT when the master named a
 * well-formed one, `{}` when it knows none; undefined for any other outcome.
 */
export function notLeaderHint(status: { metadata?: grpc.Metadata | undefined } | undefined): { leader?: string } | undefined {
  const [bytes] = status?.metadata?.get(STATUS_DETAILS_KEY) ?? [];
  const detail = bytes instanceof Uint8Array ? decodeStatusDetails(bytes) : undefined;
  if (detail?.reason !== 'NOT_LEADER') return undefined;
  const leader = detail.metadata['leader'];
  return leader !== undefined && addressProblem(leader) === undefined ? { leader } : {};
}

/** How soon a client asks again after a NOT_LEADER that named no leader (an election is under way). */
export const NOT_LEADER_RETRY_MS = 250;
/** How long a master may answer NOT_LEADER without naming a leader before a client tries the next. */
export const HINTLESS_MOVE_MS = 3_000;

/**
 * The typed reason of a refused call or stream, from the status details the master puts in its
 * trailers; undefined when there is none (a connection failure, a reason this build does not know).
 */
export function statusReason(status: { metadata?: grpc.Metadata | undefined } | undefined): ErrorReason | undefined {
  const [bytes] = status?.metadata?.get(STATUS_DETAILS_KEY) ?? [];
  return bytes instanceof Uint8Array ? decodeStatusDetails(bytes)?.reason : undefined;
}
