import { z } from 'zod';

/** The six face tasks that one Faceptor encoder pass serves, in the order results list them. */
export const TASKS = ['landmarks', 'parsing', 'age', 'expression', 'attributes', 'identity'] as const;

/** A task name, checked against {@link TASKS}. */
export const TaskSchema = z.enum(TASKS, {
  error: (issue) => `invalid task ${JSON.stringify(issue.input)}: valid tasks are ${TASKS.join(', ')}`,
});

/** One of the six task names. */
export type Task = z.infer<typeof TaskSchema>;

/**
 * A non-empty list of tasks. Duplicates are removed and the result follows the order of {@link TASKS},
 * so equal requests produce equal lists.
 */
export const TaskListSchema = z
  .array(TaskSchema)
  .min(1, { error: `tasks must name at least one task: valid tasks are ${TASKS.join(', ')}` })
  .transform((tasks) => TASKS.filter((task) => tasks.includes(task)));

/** Returns true when `value` is one of the six task names. */
export function isTask(value: unknown): value is Task {
  return typeof value === 'string' && (TASKS as readonly string[]).includes(value);
}
