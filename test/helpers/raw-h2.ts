/**
 * A raw HTTP/2 client over a TCP socket, for tests that must misbehave where grpc-js would not:
 * send half a preface, open more streams than the server allows, write frames by hand. Headers
 * are HPACK literals without indexing (RFC 7541 §6.2.2), so no table is kept on either side.
 */
import { connect, type Socket } from 'node:net';
import type { ClientSecurity } from '../../src/common/credentials.js';
import { OPERATOR, testTlsConnect } from './pki.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 } as const;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** One header as an HPACK literal without indexing, new name; names and values under 127 bytes. */
function literal(name: string, value: string): Buffer {
  if (name.length > 126 || value.length > 126) throw new RangeError('raw-h2 headers are short');
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

/** The HEADERS of a gRPC call to `path`. */
export function grpcHeaders(streamId: number, path: string): Buffer {
  const block = Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', 'http'),
    literal(':path', path),
    literal(':authority', 'raw-h2'),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
  ]);
  return frame(FRAME.HEADERS, END_HEADERS, streamId, block);
}

/** One gRPC message (uncompressed) as a DATA frame, ending the stream when `end`. */
export function grpcData(streamId: number, message: Buffer, end = true): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return frame(FRAME.DATA, end ? END_STREAM : 0, streamId, Buffer.concat([prefix, message]));
}

export class RawH2 {
  readonly frames: Frame[] = [];
  private buffered = Buffer.alloc(0);
  closed = false;
  readonly closedAt: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.take(chunk));
    socket.on('error', () => undefined);
    this.closedAt = new Promise((resolve) => socket.once('close', () => {
      this.closed = true;
      resolve();
    }));
  }

  /**
   * A connection to `port`: TLS with `security` (default the operator's; the test CA's master is
   * trusted), or plaintext for a master run with --insecure. With `handshake`, the preface and an
   * empty SETTINGS are sent at once.
   */
  static async open(port: number, handshake = true, security: ClientSecurity = OPERATOR): Promise<RawH2> {
    const socket: Socket =
      security.mode === 'tls'
        ? testTlsConnect(port, security, { ALPNProtocols: ['h2'] })
        : connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once(security.mode === 'tls' ? 'secureConnect' : 'connect', resolve);
      socket.once('error', reject);
    });
    const raw = new RawH2(socket);
    if (handshake) raw.send(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    return raw;
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Frames received of `type` (on `streamId`, when given). */
  received(type: number, streamId?: number): Frame[] {
    return this.frames.filter((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  }

  close(): void {
    this.socket.destroy();
  }

  private take(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) return;
      const f: Frame = { type: this.buffered[3]!, flags: this.buffered[4]!, streamId: this.buffered.readUInt32BE(5) & 0x7fffffff, payload: this.buffered.subarray(9, 9 + length) };
      this.buffered = this.buffered.subarray(9 + length);
      this.frames.push(f);
      // Acknowledge the server's SETTINGS and PINGs, as any peer must, so the connection stays up.
      if (f.type === FRAME.SETTINGS && !(f.flags & ACK)) this.send(frame(FRAME.SETTINGS, ACK, 0));
      if (f.type === FRAME.PING && !(f.flags & ACK)) this.send(frame(FRAME.PING, ACK, 0, f.payload));
    }
  }
}
