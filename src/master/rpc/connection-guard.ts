/**
 * The master's gRPC listener, with a handshake timeout grpc-js does not have. grpc-js turns off
 * Node's HTTP/2 timeouts; only its keepalive ping ever closes a connection that never speaks
 * HTTP/2 (after keepalive time + timeout, and not at all if keepalives are turned down). So the
 * master owns the TCP listener: each new connection must send the HTTP/2 client preface and its
 * first SETTINGS frame within the timeout, or it is closed; bytes that cannot be a preface close it
 * at once. Once the handshake is in, the bytes are put back on the socket and the socket is handed
 * to grpc-js through its public connection injector (`Server.createConnectionInjector`), which
 * serves it as if grpc-js had accepted it; Node's HTTP/2 session reads what was put back first.
 *
 * Under TLS (the default) a Node TLS server does the handshake first, with the same timeout
 * (`handshakeTimeout`): it asks for a client certificate but does not require one (an agent joining
 * has none yet; every call other than Join then needs one, see security/master-security.ts), and
 * the preface is read from the decrypted socket. grpc-js is handed that TLSSocket through an
 * injector made with insecure credentials, so it does not wrap it again; its calls still see the
 * peer's certificate (`getAuthContext()` looks at the session's socket). A plaintext client on a
 * TLS port fails the handshake and is closed.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type PeerCertificate, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Logger } from '../../common/logging.js';

/** What every HTTP/2 client sends first (RFC 9113 §3.4), then a SETTINGS frame. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const SETTINGS_FRAME = 0x4;
/** The largest frame a peer may send before it has seen ours (SETTINGS_MAX_FRAME_SIZE's initial value). */
const MAX_INITIAL_FRAME_BYTES = 16_384;

/**
 * The verified client certificate of each live TLS connection (null: none, or not verified), by
 * grpc-js' peer string `ADDRESS:PORT`: read once at the handshake, so a call need not ask its
 * socket again (getPeerCertificate builds the whole certificate, fingerprints included, each time).
 */
export class PeerCertificates {
  private readonly byPeer = new Map<string, PeerCertificate | null>();

  /** The certificate of the connection a call came on; undefined when this listener does not know it. */
  get(peer: string): PeerCertificate | null | undefined {
    return this.byPeer.get(peer);
  }

  /** Records `socket`'s certificate until it closes. */
  track(socket: TLSSocket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
    this.byPeer.set(peer, cert?.raw ? cert : null);
    socket.once('close', () => this.byPeer.delete(peer));
  }
}

export interface GrpcListener {
  port: number;
  /** Client certificates of the live TLS connections (empty without TLS). */
  peers: PeerCertificates;
  /** Stops accepting, closes connections still in their handshake and every served one. Idempotent. */
  close(): void;
}

export interface ListenOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  handshakeTimeoutMs: number;
  log: Logger;
  /** The master's certificate chain, key and the cluster CA; absent only under `--insecure`. */
  tls?: TlsOptions | undefined;
}

/** How far a connection's first bytes are: more needed, a complete handshake, or not HTTP/2. */
type Preface = 'partial' | 'complete' | { invalid: string };

/** Reads the client preface and the SETTINGS frame that must follow it, from what has arrived. */
export function readPreface(bytes: Buffer): Preface {
  const magic = Math.min(bytes.length, PREFACE.length);
  if (!bytes.subarray(0, magic).equals(PREFACE.subarray(0, magic))) return { invalid: 'not the HTTP/2 client preface' };
  if (bytes.length < PREFACE.length + FRAME_HEADER_BYTES) return 'partial';
  const header = bytes.subarray(PREFACE.length);
  const length = header.readUIntBE(0, 3);
  if (header[3] !== SETTINGS_FRAME) return { invalid: `first frame is type ${header[3]}, not SETTINGS` };
  if (length % 6 !== 0 || length > MAX_INITIAL_FRAME_BYTES) return { invalid: `a SETTINGS frame of ${length} bytes` };
  return bytes.length >= PREFACE.length + FRAME_HEADER_BYTES + length ? 'complete' : 'partial';
}

/**
 * Holds `socket` until its handshake is in, then calls `handOver` with the bytes put back; closes
 * it after `timeoutMs` or on bytes that are not HTTP/2. Calls `settled` once either way.
 */
function guard(socket: Socket, timeoutMs: number, handOver: () => void, settled: () => void, log: Logger): void {
  const chunks: Buffer[] = [];
  let done = false;
  const finish = (outcome: 'handed over' | string): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    settled();
    if (outcome === 'handed over') {
      socket.off('error', ignore);
      socket.pause();
      socket.unshift(Buffer.concat(chunks));
      handOver();
    } else {
      log.debug({ address: socket.remoteAddress, port: socket.remotePort }, `gRPC connection closed: ${outcome}`);
      socket.destroy();
    }
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    const preface = readPreface(chunks.length === 1 ? chunk : Buffer.concat(chunks));
    if (preface === 'complete') finish('handed over');
    else if (preface !== 'partial') finish(preface.invalid);
  };
  const onClose = (): void => finish('closed by the peer');
  const ignore = (): void => undefined;
  const timer = setTimeout(() => finish(`no HTTP/2 handshake within ${timeoutMs} ms`), timeoutMs);
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', ignore);
}

/** Listens for `server`'s gRPC connections with the handshake guard in front. */
export async function listenForGrpc(server: grpc.Server, options: ListenOptions): Promise<GrpcListener> {
  // TLS, when on, is done here: grpc-js is handed sockets that are secure already.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const pending = new Set<Socket>();
  const tls = options.tls
    ? createTlsServer({ ...options.tls, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2'], handshakeTimeout: options.handshakeTimeoutMs })
    : undefined;
  const peers = new PeerCertificates();
  tls?.on('secureConnection', (secure: TLSSocket) => {
    peers.track(secure);
    guard(secure, options.handshakeTimeoutMs, () => injector.injectConnection(secure), () => undefined, options.log);
  });
  // A failed or timed-out handshake (plaintext, a bad ClientHello, silence): closed here.
  tls?.on('tlsClientError', (err, socket) => {
    options.log.debug({ address: socket.remoteAddress, port: socket.remotePort }, `gRPC connection closed: TLS: ${err.message}`);
    socket.destroy();
  });
  const listener: Server = createServer((socket) => {
    pending.add(socket);
    if (tls) {
      // Tracked until closed: the TLS socket over it lives and dies with it.
      socket.once('close', () => pending.delete(socket));
      tls.emit('connection', socket);
    } else {
      guard(socket, options.handshakeTimeoutMs, () => injector.injectConnection(socket), () => pending.delete(socket), options.log);
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, options.host, () => {
      listener.off('error', reject);
      const address = listener.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  let closed = false;
  return {
    port,
    peers,
    close() {
      if (closed) return;
      closed = true;
      listener.close();
      for (const socket of pending) socket.destroy();
      pending.clear();
      injector.destroy();
    },
  };
}
