/**
 * Identifiers: short, URL-safe, prefixed by what they name so logs and /state read clearly. What
 * an id chosen by someone else may be (a framework's task ids, say) is defined in names.ts.
 */
import { customAlphabet } from 'nanoid';

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
const short = customAlphabet(alphabet, 12);
const long = customAlphabet(alphabet, 21);

export const newAgentId = (): string => `agent-${short()}`;
export const newFrameworkId = (): string => `fw-${short()}`;
export const newOfferId = (): string => `offer-${short()}`;
export const newStreamId = (): string => `stream-${long()}`;
export const newMasterId = (): string => `master-${short()}`;
export const newContainerId = (): string => `ctr-${short()}`;
export const newUpdateUuid = (): string => long();
export const newTaskId = (prefix = 'task'): string => `${prefix}-${short()}`;
