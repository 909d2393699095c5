import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { frameworkInfoToProto, taskToProto } from '../../src/common/codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import type { AgentMessage__Output } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { MasterMessage } from '../../src/gen/orbit/v1/MasterMessage.js';
import { frameworkInfo } from '../helpers/builders.js';
import { eventually, sleep, startAgentForTest } from '../helpers/cluster.js';
import { testServerCredentials } from '../helpers/pki.js';

t.test('an agent ignores commands from a master with a lower epoch than it has seen', async (t) => {
  const statuses: string[] = [];
  let stream: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage> | undefined;
  const server = new grpc.Server();
  server.addService(orbitV1().AgentLink.service, {
    Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
      stream = call;
      const take = (m: AgentMessage__Output) => {
        if (m.message === 'register') call.write({ epoch: '5', registered: { agentId: 'agent-epochs', heartbeatIntervalSeconds: 15 } });
        if (m.message === 'statusUpdate') statuses.push(`${m.statusUpdate?.status?.taskId}:${m.statusUpdate?.status?.state}`);
        if (m.message === 'batch') m.batch?.messages.forEach(take);
      };
      call.on('data', take);
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());

  const agent = await startAgentForTest(t, `127.0.0.1:${port}`);
  await agent.registered();
  t.equal(agent.link.epoch, 5);
  const framework = frameworkInfoToProto(frameworkInfo({ id: 'fw-epochs' }));
  const run = (taskId: string, epoch: string) =>
    stream!.write({ epoch, runTask: { framework, task: taskToProto(buildTask({ taskId, agentId: 'agent-epochs', resources: 'cpus:0.1;mem:32', command: 'true' })) } });

  run('from-stale-master', '4');
  run('from-current-master', '5');
  await eventually('the current master\'s task runs', () => statuses.includes('from-current-master:TASK_STARTING'));
  await sleep(300);
  t.notOk(agent.runner.find('from-stale-master'), 'the stale master\'s launch was ignored');
  t.notOk(statuses.some((s) => s.startsWith('from-stale-master')), 'and nothing was reported for it');
  t.equal(agent.link.epoch, 5, 'the highest epoch seen stays');

  // Commands ready together come as one batch; each keeps its own epoch.
  const runTask = (taskId: string) => ({ framework, task: taskToProto(buildTask({ taskId, agentId: 'agent-epochs', resources: 'cpus:0.1;mem:32', command: 'true' })) });
  stream!.write({ epoch: '5', batch: { messages: [{ epoch: '4', runTask: runTask('stale-in-batch') }, { epoch: '5', runTask: runTask('current-in-batch') }] } });
  await eventually('the batched current task runs', () => statuses.includes('current-in-batch:TASK_STARTING'));
  await sleep(300);
  t.notOk(agent.runner.find('stale-in-batch'), 'a stale command inside a batch is ignored too');
});
