"""verify_fixture.py end to end: passes on the official fixture, fails on a perturbed weight or a
broken fixture folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

VERIFY = str(Path(__file__).resolve().parents[1] / 'verify_fixture.py')


def run_verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, VERIFY, *args], capture_output=True, text=True, timeout=1800)


def test_verify_passes_on_official_fixture(official_fixture: Path):
    result = run_verify(str(official_fixture))

    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines[-1].startswith('max_abs_err=')
    assert ' 0 outside tolerance' in result.stdout
    manifest = json.loads((official_fixture / 'manifest.json').read_text())
    outputs = [entry['file'][:-4] for entry in manifest['files'] if entry.get('kind') != 'input']
    for stem in outputs:
        assert f'OK    {stem} ' in result.stdout, f'{stem} was not compared'


def test_verify_fails_on_perturbed_weight(official_fixture: Path):
    result = run_verify(
        str(official_fixture), '--only', 'affect_rafdb__*',
        '--perturb', 'heads_module.interpreters.value.fc.bias', '--perturb-delta', '1e-3',
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert 'FAIL  affect_rafdb__logits' in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith('max_abs_err=')


def test_verify_reports_missing_folder(tmp_path: Path):
    result = run_verify(str(tmp_path / 'absent'))

    assert result.returncode == 2
    assert 'fixture folder not found' in result.stderr


def test_verify_reports_missing_files(official_fixture: Path, tmp_path: Path):
    shutil.copy(official_fixture / 'manifest.json', tmp_path / 'manifest.json')
    shutil.copy(official_fixture / 'input_112.npy', tmp_path / 'input_112.npy')

    result = run_verify(str(tmp_path))

    assert result.returncode == 2
    assert 'are missing' in result.stderr
    assert 'input_512.npy' in result.stderr
    assert 'input_112.npy,' not in result.stderr


def test_verify_reports_missing_phase_offset(official_fixture: Path, tmp_path: Path):
    manifest = json.loads((official_fixture / 'manifest.json').read_text())
    del manifest['weights']['phase_offset']
    (tmp_path / 'manifest.json').write_text(json.dumps(manifest))

    result = run_verify(str(tmp_path))

    assert result.returncode == 2
    assert 'no numeric weights.phase_offset' in result.stderr


def test_verify_rejects_unknown_perturb_key(official_fixture: Path):
    result = run_verify(str(official_fixture), '--only', 'affect_rafdb__logits', '--perturb', 'no.such.key')

    assert result.returncode == 2
    assert "--perturb key 'no.such.key' is not a state_dict key" in result.stderr
