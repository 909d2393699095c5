/**
 * The master's tokens, kept by a TokenSink — one JSON file in the work dir, replaced atomically
 * (embedded), or the registry in etcd (HA, so that every master that leads knows them); secrets
 * are kept only as SHA-256 hashes. A change is durable before it is made in memory. Two kinds:
 *   join  `ojt1.ID.SECRET.PIN`: how an agent gets its certificate without anyone copying keys; the
 *         pin of the cluster CA (kubeadm's discovery token CA hash) lets the agent check whom it is
 *         talking to before it sends the secret.
 *   api   `oat1.ID.SECRET`: a bearer token for the master's HTTP port (the dashboard, /state,
 *         /metrics), standing for the operator principal it was made for.
 * Tokens can expire and be revoked.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { PermissionDeniedError } from '../../common/errors.js';
import { formatJoinToken, parseJoinToken, type ParsedJoinToken } from '../../common/join-token.js';


/** What a listing shows of a token (never its secret). */
export interface JoinTokenInfo {
  id: string;
  /** Absent in files written before API tokens: join. */
  kind?: 'join' | 'api';
  /** An API token's principal (`operator:NAME`). */
  principal?: string;
  description: string;
  createdMs: number;
  /** 0: never. */
  expiresMs: number;
}

/** A token as kept: its info and the hash of its secret. */
export interface StoredToken extends JoinTokenInfo {
  /** Hex SHA-256 of the secret. */
  secretHash: string;
}

/** Where tokens are kept; `save` resolves once the list is durable. */
export interface TokenSink {
  save(tokens: readonly StoredToken[]): Promise<void>;
}

/** True when `value` is a list of stored tokens (the shape checked when one is read back). */
export function isTokenList(value: unknown): value is StoredToken[] {
  return Array.isArray(value) && value.every((t: Partial<StoredToken>) =>
    typeof t === 'object' && t !== null && typeof t.id === 'string' && typeof t.secretHash === 'string' && typeof t.description === 'string' && typeof t.createdMs === 'number' && typeof t.expiresMs === 'number');
}

/** The most tokens kept at once: enough for any fleet's joins; a leak past it is refused. */
export const MAX_JOIN_TOKENS = 1_000;
/** Longest lifetime a token may have: a year. */
export const MAX_TOKEN_TTL_MS = 365 * 86_400_000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const API_TOKEN = /^oat1\.([a-z0-9]{6})\.([a-z0-9]{32})$/;

function randomText(chars: number): string {
  const bytes = randomBytes(chars);
  return [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class JoinTokens {
  private constructor(private readonly sink: TokenSink, private tokens: readonly StoredToken[]) {}

  /** Reads the token file (an absent file is no tokens); a corrupt one throws naming it. */
  static open(path: string): JoinTokens {
    const sink: TokenSink = { save: async (tokens) => writeFileAtomic(path, `${JSON.stringify({ tokens }, null, 2)}\n`) };
    if (!existsSync(path)) return new JoinTokens(sink, []);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`join token file ${path} is corrupt (${(err as Error).message}); remove it to start with no tokens`);
    }
    const list = (parsed as { tokens?: unknown }).tokens;
    if (!isTokenList(list)) throw new Error(`join token file ${path} is not a token list; remove it to start with no tokens`);
    return new JoinTokens(sink, list);
  }

  /** Tokens already read back (and shape-checked) from elsewhere, kept by `sink` from now on. */
  static of(tokens: readonly StoredToken[], sink: TokenSink): JoinTokens {
    return new JoinTokens(sink, tokens);
  }

  /** Tokens not yet expired, oldest first. */
  list(nowMs: number): JoinTokenInfo[] {
    return this.tokens.filter((t) => t.expiresMs === 0 || t.expiresMs > nowMs).map(({ secretHash: _, ...info }) => info);
  }

  /** Makes a token; `ttlMs` 0 never expires. Durable before it is returned. Expired tokens are dropped. */
  async create(options: { ttlMs: number; description: string; nowMs: number; pin: string; api?: { principal: string } }): Promise<{ token: string; info: JoinTokenInfo }> {
    if (!(options.ttlMs >= 0 && options.ttlMs <= MAX_TOKEN_TTL_MS)) throw new Error(`a join token lives 0 (never expires) to ${MAX_TOKEN_TTL_MS / 86_400_000} days`);
    const live = this.tokens.filter((t) => t.expiresMs === 0 || t.expiresMs > options.nowMs);
    if (live.length >= MAX_JOIN_TOKENS) throw new Error(`there are ${live.length} join tokens already, the most kept; revoke some first`);
    let id = randomText(6);
    while (live.some((t) => t.id === id)) id = randomText(6);
    const api = options.api;
    const secret = randomText(api ? 32 : 24);
    const info: JoinTokenInfo = {
      id,
      kind: api ? 'api' : 'join',
      ...(api ? { principal: api.principal } : {}),
      description: options.description,
      createdMs: options.nowMs,
      expiresMs: options.ttlMs === 0 ? 0 : options.nowMs + options.ttlMs,
    };
    await this.save([...live, { ...info, secretHash: hash(secret) }]);
    return { token: api ? `oat1.${id}.${secret}` : formatJoinToken(id, secret, options.pin), info };
  }

  /** Revokes a token by id (durably); false when there is none. */
  async revoke(id: string): Promise<boolean> {
    const kept = this.tokens.filter((t) => t.id !== id);
    if (kept.length === this.tokens.length) return false;
    await this.save(kept);
    return true;
  }

  /**
   * The token `text` names, if it is live and its secret right; else PermissionDeniedError with
   * reason INVALID_TOKEN (the same words for a wrong secret and an unknown id).
   */
  check(text: string, nowMs: number, pin: string): JoinTokenInfo {
    let parsed: ParsedJoinToken;
    try {
      parsed = parseJoinToken(text);
    } catch (err) {
      throw new PermissionDeniedError((err as Error).message, 'INVALID_TOKEN');
    }
    if (parsed.pin !== pin) throw new PermissionDeniedError("the token's CA hash is not this cluster's CA", 'INVALID_TOKEN');
    const stored = this.tokens.find((t) => t.id === parsed.id && (t.kind ?? 'join') === 'join');
    const given = Buffer.from(hash(parsed.secret), 'hex');
    if (!stored || !timingSafeEqual(Buffer.from(stored.secretHash, 'hex'), given)) throw new PermissionDeniedError(`join token ${parsed.id} is unknown or revoked`, 'INVALID_TOKEN');
    if (stored.expiresMs !== 0 && stored.expiresMs <= nowMs) throw new PermissionDeniedError(`join token ${parsed.id} expired at ${new Date(stored.expiresMs).toISOString()}; make a new one with 'orbit token create'`, 'INVALID_TOKEN');
    const { secretHash: _, ...info } = stored;
    return info;
  }

  /** The principal of a live API token, or undefined (for anything else: never a throw). */
  apiPrincipal(text: string, nowMs: number): string | undefined {
    const match = API_TOKEN.exec(text);
    if (!match) return undefined;
    const stored = this.tokens.find((t) => t.id === match[1] && t.kind === 'api');
    if (!stored || (stored.expiresMs !== 0 && stored.expiresMs <= nowMs)) return undefined;
    return timingSafeEqual(Buffer.from(stored.secretHash, 'hex'), Buffer.from(hash(match[2]!), 'hex')) ? stored.principal : undefined;
  }

  private async save(tokens: readonly StoredToken[]): Promise<void> {
    await this.sink.save(tokens);
    this.tokens = tokens;
  }
}
