import t from 'tap';
import { readPreface } from '../../src/master/rpc/connection-guard.js';
import { frame, FRAME, PREFACE } from '../helpers/raw-h2.js';

const settings = (payload: number) => frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(payload));

t.test('a connection\'s first bytes are a handshake, part of one, or not HTTP/2', async (t) => {
  const cases: [string, Buffer, ReturnType<typeof readPreface> | RegExp][] = [
    ['nothing yet', Buffer.alloc(0), 'partial'],
    ['half the preface', PREFACE.subarray(0, 12), 'partial'],
    ['the preface alone', PREFACE, 'partial'],
    ['the preface and part of a SETTINGS header', Buffer.concat([PREFACE, settings(0).subarray(0, 4)]), 'partial'],
    ['the preface and a SETTINGS frame missing its last byte', Buffer.concat([PREFACE, settings(12).subarray(0, 20)]), 'partial'],
    ['the preface and an empty SETTINGS frame', Buffer.concat([PREFACE, settings(0)]), 'complete'],
    ['the preface and two settings, with more frames behind', Buffer.concat([PREFACE, settings(12), frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.alloc(4))]), 'complete'],
    ['an HTTP/1.1 request', Buffer.from('GET / HTTP/1.1\r\n'), /not the HTTP\/2 client preface/],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), /not the HTTP\/2 client preface/],
    ['a preface that goes wrong halfway', Buffer.concat([PREFACE.subarray(0, 10), Buffer.from('X')]), /not the HTTP\/2 client preface/],
    ['a PING before SETTINGS', Buffer.concat([PREFACE, frame(FRAME.PING, 0, 0, Buffer.alloc(8))]), /first frame is type 6, not SETTINGS/],
    ['SETTINGS of 7 bytes', Buffer.concat([PREFACE, settings(7)]), /a SETTINGS frame of 7 bytes/],
    ['SETTINGS larger than a first frame may be', Buffer.concat([PREFACE, settings(0).subarray(0, 9)]).fill(0xff, 24, 27), /SETTINGS frame of 16777215 bytes/],
  ];
  for (const [name, bytes, expected] of cases) {
    const got = readPreface(bytes);
    if (expected instanceof RegExp) t.match(typeof got === 'object' ? got.invalid : got, expected, name);
    else t.equal(got, expected, name);
  }
});
