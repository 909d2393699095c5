/**
 * Helpers for the services and jobs framework tests: a framework started in this process against
 * a test cluster (stopped at teardown), a tiny TCP server to run as an instance, and free ports
 * so that agents on one machine never hand out the same port.
 */
import { connect } from 'node:net';
import { ServicesFramework, type ServicesFrameworkOptions } from '../../src/frameworks/services/services-framework.js';
import { startServicesApi } from '../../src/frameworks/services/services-api.js';
import type { RunningApi } from '../../src/frameworks/common/api-server.js';
import { freePorts } from './cli.js';
import { tempDir, type TestLike } from './cluster.js';

/** A shell command that serves TCP on $PORT0 (127.0.0.1) until it gets SIGTERM. */
export const TCP_SERVER_COMMAND = `exec '${process.execPath}' -e 'require("net").createServer((s) => s.end()).listen(Number(process.env.PORT0), "127.0.0.1")'`;

/** Fast timers for the frameworks under test. */
export const FAST_FRAMEWORK = { pendingRefuseSeconds: 0.2, idleRefuseSeconds: 5, killResendMs: 2_000, reconnectBaseMs: 50, reconnectMaxMs: 500 } as const;

/** True when a TCP connection to 127.0.0.1:port opens within `timeoutMs`. */
export function tcpOpen(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** `ports:[a-a,b-b,...]` of `n` ports that are free now, for one agent. */
export async function freePortResource(n: number): Promise<string> {
  const ports = (await freePorts(n)).sort((a, b) => a - b);
  return `ports:[${ports.map((p) => `${p}-${p}`).join(',')}]`;
}

export interface ServicesUnderTest {
  fw: ServicesFramework;
  api: RunningApi;
  stateDir: string;
  /** Stops this framework process (its instances keep running) and starts another on the same state dir. */
  restart(): Promise<ServicesUnderTest>;
}

/** Starts a services framework and its API (port 0) in this process. */
export async function startServices(t: TestLike, master: string, options: Partial<ServicesFrameworkOptions> = {}, stateDir = tempDir(t, 'orbit-services-')): Promise<ServicesUnderTest> {
  const fw = new ServicesFramework({ master, stateDir, failoverTimeoutMs: 60_000, ...FAST_FRAMEWORK, ...options });
  const api = await startServicesApi(fw, '127.0.0.1', 0);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    fw.stop();
    await api.close();
  };
  t.teardown(stop);
  await fw.start();
  return {
    fw,
    api,
    stateDir,
    async restart() {
      await stop();
      return startServices(t, master, options, stateDir);
    },
  };
}
