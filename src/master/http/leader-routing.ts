/**
 * The master's HTTP port, whoever leads: `/health` always answers for this master (its role, the
 * leader, what is wrong with etcd); while this master leads, every other path goes to the current
 * term's routes; while it does not, `/metrics` says only `orbit_master_leader 0` (so a scrape of
 * every master counts the cluster once) and every other path is redirected to the leader (307),
 * before the caller is checked, since only the leader holds the tokens — or 503 while none is known.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NotLeaderError } from '../../common/errors.js';
import { sendJson } from '../../common/http-json.js';
import type { RequestTarget } from '../../common/http-request.js';
import { STANDBY_METRICS } from '../metrics.js';
import type { Handler } from './router.js';

export interface LeaderRoutingOptions {
  /** The body of GET /health. */
  health: () => unknown;
  /** The current term's routes while this master leads; undefined otherwise. */
  leading: () => Handler | undefined;
  /** Why calls are refused now, and who leads. */
  refusal: () => NotLeaderError;
}

/** The handler for createJsonServer, and its `beforeAuth` hook. */
export function leaderRouting(options: LeaderRoutingOptions): {
  serve: Handler;
  beforeAuth: (req: IncomingMessage, res: ServerResponse, target: RequestTarget) => boolean;
} {
  const standby = (req: IncomingMessage, res: ServerResponse, target: RequestTarget): void => {
    if (target.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(STANDBY_METRICS);
      return;
    }
    const refused = options.refusal();
    const leader = refused.leader;
    if (!leader) return sendJson(res, 503, { error: refused.message, reason: 'NOT_LEADER' });
    res.writeHead(307, { location: leader.httpUrl + (req.url ?? '/'), 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: `this master is a standby; the leader is ${leader.httpUrl}`, reason: 'NOT_LEADER', leader }));
  };
  return {
    serve: (req, res, target) => {
      if (target.pathname === '/health') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not allowed on /health; use GET` });
        return sendJson(res, 200, options.health());
      }
      const route = options.leading();
      if (route) return route(req, res, target);
      standby(req, res, target);
    },
    beforeAuth: (req, res, target) => {
      if (target.pathname === '/health' || options.leading()) return false;
      standby(req, res, target);
      return true;
    },
  };
}
