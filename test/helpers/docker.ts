/**
 * Helpers for e2e tests against the real Docker engine (started by scripts/start-dockerd). There
 * is no image registry here: the test image is built locally by scripts/build-test-images.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LABEL_AGENT_ID, LABEL_TASK_ID } from '../../src/agent/containerizer/docker.js';

/** The local test image: a static busybox with a link for every applet. */
export const TEST_IMAGE = 'orbit-test/busybox:latest';
/**
 * Seconds an OOM test's container waits before it allocates: containerd starts watching a
 * container's OOM events only after starting it, so a kill in the first milliseconds can go unseen.
 */
export const OOM_DELAY_S = 0.5;
/** A registry on a closed loopback port: the pull fails at once and no traffic leaves the host. */
export const UNPULLABLE_IMAGE = '127.0.0.1:1/orbit-test/absent:latest';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Checks that a Docker engine answers and builds the test image (a no-op when it exists).
 * Returns undefined when all is ready, else a message saying what is wrong, for `t.fail`.
 */
export function prepareDocker(): string | undefined {
  const info = spawnSync('docker', ['info'], { encoding: 'utf8' });
  if (info.error || info.status !== 0) {
    const why = info.error ? info.error.message : info.stderr.trim();
    return `no Docker engine answers 'docker info' (start one with scripts/start-dockerd): ${why}`;
  }
  try {
    execFileSync(join(REPO_ROOT, 'scripts/build-test-images'), { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    return `scripts/build-test-images failed: ${err instanceof Error ? err.message : String(err)}\n${stderr}`;
  }
  return undefined;
}

/** Ids of the containers (running or not) that carry `label=value`. */
function containersLabelled(label: string, value: string): string[] {
  const out = spawnSync('docker', ['ps', '-a', '--filter', `label=${label}=${value}`, '-q'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`docker ps failed: ${out.stderr.trim()}`);
  return out.stdout.split('\n').filter(Boolean);
}

/** Ids of the containers, running or exited, that Orbit labelled with this task id. */
export function containersOfTask(taskId: string): string[] {
  return containersLabelled(LABEL_TASK_ID, taskId);
}

/** Force-removes every container Orbit labelled with this agent id (test cleanup; never throws). */
export function removeAgentContainers(agentId: string): void {
  if (!agentId) return;
  try {
    const ids = containersLabelled(LABEL_AGENT_ID, agentId);
    if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids]);
  } catch {
    // Cleanup only: a failing engine is reported by the tests themselves.
  }
}
