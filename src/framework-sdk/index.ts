/**
 * The Orbit framework SDK: the stable, public API. Frameworks (and examples/) import only this
 * module; everything else under src/ is internal and may change.
 */

// The connection to the master.
export { SchedulerClient, MAX_TASKS_PER_ACCEPT } from './scheduler-client.js';
export {
  DEFAULT_FAILOVER_TIMEOUT_MS,
  type SchedulerClientOptions,
  type FrameworkOptions,
  type SchedulerEvents,
  type SubscribedInfo,
  type AgentFailure,
} from './scheduler-events.js';
export { OrbitCallError, SubscriptionError, type CallFilters } from './wire.js';
// Credentials: a file made by `orbit cert issue`, found from a path, $ORBIT_CREDENTIALS or the default path.
export { readCredentials, findCredentials, CredentialsError, INSECURE, type Credentials, type ClientSecurity } from '../common/credentials.js';
// Why the master refused a call or ended a subscription: act on it, not on the message's words.
export { ERROR_REASONS, type ErrorReason } from '../common/errors.js';

// Helpers for offers and tasks.
export { takeResources, checkFit, offerFits, portsOf } from './offers.js';
export { buildTask, type TaskOptions, type HealthCheckOptions } from './tasks.js';
// The ranges the master accepts a task's durations in, so a framework's own spec can allow no more.
export { DEFAULT_KILL_GRACE_MS, KILL_GRACE_MS, HEALTH_CHECK_DEFAULTS, HEALTH_CHECK_BOUNDS, type Bounds } from '../common/task-limits.js';
// What the master accepts as a task id, label, image, role...: a framework checks its users' names with it.
export { nameProblem, isValidName, type NameKind } from '../common/names.js';
export { newTaskId } from '../common/ids.js';

// What a long-running framework needs around its scheduler: offers only when wanted, durable
// state, time, logs.
export { OfferDemand } from './offer-demand.js';
export { JsonStateFile, StateFileError } from './state-file.js';
export { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from '../common/logging.js';

// The domain types a framework sees.
export type { Offer, Operation } from '../common/cluster.js';
export type { TaskSpec, TaskStatus, TaskState, StatusReason, StatusSource, HealthCheckSpec, CommandSpec } from '../common/tasks.js';
export { isTerminal, TASK_STATES } from '../common/tasks.js';
export type { Resources, Resource, Range, FitResult, Shortfall } from '../common/resources.js';
export { parseResources, formatResources, add, subtract, fits, isEmpty, ResourceParseError } from '../common/resources.js';
export type { Attribute, Attributes } from '../common/attributes.js';
