/**
 * Agent attributes: labels such as `rack:r1;zone:us-east-1a` that frameworks use for placement.
 * Values are plain text; unlike Mesos there are no scalar or range attributes. What a name and a
 * value may hold is defined in names.ts.
 */
import { isValidName } from './names.js';

/** One label of an agent. */
export interface Attribute {
  name: string;
  value: string;
}

export type Attributes = readonly Attribute[];

/** Thrown by `parseAttributes` for malformed text; `part` is the offending piece. */
export class AttributeParseError extends Error {
  override readonly name = 'AttributeParseError';
  /** The piece of the text that is wrong, e.g. `rack` in `rack;zone:z1`. */
  readonly part: string;

  constructor(text: string, part: string, problem: string) {
    super(`invalid attributes '${text}': ${problem}`);
    this.part = part;
  }
}

/** Attributes of one agent. */
export const MAX_ATTRIBUTES = 100;

/**
 * Parses `NAME:VALUE;NAME:VALUE`, trimming spaces around names and values, in the given order.
 * Blank text gives []; empty items (`;;`, a trailing `;`) are skipped. As in Mesos, a value may
 * not contain `:` (nor `;`), and each name may appear once. Throws AttributeParseError.
 */
export function parseAttributes(text: string): Attributes {
  const fail = (part: string, problem: string): never => {
    throw new AttributeParseError(text, part, problem);
  };
  const out: Attribute[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(';')) {
    const item = raw.trim();
    if (item === '') continue;
    const colon = item.indexOf(':');
    if (colon < 0) fail(item, `expected NAME:VALUE, got '${item}'`);
    const name = item.slice(0, colon).trim();
    const value = item.slice(colon + 1).trim();
    if (name === '') fail(item, `'${item}' has an empty name`);
    if (!isValidName('attribute name', name)) fail(name, `'${name}' is not an attribute name ([A-Za-z0-9_.-]+, not starting with '.' or '-', at most 128)`);
    if (value === '') fail(item, `'${item}' has an empty value`);
    if (value.includes(':')) fail(item, `'${item}' has more than one ':' (a missing ';'?)`);
    if (!isValidName('attribute value', value)) fail(item, `'${item}' has a value with control characters or over 256 characters`);
    if (seen.has(name)) fail(name, `'${name}' is given twice`);
    seen.add(name);
    out.push({ name, value });
  }
  if (out.length > MAX_ATTRIBUTES) fail(text, `more than ${MAX_ATTRIBUTES} attributes`);
  return out;
}

/** The text form `rack:r1;zone:us-east-1a`, in the given order; [] gives ''. */
export function formatAttributes(a: Attributes): string {
  return a.map(({ name, value }) => `${name}:${value}`).join(';');
}
