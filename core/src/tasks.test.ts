import { describe, expect, it } from 'vitest';
import { TASKS, TaskListSchema, TaskSchema, isTask } from './tasks.ts';

describe('tasks', () => {
  it('lists the six task names', () => {
    expect(TASKS).toEqual(['landmarks', 'parsing', 'age', 'expression', 'attributes', 'identity']);
  });

  it('names the valid set for an unknown task', () => {
    const result = TaskSchema.safeParse('gender');

    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('invalid task "gender": valid tasks are landmarks, parsing, age, expression, attributes, identity');
  });

  it('task list removes duplicates in canonical order', () => {
    expect(TaskListSchema.parse(['identity', 'age', 'identity'])).toEqual(['age', 'identity']);
  });

  it('task list rejects an empty list', () => {
    const result = TaskListSchema.safeParse([]);

    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/tasks must name at least one task/);
  });

  it('isTask checks names', () => {
    expect(isTask('parsing')).toBe(true);
    expect(isTask('Parsing')).toBe(false);
    expect(isTask(3)).toBe(false);
  });
});
