/** The environment every task gets: its own env, then PORT0..n, PORTS and the ORBIT_* ids. */
import { rangesOf } from '../common/resources.js';
import type { TaskSpec } from '../common/tasks.js';

/** Expands the task's port ranges in order: [31000-31001, 31005] → 31000, 31001, 31005. */
export function taskPorts(task: TaskSpec): number[] {
  const ports: number[] = [];
  for (const r of rangesOf(task.resources, 'ports')) for (let p = r.begin; p <= r.end; p++) ports.push(p);
  return ports;
}

/** The complete environment for a task; Orbit's variables win over the task's own. */
export function taskEnvironment(task: TaskSpec, frameworkId: string, agentId: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...extra, ...task.command.env };
  const ports = taskPorts(task);
  ports.forEach((p, i) => {
    env[`PORT${i}`] = String(p);
  });
  if (ports.length > 0) env['PORT'] = String(ports[0]);
  env['PORTS'] = ports.join(',');
  env['ORBIT_TASK_ID'] = task.taskId;
  env['ORBIT_FRAMEWORK_ID'] = frameworkId;
  env['ORBIT_AGENT_ID'] = agentId;
  return env;
}
