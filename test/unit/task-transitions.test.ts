import t from 'tap';
import { checkTransition, type Transition } from '../../src/common/task-transitions.js';
import { isTerminal, TASK_STATES, type TaskState } from '../../src/common/tasks.js';

const TERMINAL_STATES: readonly TaskState[] = ['FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST'];
const ENDINGS: readonly TaskState[] = ['FINISHED', 'FAILED', 'KILLED', 'GONE', 'LOST'];

/**
 * The specification, written by `from` state (the source writes it by `to`): every move to a
 * different state that is legal. Anything not listed (other than a repeat) must be refused.
 */
const LEGAL: Record<TaskState, readonly TaskState[]> = {
  STAGING: ['STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE', ...ENDINGS, 'ERROR', 'DROPPED'],
  STARTING: ['RUNNING', 'KILLING', 'UNREACHABLE', ...ENDINGS, 'ERROR', 'DROPPED'],
  RUNNING: ['KILLING', 'UNREACHABLE', ...ENDINGS],
  KILLING: ['UNREACHABLE', ...ENDINGS],
  UNREACHABLE: ['STARTING', 'RUNNING', 'KILLING', ...ENDINGS, 'DROPPED'],
  FINISHED: [],
  FAILED: [],
  KILLED: [],
  ERROR: [],
  DROPPED: [],
  GONE: [],
  LOST: [],
};

/** The exact verdict the specification gives for a pair. */
function expected(from: TaskState, to: TaskState): Transition {
  if (from === to) return { ok: true, changed: false };
  if (TERMINAL_STATES.includes(from)) return { ok: false, reason: `task is already ${from}` };
  if (LEGAL[from].includes(to)) return { ok: true, changed: true };
  return { ok: false, reason: `${from} cannot become ${to}` };
}

t.test('TASK_STATES lists the twelve states, non-terminal first', async (t) => {
  t.strictSame(TASK_STATES, ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE', ...TERMINAL_STATES]);
  t.strictSame(TASK_STATES.filter(isTerminal), TERMINAL_STATES, 'exactly the seven end states are terminal');
});

t.test('checkTransition gives the named verdict for these pairs', async (t) => {
  const cases: [string, TaskState, TaskState, Transition][] = [
    ['a staged task starts', 'STAGING', 'STARTING', { ok: true, changed: true }],
    ['a staged task may jump straight to RUNNING', 'STAGING', 'RUNNING', { ok: true, changed: true }],
    ['a starting task runs', 'STARTING', 'RUNNING', { ok: true, changed: true }],
    ['a running task finishes', 'RUNNING', 'FINISHED', { ok: true, changed: true }],
    ['a running task is killed', 'RUNNING', 'KILLED', { ok: true, changed: true }],
    ['a killing task is killed', 'KILLING', 'KILLED', { ok: true, changed: true }],
    ['an unreachable task comes back running', 'UNREACHABLE', 'RUNNING', { ok: true, changed: true }],
    ['an unreachable task whose launch never arrived is dropped', 'UNREACHABLE', 'DROPPED', { ok: true, changed: true }],
    ['a starting task that is invalid errors', 'STARTING', 'ERROR', { ok: true, changed: true }],
    ['a RUNNING repeat (health change) is allowed but changes nothing', 'RUNNING', 'RUNNING', { ok: true, changed: false }],
    ['a retried terminal update is allowed but changes nothing', 'FINISHED', 'FINISHED', { ok: true, changed: false }],
    ['a staging repeat changes nothing', 'STAGING', 'STAGING', { ok: true, changed: false }],
    ['a finished task never runs again', 'FINISHED', 'RUNNING', { ok: false, reason: 'task is already FINISHED' }],
    ['a killed task cannot fail afterwards', 'KILLED', 'FAILED', { ok: false, reason: 'task is already KILLED' }],
    ['a lost task does not come back', 'LOST', 'RUNNING', { ok: false, reason: 'task is already LOST' }],
    ['a running task does not go back to STARTING', 'RUNNING', 'STARTING', { ok: false, reason: 'RUNNING cannot become STARTING' }],
    ['a running task does not go back to STAGING', 'RUNNING', 'STAGING', { ok: false, reason: 'RUNNING cannot become STAGING' }],
    ['a running task is not an ERROR (it already started)', 'RUNNING', 'ERROR', { ok: false, reason: 'RUNNING cannot become ERROR' }],
    ['a running task is not DROPPED (its launch arrived)', 'RUNNING', 'DROPPED', { ok: false, reason: 'RUNNING cannot become DROPPED' }],
    ['a killing task does not resume running', 'KILLING', 'RUNNING', { ok: false, reason: 'KILLING cannot become RUNNING' }],
    ['an unreachable task is not an ERROR', 'UNREACHABLE', 'ERROR', { ok: false, reason: 'UNREACHABLE cannot become ERROR' }],
  ];
  for (const [behaviour, from, to, verdict] of cases) {
    t.strictSame(checkTransition(from, to), verdict, `${behaviour} (${from} → ${to})`);
  }
});

t.test('checkTransition agrees with the specification on every pair of states', async (t) => {
  for (const from of TASK_STATES) {
    for (const to of TASK_STATES) t.strictSame(checkTransition(from, to), expected(from, to), `${from} → ${to}`);
  }
});

t.test('checkTransition allows every legal move, and it counts as a change', async (t) => {
  let legal = 0;
  for (const from of TASK_STATES) {
    for (const to of LEGAL[from]) {
      legal++;
      t.strictSame(checkTransition(from, to), { ok: true, changed: true }, `${from} → ${to}`);
    }
  }
  t.equal(legal, 11 + 10 + 7 + 6 + 9, 'the table has 43 legal moves');
});

t.test('terminal states are final: a terminal task takes no other state', async (t) => {
  for (const from of TASK_STATES.filter(isTerminal)) {
    const others = TASK_STATES.filter((to) => to !== from);
    t.strictSame(others.filter((to) => checkTransition(from, to).ok), [], `${from} is final`);
  }
});

t.test('a repeat of the same state is allowed and reports no change, for every state', async (t) => {
  for (const s of TASK_STATES) t.strictSame(checkTransition(s, s), { ok: true, changed: false }, `${s} → ${s}`);
});

t.test('nothing moves back to STAGING', async (t) => {
  const back = TASK_STATES.filter((from) => from !== 'STAGING' && checkTransition(from, 'STAGING').ok);
  t.strictSame(back, []);
});

t.test('every non-terminal state can reach a terminal one (no task is stuck)', async (t) => {
  for (const from of TASK_STATES.filter((s) => !isTerminal(s))) {
    t.ok(TERMINAL_STATES.some((to) => checkTransition(from, to).ok), `${from} can end`);
  }
});
