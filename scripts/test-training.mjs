#!/usr/bin/env node
// Runs the Python tests of training/ with Debian's interpreter, then the official-fixture parity check.
// Without PyTorch the suite skips with instructions, unless FACEPTOR_REQUIRE_ALL=1 (CI), where that fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const python = process.env.FACEPTOR_PYTHON ?? '/usr/bin/python3';
const requireAll = process.env.FACEPTOR_REQUIRE_ALL === '1';
const installHint = 'install them with: apt-get install -y --no-install-recommends python3-torch python3-onnx python3-numpy python3-pytest';

const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy, pytest'], { encoding: 'utf8' });
if (probe.status !== 0) {
  const message = `training tests need PyTorch, ONNX, numpy and pytest for ${python}; ${installHint}`;
  if (requireAll) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
  console.log(`skipped: ${message}`);
  process.exit(0);
}

const pytest = spawnSync(python, ['-m', 'pytest', 'training', '-q', '-rs'], { stdio: 'inherit' });
if (pytest.status !== 0) process.exit(pytest.status ?? 1);

const fixture = process.env.FACEPTOR_OFFICIAL_FIXTURE ?? path.resolve('..', 'shared', 'fixtures', 'faceptor-official');
if (!existsSync(path.join(fixture, 'manifest.json'))) {
  const message = `official Faceptor fixture not found at ${fixture}; set FACEPTOR_OFFICIAL_FIXTURE to run training/verify_fixture.py`;
  if (requireAll) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
  console.log(`skipped: ${message}`);
  process.exit(0);
}
const verify = spawnSync(python, ['training/verify_fixture.py', fixture], { stdio: 'inherit' });
process.exit(verify.status ?? 1);
