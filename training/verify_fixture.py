#!/usr/bin/env python3
"""Check this Faceptor implementation against an official parity fixture set.

The set's reference arrays came from the official code with deterministic "formula" weights.
This tool regenerates those weights (phase offset from the set's manifest.json), writes them as
an official-format checkpoint, loads it through the official-checkpoint loader, runs every head
on the set's inputs and compares every array of the manifest it can produce.

Tolerances (max over the array):
  float arrays                      |a - ref| <= 2e-5 * max|ref|
  float16 arrays                    |a - ref| <= 1e-4
  landmark pixels (landmark_px*)    |a - ref| <= 1e-3
  normalized landmarks              |a - ref| <= 2e-6
  integer arrays                    exact, except label maps: at most 0.01% of pixels differ

The last output line is `max_abs_err=<value>`, the largest absolute error over all float arrays.
Exit status: 0 when every array is within tolerance, 1 when one is not, 2 when the fixture
folder or a file is missing or invalid.

    /usr/bin/python3 training/verify_fixture.py ../shared/fixtures/faceptor-official
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from faceptor.checkpoint import CheckpointError, load_official_checkpoint, to_official_checkpoint  # noqa: E402
from faceptor.config import ConfigError, get_config  # noqa: E402
from faceptor.fixture_outputs import FixtureOutputs  # noqa: E402
from faceptor.fixture_weights import formula_state_dict  # noqa: E402
from faceptor.model import build_model  # noqa: E402

CLASSIFIER_KEY = 'losses_module.losses.recog_ms1mv3.classifier'
MS1MV3_IDENTITIES = 93431

RELATIVE_LIMIT = 2e-5
FLOAT16_ABS_LIMIT = 1e-4
LANDMARK_PX_ABS_LIMIT = 1e-3
LANDMARK_NORM_ABS_LIMIT = 2e-6
LABEL_MAP_DIFF_FRACTION = 1e-4


class FixtureError(Exception):
    """The fixture folder, its manifest or one of its files is missing or invalid."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('fixture_dir', help='fixture set folder containing manifest.json and the .npy files')
    parser.add_argument('--config', default='base', help='model config the fixture was made with (default: base)')
    parser.add_argument(
        '--only', action='append', default=[], metavar='GLOB',
        help='compare only arrays whose file stem matches GLOB (repeatable), e.g. "affect_rafdb__*"',
    )
    parser.add_argument(
        '--perturb', metavar='KEY',
        help='add --perturb-delta to every element of state_dict key KEY before writing the checkpoint '
        '(a self-test: the check must then fail)',
    )
    parser.add_argument('--perturb-delta', type=float, default=1e-3, help='value added by --perturb (default: 1e-3)')
    return parser.parse_args(argv)


def load_manifest(fixture_dir: str) -> dict:
    """Read and check the set's manifest.json; every file it lists must exist."""
    if not os.path.isdir(fixture_dir):
        raise FixtureError(f'fixture folder not found: {fixture_dir}')
    manifest_path = os.path.join(fixture_dir, 'manifest.json')
    if not os.path.isfile(manifest_path):
        raise FixtureError(f'manifest.json not found in {fixture_dir}; pass a fixture set folder')
    try:
        with open(manifest_path, encoding='utf-8') as handle:
            manifest = json.load(handle)
    except json.JSONDecodeError as error:
        raise FixtureError(f'{manifest_path} is not valid JSON: {error}') from error

    offset = manifest.get('weights', {}).get('phase_offset')
    if not isinstance(offset, (int, float)):
        raise FixtureError(f'{manifest_path} has no numeric weights.phase_offset (found {offset!r})')
    files = manifest.get('files')
    if not isinstance(files, list) or not files:
        raise FixtureError(f'{manifest_path} has no "files" list')
    missing = [entry.get('file') for entry in files if not os.path.isfile(os.path.join(fixture_dir, str(entry.get('file'))))]
    if missing:
        raise FixtureError(f'{len(missing)} file(s) listed in {manifest_path} are missing: {", ".join(map(str, missing))}')
    return manifest


def load_inputs(fixture_dir: str, manifest: dict) -> dict[int, torch.Tensor]:
    """Input batches keyed by pixel size, from the manifest's `kind: input` entries `input_<size>.npy`."""
    inputs = {}
    for entry in manifest['files']:
        if entry.get('kind') != 'input':
            continue
        array = np.load(os.path.join(fixture_dir, entry['file']))
        if array.ndim != 4 or array.shape[1] != 3 or array.shape[2] != array.shape[3]:
            raise FixtureError(f'input {entry["file"]} has shape {list(array.shape)}; expected (B, 3, R, R)')
        inputs[int(array.shape[2])] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return inputs


def build_fixture_model(config_name: str, phase_offset: float, perturb: str | None, delta: float, workdir: str):
    """Formula weights -> official-format checkpoint file -> official-checkpoint loader -> eval model."""
    model = build_model(get_config(config_name))
    if perturb is not None and perturb not in model.state_dict():
        raise FixtureError(f'--perturb key {perturb!r} is not a state_dict key of config {config_name!r}')

    state = formula_state_dict(model, phase_offset)
    if perturb is not None:
        state[perturb] = state[perturb] + delta
        print(f'perturbed {perturb} by {delta:+g}')

    # The training-only classifier only has to be present with its official shape; the loader
    # ignores it. A stride-0 view of one zero keeps the file 191 MB smaller.
    classifier = torch.zeros(1, dtype=torch.float32).expand(MS1MV3_IDENTITIES, model.cfg.identity_dim)
    checkpoint = to_official_checkpoint(state, extra={CLASSIFIER_KEY: classifier})
    path = os.path.join(workdir, 'checkpoint_rank0_iter_0.pth.tar')
    torch.save(checkpoint, path)
    del checkpoint, state

    report = load_official_checkpoint(model, path)
    print(f'loaded {report.loaded} tensors from an official-format checkpoint; ignored {", ".join(report.ignored)}')
    return model.eval()


def tolerance(entry: dict, stem: str) -> tuple[str, float | None]:
    """(rule, limit) for one manifest entry; the relative rule's limit is a factor of max|ref|."""
    output = stem.split('__', 1)[1] if '__' in stem else stem
    dtype = np.dtype(entry.get('dtype', '<f4'))
    if dtype.kind in 'iu':
        return ('label_map', LABEL_MAP_DIFF_FRACTION) if output.startswith('label') else ('exact', 0.0)
    if dtype == np.float16:
        return 'absolute', FLOAT16_ABS_LIMIT
    if output.startswith('landmark_px'):
        return 'absolute', LANDMARK_PX_ABS_LIMIT
    if output == 'landmark_norm':
        return 'absolute', LANDMARK_NORM_ABS_LIMIT
    return 'relative', RELATIVE_LIMIT


def compare(stem: str, got: np.ndarray, ref: np.ndarray, entry: dict) -> tuple[bool, float | None, str]:
    """Compare one array; returns (within tolerance, max abs error of a float array, report line)."""
    if tuple(got.shape) != tuple(ref.shape):
        return False, None, f'FAIL  {stem}: shape {list(got.shape)} != reference {list(ref.shape)}'

    rule, limit = tolerance(entry, stem)
    if rule in ('exact', 'label_map'):
        differing = int(np.count_nonzero(got.astype(np.int64) != ref.astype(np.int64)))
        fraction = differing / max(ref.size, 1)
        ok = differing == 0 if rule == 'exact' else fraction <= limit
        allowed = 'none' if rule == 'exact' else f'<= {limit:.2%}'
        status = 'OK  ' if ok else 'FAIL'
        return ok, None, f'{status}  {stem:44s} differing={differing} of {ref.size} ({fraction:.4%}; allowed {allowed})'

    ref64 = ref.astype(np.float64)
    err = float(np.max(np.abs(got.astype(np.float64) - ref64))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref64))) if ref.size else 0.0
    if scale > 0:
        rel = err / scale
    else:
        rel = 0.0 if err == 0 else float('inf')
    bound = limit * scale if rule == 'relative' else limit
    ok = err <= bound
    bound_text = f'{limit:g}*max|ref| = {bound:.3g}' if rule == 'relative' else f'{limit:g} absolute'
    status = 'OK  ' if ok else 'FAIL'
    return ok, err, f'{status}  {stem:44s} max_abs_err={err:.3e}  rel_err={rel:.3e}  (limit {bound_text})'


def verify(args: argparse.Namespace) -> int:
    started = time.time()
    manifest = load_manifest(args.fixture_dir)
    phase_offset = float(manifest['weights']['phase_offset'])
    print(f'fixture {args.fixture_dir}: {len(manifest["files"])} files, phase offset {phase_offset}, config {args.config}')

    inputs = load_inputs(args.fixture_dir, manifest)
    with tempfile.TemporaryDirectory(prefix='faceptor-verify-') as workdir:
        model = build_fixture_model(args.config, phase_offset, args.perturb, args.perturb_delta, workdir)
    outputs = FixtureOutputs(model, inputs)

    failures, compared, skipped = 0, 0, []
    max_abs_err = 0.0
    with torch.no_grad():
        for entry in manifest['files']:
            stem = os.path.splitext(entry['file'])[0]
            if entry.get('kind') == 'input':
                continue
            if args.only and not any(fnmatch.fnmatch(stem, pattern) for pattern in args.only):
                continue
            got = outputs.produce(stem)
            if got is None:
                skipped.append(stem)
                continue
            ref = np.load(os.path.join(args.fixture_dir, entry['file']))
            ok, err, line = compare(stem, got, ref, entry)
            print(line, flush=True)
            compared += 1
            failures += 0 if ok else 1
            if err is not None:
                max_abs_err = max(max_abs_err, err)

    if skipped:
        print(f'not compared (no producer for these names): {", ".join(skipped)}')
    print(f'{compared} arrays compared, {failures} outside tolerance, {time.time() - started:.1f} s')
    if compared == 0:
        print('error: no array was compared; check --only and the manifest', file=sys.stderr)
        failures += 1
    print(f'max_abs_err={max_abs_err:.6e}')
    return 0 if failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.stdout.reconfigure(line_buffering=True)  # keep stdout and stderr lines in order when piped
    try:
        return verify(args)
    except (FixtureError, CheckpointError, ConfigError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
