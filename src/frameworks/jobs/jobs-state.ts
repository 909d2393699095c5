/**
 * The jobs framework's durable state in `STATE_DIR/jobs.json`, replaced atomically on every
 * change: its framework id, the jobs submitted (with their schedules), and the runs (active ones
 * and the last finished ones) with every attempt's task id and outcome.
 */
import { join } from 'node:path';
import { JsonStateFile, StateFileError } from '../../framework-sdk/index.js';
import type { JobSpec } from './job-spec.js';
import type { Run } from './run-state.js';

const FORMAT = 1;

/** A submitted job; with a schedule it fires runs until unscheduled. */
export interface JobRecord {
  spec: JobSpec;
  submittedAt: number;
  /** The next time its schedule fires. */
  nextRunAt?: number;
  lastRunId?: string;
  /**
   * A fire held while the framework could not know whether the previous run had ended (it was
   * disconnected from the master): when it fell due. See schedule-fires.ts.
   */
  heldFireAt?: number;
  /** Fires skipped because the previous run was still going. */
  skipped: number;
}

export interface JobsState {
  format: number;
  frameworkId?: string;
  jobs: JobRecord[];
  runs: Run[];
}

export class JobsStateStore {
  private readonly file: JsonStateFile<JobsState>;

  constructor(stateDir: string) {
    this.file = new JsonStateFile<JobsState>(join(stateDir, 'jobs.json'));
  }

  get path(): string {
    return this.file.path;
  }

  /** The saved state (empty when there is none). Throws StateFileError when it cannot be trusted. */
  load(): JobsState {
    const doc = this.file.read();
    if (!doc) return { format: FORMAT, jobs: [], runs: [] };
    if (doc.format !== FORMAT || !Array.isArray(doc.jobs) || !Array.isArray(doc.runs)) throw new StateFileError(this.file.path, `unknown format ${String(doc.format)}`);
    return doc;
  }

  save(state: Omit<JobsState, 'format'>): void {
    this.file.write({ format: FORMAT, ...state });
  }
}
