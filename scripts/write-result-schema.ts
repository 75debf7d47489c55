/**
 * Write docs/result.schema.json, the JSON Schema of `faceptor.result/v1`, from the zod schema in
 * core/src/result.ts.
 *
 * Usage: npx tsx scripts/write-result-schema.ts [--check]
 *   --check  write nothing; exit with status 1 when the committed file differs from the generated one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resultJsonSchema } from '../core/src/result.ts';

const target = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'result.schema.json');
const text = `${JSON.stringify(resultJsonSchema(), null, 2)}\n`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // A missing file counts as out of date.
  }
  if (current !== text) {
    process.stderr.write(`${target} is out of date; run: npx tsx scripts/write-result-schema.ts\n`);
    process.exit(1);
  }
  process.stdout.write(`${target} is up to date\n`);
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target}\n`);
}
