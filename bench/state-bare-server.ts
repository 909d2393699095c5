/**
 * A bare grpc-js server for bench/state.ts's baseline: the AgentLink service with the master's
 * server options and a handler that only holds each stream open (no books, no replies). Run as
 * `node --expose-gc --import state-gc.js dist/bench/state-bare-server.js`; prints
 * `bare-server listening PORT`, then `bare-server streams N` whenever the count of streams that
 * have sent their first message changes (at most every 100 ms). Stops on SIGTERM.
 */
import * as grpc from '@grpc/grpc-js';
import { orbitV1, SERVER_OPTIONS } from '../src/common/proto.js';
import type { AgentMessage__Output } from '../src/gen/orbit/v1/AgentMessage.js';
import type { MasterMessage } from '../src/gen/orbit/v1/MasterMessage.js';

const server = new grpc.Server(SERVER_OPTIONS);
const open = new Set<grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>>();
let greeted = 0;
server.addService(orbitV1().AgentLink.service, {
  Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
    open.add(call);
    call.once('data', () => void greeted++);
    const gone = () => {
      if (open.delete(call)) greeted--;
    };
    call.on('error', gone);
    call.on('cancelled', gone);
    call.on('end', () => {
      gone();
      call.end();
    });
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`bare-server listening ${port}\n`);
});
let said = -1;
const ticker = setInterval(() => {
  if (greeted === said) return;
  said = greeted;
  process.stdout.write(`bare-server streams ${greeted}\n`);
}, 100);
process.once('SIGTERM', () => {
  clearInterval(ticker);
  server.forceShutdown();
});
