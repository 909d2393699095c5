/**
 * The services framework's durable state: its framework id and every app with its instances'
 * task ids, in `STATE_DIR/services.json`, replaced atomically on every change. With it a
 * restarted framework re-subscribes under the same id and reconciles the tasks it launched.
 */
import { join } from 'node:path';
import { JsonStateFile, StateFileError } from '../../framework-sdk/index.js';
import { parseAppSpec } from './app-spec.js';
import type { AppRecord } from './instances.js';

const FORMAT = 1;

/** What is on disk. */
export interface ServicesState {
  format: number;
  frameworkId?: string;
  apps: AppRecord[];
}

/** Loads and saves the state document of one state dir. */
export class ServicesStateStore {
  private readonly file: JsonStateFile<ServicesState>;

  constructor(stateDir: string) {
    this.file = new JsonStateFile<ServicesState>(join(stateDir, 'services.json'));
  }

  get path(): string {
    return this.file.path;
  }

  /** The saved state (empty when there is none). Throws StateFileError when it cannot be trusted. */
  load(): ServicesState {
    const doc = this.file.read();
    if (!doc) return { format: FORMAT, apps: [] };
    if (doc.format !== FORMAT || !Array.isArray(doc.apps)) throw new StateFileError(this.file.path, `unknown format ${String(doc.format)}`);
    for (const app of doc.apps) {
      // A spec that no longer validates would be acted on wrongly: refuse to start instead.
      const check = parseAppSpec(app.spec);
      if (!check.ok) throw new StateFileError(this.file.path, `app ${String(app.spec?.id)}: ${check.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
      app.instances ??= [];
      app.ended ??= [];
    }
    return doc;
  }

  save(state: Omit<ServicesState, 'format'>): void {
    this.file.write({ format: FORMAT, ...state });
  }
}
