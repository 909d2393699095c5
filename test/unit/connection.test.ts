import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { isConnected, MasterClients, operatorClients, parseMasterList, statusReason } from '../../src/common/connection.js';
import { OPERATOR, testServerCredentials } from '../helpers/pki.js';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { orbitV1 } from '../../src/common/proto.js';
import { encodeStatusDetails, STATUS_DETAILS_KEY } from '../../src/common/status-details.js';
import type { OperatorClient } from '../../src/gen/orbit/v1/Operator.js';
import { freePorts } from '../helpers/cli.js';

t.test('parseMasterList reads one master or several, in order', async (t) => {
  const cases: [string, string, string[]][] = [
    ['one IPv4 address', '127.0.0.1:5050', ['127.0.0.1:5050']],
    ['a hostname', 'master-1.example.com:5050', ['master-1.example.com:5050']],
    ['an IPv6 address in brackets', '[::1]:5050', ['[::1]:5050']],
    ['the lowest and highest ports', 'a:1,b:65535', ['a:1', 'b:65535']],
    ['three masters, in the order given', 'h3:5050,h1:5050,h2:5050', ['h3:5050', 'h1:5050', 'h2:5050']],
    ['spaces around entries, dropped', ' h1:5050 , h2:5051 ', ['h1:5050', 'h2:5051']],
    ['one host on two ports', 'h:5050,h:5051', ['h:5050', 'h:5051']],
  ];
  for (const [behaviour, text, want] of cases) t.strictSame(parseMasterList(text), want, behaviour);
});

t.test('parseMasterList refuses a bad list, naming where it came from and the entry at fault', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['nothing', '', /^--master: the master address is empty; expected HOST:PORT/],
    ['no port', 'nohostport', /^--master: 'nohostport' has no port; expected HOST:PORT \(for example 127\.0\.0\.1:5050/],
    ['no host', ':5050', /^--master: ':5050' has no host/],
    ['port 0', 'h:0', /'h:0' has port '0': 1 to 65535/],
    ['a port over 65535', 'h:65536', /'h:65536' has port '65536': 1 to 65535/],
    ['a port that is not a number', 'h:50x', /has port '50x'/],
    ['a negative port', 'h:-1', /has port '-1'/],
    ['an IPv6 address without brackets', '::1:5050', /'::1:5050' has an IPv6 host without brackets \(\[::1\]:5050\)/],
    ['a host with a space', 'bad host:1', /'bad host:1' has host 'bad host': letters, digits/],
    ['a host with a slash', 'a/b:5050', /has host 'a\/b'/],
    ['a host with a control character', 'a\u0007b:5050', /has host 'a\\u0007b'/],
    ['a scheme', 'http://h:5050', /has host 'http:\/\/h'/],
    ['a host past 253 characters', `${'a'.repeat(254)}:5050`, /has a host of 254 characters; at most 253/],
    ['a trailing comma', 'h1:5050,', /^--master: entry 2 of 'h1:5050,' is empty/],
    ['an empty entry in the middle', 'h1:5050,,h2:5050', /entry 2 of 'h1:5050,,h2:5050' is empty/],
    ['a bad second entry', 'h1:5050,nope', /^--master: entry 2 of 'h1:5050,nope', 'nope' has no port/],
    ['a master listed twice', 'h1:5050,h2:5050,h1:5050', /entry 3 of 'h1:5050,h2:5050,h1:5050', 'h1:5050' is listed twice/],
  ];
  for (const [behaviour, text, problem] of cases) {
    const err = (() => {
      try {
        parseMasterList(text);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    t.type(err, InvalidArgumentError, behaviour);
    t.match((err as Error | undefined)?.message, problem, behaviour);
  }
  t.throws(() => parseMasterList('x', '$ORBIT_MASTER'), /^\$ORBIT_MASTER: 'x' has no port/, 'names the variable it came from');
  t.ok(String((() => { try { parseMasterList(`${'x'.repeat(10_000)}:1`); } catch (e) { return (e as Error).message; } return ''; })()).length < 400, 'quotes a long value cut short');
});

/** A stand-in client that records being closed. */
class FakeClient {
  closed = false;
  constructor(readonly address: string) {}
  close(): void {
    this.closed = true;
  }
}

function fakeClients(list: string): { clients: MasterClients<grpc.Client>; made: FakeClient[] } {
  const made: FakeClient[] = [];
  const clients = new MasterClients(parseMasterList(list), (address) => {
    const client = new FakeClient(address);
    made.push(client);
    return client as unknown as grpc.Client;
  });
  return { clients, made };
}

const addressOf = (client: grpc.Client): string => (client as unknown as FakeClient).address;

t.test('MasterClients talks to the first master until a connection attempt fails, then the next, round the list', async (t) => {
  const { clients, made } = fakeClients('a:1,b:2,c:3');
  t.equal(addressOf(clients.current), 'a:1', 'starts with the first');
  const order = [clients.address];
  for (let i = 0; i < 3; i++) {
    clients.failed(clients.current);
    order.push(clients.address);
  }
  t.strictSame(order, ['a:1', 'b:2', 'c:3', 'a:1'], 'moves down the list, and back to the first after the last');
  t.strictSame(made.map((c) => c.closed), [true, true, true, false], 'closes each client it leaves');
  clients.close();
  clients.close();
  t.ok(made.at(-1)?.closed, 'close() closes the client in use, once');
  t.equal(clients.failed(clients.current), clients.current, 'a failure after close() changes nothing');
  t.equal(made.length, 4, 'and makes no client');
});

t.test('MasterClients moves on once when several users of one client report the same failure', async (t) => {
  const { clients } = fakeClients('a:1,b:2,c:3');
  const shared = clients.current;
  const first = clients.failed(shared);
  const second = clients.failed(shared);
  t.equal(addressOf(first), 'b:2', 'the first report moves to the next master');
  t.equal(second, first, 'a later report about the client left behind is a no-op');
  t.equal(clients.address, 'b:2');
});

t.test('MasterClients follows a NOT_LEADER hint, listed or not, and stays put through a short election', async (t) => {
  const { clients, made } = fakeClients('a:1,b:2,c:3');
  const first = clients.current;
  t.equal(addressOf(clients.follow(first, 'c:3')), 'c:3', 'a listed leader: its client');
  t.equal(clients.follow(first, 'b:2'), clients.current, 'a hint about a client left behind is a no-op');
  t.equal(addressOf(clients.follow(clients.current, 'leader.example:5050')), 'leader.example:5050', 'an unlisted leader: its client too');
  t.equal(clients.follow(clients.current, 'leader.example:5050'), clients.current, 'a hint to where it is changes nothing');
  clients.failed(clients.current);
  t.equal(clients.address, 'c:3', 'after a failure of a hinted master, back to the list where it was');

  const before = made.length;
  const electing = clients.current;
  t.equal(clients.follow(electing, undefined, 1_000), electing, 'no hint: stays on the master (all would say the same)');
  t.equal(clients.follow(electing, undefined, 3_999), electing, 'for a while');
  t.equal(made.length, before, 'making no client');
  t.equal(addressOf(clients.follow(electing, undefined, 4_000)), 'a:1', 'then moves on: that master may be the one cut off from etcd');
  t.equal(clients.follow(clients.current, undefined, 4_001), clients.current, 'and gives the next one its own while');
});

t.test('MasterClients with one master keeps its one client', async (t) => {
  const { clients, made } = fakeClients('a:1');
  const only = clients.current;
  t.equal(clients.failed(only), only);
  t.equal(made.length, 1);
  t.notOk(made[0]?.closed, 'the client stays open');
});

t.test('a real client of a dead master and a live one reaches the live one after one failed attempt', async (t) => {
  const server = new grpc.Server();
  server.addService(orbitV1().Operator.service, {
    GetAgents: (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, { agents: [] }),
  });
  const live = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const [dead] = await freePorts(1);
  const clients = operatorClients(parseMasterList(`127.0.0.1:${dead},127.0.0.1:${live}`), OPERATOR);
  t.teardown(() => clients.close());
  const getAgents = (client: OperatorClient) =>
    new Promise<grpc.ServiceError | null>((resolve) => client.GetAgents({}, { deadline: Date.now() + 5_000 }, (err) => resolve(err)));

  const first = clients.current;
  const err = await getAgents(first);
  t.equal(err?.code, grpc.status.UNAVAILABLE, 'the dead master does not answer');
  t.notOk(isConnected(first), 'and its client is not connected');
  const next = clients.failed(first);
  t.equal(clients.address, `127.0.0.1:${live}`);
  t.equal(await getAgents(next), null, 'the live master answers');
  t.ok(isConnected(next), 'and its client is connected');
});

t.test('statusReason reads the typed reason of a refused call from its status details', async (t) => {
  const withDetails = (bytes: Buffer): { metadata: grpc.Metadata } => {
    const metadata = new grpc.Metadata();
    metadata.set(STATUS_DETAILS_KEY, bytes);
    return { metadata };
  };
  const cases: [string, { metadata?: grpc.Metadata } | undefined, string | undefined][] = [
    ['a refusal with its reason', withDetails(encodeStatusDetails(9, 'torn down', { reason: 'FRAMEWORK_REMOVED', metadata: {} })), 'FRAMEWORK_REMOVED'],
    ['no status details', { metadata: new grpc.Metadata() }, undefined],
    ['no metadata at all (a connection failure)', {}, undefined],
    ['no status', undefined, undefined],
    ['details that do not decode', withDetails(Buffer.from('not a status')), undefined],
  ];
  for (const [what, status, reason] of cases) t.equal(statusReason(status), reason, what);
});
