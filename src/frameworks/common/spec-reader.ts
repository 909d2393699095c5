/**
 * Reading a user's JSON spec field by field: every problem is collected as a value naming the
 * field (`healthCheck.portIndex`, `tasks[2].dependsOn[0]`), so one pass tells the user everything
 * that is wrong, and unknown fields (a typo such as `instance`) are errors, not silently ignored.
 */

/** One problem with a spec: the field's path and what is wrong with it. */
export interface SpecProblem {
  field: string;
  message: string;
}

/** What validating a spec gives: the typed spec, or every problem found. */
export type SpecResult<T> = { ok: true; spec: T } | { ok: false; problems: SpecProblem[] };

/** A spec was refused; the message names every field that is wrong. */
export class SpecError extends Error {
  override readonly name = 'SpecError';
  constructor(readonly problems: readonly SpecProblem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  }
}

/** `prefix.key`, or `key` at the top. */
export const fieldPath = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** Reads fields of one JSON object, recording problems under `prefix`. */
export class FieldReader {
  private constructor(
    private readonly obj: Record<string, unknown>,
    readonly prefix: string,
    private readonly problems: SpecProblem[],
  ) {}

  /** A reader over `value` when it is a JSON object; otherwise records the problem and returns undefined. */
  static of(value: unknown, prefix: string, problems: SpecProblem[]): FieldReader | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({ field: prefix || '(spec)', message: `expected an object, got ${typeName(value)}` });
      return undefined;
    }
    return new FieldReader(value as Record<string, unknown>, prefix, problems);
  }

  /** Records every field not in `known` as unknown. */
  onlyKnown(known: readonly string[]): void {
    for (const key of Object.keys(this.obj)) {
      if (!known.includes(key)) this.fail(key, `unknown field (known: ${known.join(', ')})`);
    }
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.obj[key];
  }

  fail(key: string, message: string): undefined {
    this.problems.push({ field: fieldPath(this.prefix, key), message });
    return undefined;
  }

  string(key: string, opts: { required?: boolean; pattern?: RegExp; patternText?: string; nonEmpty?: boolean } = {}): string | undefined {
    const v = this.obj[key];
    if (v === undefined) return opts.required ? this.fail(key, 'is required') : undefined;
    if (typeof v !== 'string') return this.fail(key, `expected a string, got ${typeName(v)}`);
    if ((opts.nonEmpty || opts.required) && v.trim() === '') return this.fail(key, 'is empty');
    if (opts.pattern && !opts.pattern.test(v)) return this.fail(key, `'${v}' is not ${opts.patternText ?? `of the form ${opts.pattern.source}`}`);
    return v;
  }

  number(key: string, opts: { required?: boolean; min?: number; max?: number; integer?: boolean; above?: number } = {}): number | undefined {
    const v = this.obj[key];
    if (v === undefined) return opts.required ? this.fail(key, 'is required') : undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(key, `expected a number, got ${typeName(v)}`);
    if (opts.integer && !Number.isInteger(v)) return this.fail(key, `expected an integer, got ${v}`);
    if (opts.min !== undefined && v < opts.min) return this.fail(key, `must be >= ${opts.min}, got ${v}`);
    if (opts.above !== undefined && v <= opts.above) return this.fail(key, `must be > ${opts.above}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return this.fail(key, `must be <= ${opts.max}, got ${v}`);
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') return this.fail(key, `expected true or false, got ${typeName(v)}`);
    return v;
  }

  /** A JSON object of string values (environment, labels). */
  stringMap(key: string, keyPattern?: RegExp, keyText = 'a valid name'): Record<string, string> | undefined {
    const v = this.obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.fail(key, `expected an object of strings, got ${typeName(v)}`);
    const out: Record<string, string> = {};
    for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
      if (keyPattern && !keyPattern.test(k)) this.fail(`${key}.${k}`, `'${k}' is not ${keyText}`);
      else if (typeof value !== 'string') this.fail(`${key}.${k}`, `expected a string, got ${typeName(value)}`);
      else out[k] = value;
    }
    return out;
  }

  /** An array of strings. */
  stringArray(key: string): string[] | undefined {
    const v = this.obj[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.fail(key, `expected an array of strings, got ${typeName(v)}`);
    const out: string[] = [];
    v.forEach((item: unknown, i) => {
      if (typeof item !== 'string') this.fail(`${key}[${i}]`, `expected a string, got ${typeName(item)}`);
      else out.push(item);
    });
    return out;
  }

  /** A nested object's reader (undefined when absent or not an object, the latter recorded). */
  object(key: string): FieldReader | undefined {
    const v = this.obj[key];
    if (v === undefined) return undefined;
    return FieldReader.of(v, fieldPath(this.prefix, key), this.problems);
  }

  /** The array at `key` (undefined when absent or not an array, the latter recorded). */
  array(key: string, opts: { required?: boolean } = {}): unknown[] | undefined {
    const v = this.obj[key];
    if (v === undefined) return opts.required ? this.fail(key, 'is required') : undefined;
    if (!Array.isArray(v)) return this.fail(key, `expected an array, got ${typeName(v)}`);
    return v;
  }
}

/** Parses JSON text as a spec document, naming the file in the error. */
export function parseJsonSpec(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SpecError([{ field: source, message: `not valid JSON: ${(err as Error).message}` }]);
  }
}
