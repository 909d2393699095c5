/**
 * The text of a join token, `ojt1.ID.SECRET.PIN`: shared by the master that makes and checks them
 * (master/security/join-tokens.ts) and the agent that joins with one (agent/enrollment.ts).
 */
import { quote } from './echo.js';

/** The parts of a token as typed. */
export interface ParsedJoinToken {
  id: string;
  secret: string;
  /** `sha256:HEX`, the form caPin() gives. */
  pin: string;
}

const TOKEN = /^ojt1\.([a-z0-9]{6})\.([a-z0-9]{24})\.([0-9a-f]{64})$/;

/** Parses a join token; throws an Error saying what a token looks like. */
export function parseJoinToken(text: string): ParsedJoinToken {
  const match = TOKEN.exec(text.trim());
  if (!match) throw new Error(`${quote(text)} is not a join token: expected ojt1.ID.SECRET.CA-HASH as 'orbit master' printed it (or 'orbit token create' made it)`);
  const [, id, secret, pin] = match as unknown as [string, string, string, string];
  return { id, secret, pin: `sha256:${pin}` };
}

/** The token text for `id`, `secret` and a CA pin. */
export function formatJoinToken(id: string, secret: string, pin: string): string {
  return `ojt1.${id}.${secret}.${pin.replace(/^sha256:/, '')}`;
}
