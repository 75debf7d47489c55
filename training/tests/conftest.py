"""Shared setup of the training tests.

Without PyTorch or ONNX every test module collapses to one item that skips with install
instructions, or fails with them when FACEPTOR_REQUIRE_ALL=1 (CI must never pass by skipping).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

TRAINING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINING_DIR.parent
sys.path.insert(0, str(TRAINING_DIR))

REQUIRE_ALL = os.environ.get('FACEPTOR_REQUIRE_ALL') == '1'
MISSING_MODULES = [name for name in ('torch', 'onnx', 'numpy') if importlib.util.find_spec(name) is None]
MISSING_MESSAGE = (
    f'missing Python module(s) {", ".join(MISSING_MODULES)}: install python3-torch python3-onnx from Debian '
    '(apt-get install -y --no-install-recommends python3-torch python3-onnx python3-numpy python3-pytest) '
    'and run the tests with /usr/bin/python3'
)
FIXTURE_MESSAGE = (
    'official Faceptor fixture not found: set FACEPTOR_OFFICIAL_FIXTURE or place '
    '../shared/fixtures/faceptor-official beside the checkout'
)


class _MissingDependencyItem(pytest.Item):
    """Stands in for a test module that cannot be imported without torch/onnx."""

    def runtest(self) -> None:
        if REQUIRE_ALL:
            pytest.fail(MISSING_MESSAGE, pytrace=False)
        pytest.skip(MISSING_MESSAGE)

    def reportinfo(self):
        return self.path, 0, self.name


class _MissingDependencyModule(pytest.Module):
    def collect(self):
        yield _MissingDependencyItem.from_parent(self, name='requires_torch_and_onnx')


def pytest_pycollect_makemodule(module_path, parent):
    if MISSING_MODULES and module_path.name.startswith('test_'):
        return _MissingDependencyModule.from_parent(parent, path=module_path)
    return None


def official_fixture_path() -> Path | None:
    """Folder of the official parity fixture (FACEPTOR_OFFICIAL_FIXTURE, then ../shared beside the repo)."""
    candidates = [os.environ.get('FACEPTOR_OFFICIAL_FIXTURE'), str(REPO_ROOT.parent / 'shared' / 'fixtures' / 'faceptor-official')]
    for candidate in candidates:
        if candidate and (Path(candidate) / 'manifest.json').is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope='session')
def official_fixture() -> Path:
    """The official fixture folder; skips (or fails under FACEPTOR_REQUIRE_ALL=1) when it is absent."""
    found = official_fixture_path()
    if found is None:
        if REQUIRE_ALL:
            pytest.fail(FIXTURE_MESSAGE, pytrace=False)
        pytest.skip(FIXTURE_MESSAGE)
    return found


@pytest.fixture(scope='session')
def official_keys(official_fixture: Path) -> dict:
    """official_keys.json of the fixture: every official state_dict key with shape and weight rule."""
    path = official_fixture / 'official_keys.json'
    if not path.is_file():
        message = f'{path} not found; the official fixture folder is incomplete'
        if REQUIRE_ALL:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)
