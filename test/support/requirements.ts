import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, resolved from this file's location. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * True when missing optional test inputs must fail the run instead of skipping suites.
 * `.ci/run` sets FACEPTOR_REQUIRE_ALL=1 so that CI never passes by skipping.
 */
export const requireAll = process.env.FACEPTOR_REQUIRE_ALL === '1';

/**
 * Folder of the official Faceptor parity fixture, or null when it is absent.
 *
 * Looks at FACEPTOR_OFFICIAL_FIXTURE first, then at ../shared/fixtures/faceptor-official beside the checkout.
 * Throws when the folder is absent and FACEPTOR_REQUIRE_ALL=1.
 */
export function officialFixtureDir(): string | null {
  const candidates = [
    process.env.FACEPTOR_OFFICIAL_FIXTURE,
    path.resolve(repoRoot, '..', 'shared', 'fixtures', 'faceptor-official'),
  ].filter((dir): dir is string => typeof dir === 'string' && dir.length > 0);
  const found = candidates.find((dir) => existsSync(path.join(dir, 'manifest.json')));
  if (found) return found;
  if (requireAll) {
    throw new Error(
      `official Faceptor fixture not found (looked in: ${candidates.join(', ')}); ` +
        'set FACEPTOR_OFFICIAL_FIXTURE to the folder, or unset FACEPTOR_REQUIRE_ALL to skip these tests',
    );
  }
  return null;
}

/** Message printed by suites that skip because the official fixture is absent. */
export const officialFixtureSkipReason =
  'official Faceptor fixture not found: set FACEPTOR_OFFICIAL_FIXTURE or place ../shared/fixtures/faceptor-official beside the checkout';

/** Debian's Python, which imports python3-torch and python3-onnx (a pyenv python3 on PATH may not). */
export const systemPython = process.env.FACEPTOR_PYTHON ?? '/usr/bin/python3';

/** Folder of the real face photos copied into the repository, with their provenance table. */
export const photosDir = path.join(repoRoot, 'test', 'fixtures', 'photos');
