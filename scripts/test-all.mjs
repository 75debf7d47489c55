#!/usr/bin/env node
// Runs every test suite of the repository in order and reports each step's outcome.
// Steps: type check, unit tests, slow suites (real model graphs, photos, servers), training tests (Python).
import { spawnSync } from 'node:child_process';

const steps = [
  { name: 'typecheck', command: 'npx', args: ['tsc', '--noEmit', '-p', 'tsconfig.json'] },
  { name: 'unit', command: 'npx', args: ['vitest', 'run', '--config', 'vitest.config.ts'] },
  { name: 'slow', command: 'npx', args: ['vitest', 'run', '--config', 'vitest.slow.config.ts'] },
  { name: 'training', command: 'node', args: ['scripts/test-training.mjs'] },
];

const only = process.argv.slice(2);
const selected = only.length > 0 ? steps.filter((step) => only.includes(step.name)) : steps;
if (selected.length === 0) {
  console.error(`unknown step(s) ${only.join(', ')}; valid steps are ${steps.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

const outcomes = [];
for (const step of selected) {
  console.log(`\n=== ${step.name}: ${step.command} ${step.args.join(' ')}`);
  const started = Date.now();
  const run = spawnSync(step.command, step.args, { stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const ok = run.status === 0;
  outcomes.push({ name: step.name, ok, seconds });
  console.log(`=== ${step.name}: ${ok ? 'passed' : `FAILED (exit ${run.status ?? run.signal})`} in ${seconds} s`);
}

console.log('\nsummary:');
for (const outcome of outcomes) console.log(`  ${outcome.ok ? 'ok    ' : 'FAILED'} ${outcome.name} (${outcome.seconds} s)`);
const failed = outcomes.filter((o) => !o.ok).length;
console.log(`steps: ${outcomes.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
