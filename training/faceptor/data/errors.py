"""Typed errors of the dataset readers."""

from __future__ import annotations

from pathlib import Path


class DatasetFormatError(ValueError):
    """A dataset file is missing, unreadable or does not follow its published format.

    `path` is the file at fault, `line` its 1-based line number (None where the file has no lines,
    such as an image or a record file) and `value` the offending text or number.
    """

    def __init__(self, path: str | Path, problem: str, line: int | None = None, value: object = None) -> None:
        self.path = str(path)
        self.line = line
        self.value = value
        self.problem = problem
        where = self.path if line is None else f'{self.path}, line {line}'
        got = '' if value is None else f' (got {value!r})'
        super().__init__(f'{where}: {problem}{got}')


def check_split(split: str, valid: tuple[str, ...] | list[str], dataset: str) -> None:
    """Raise ValueError unless `split` is one of `valid`."""
    if split not in valid:
        raise ValueError(f'invalid {dataset} split {split!r}; valid splits: {", ".join(valid)}')


def require_file(path: Path, description: str) -> Path:
    """Return `path` if it is a file, else raise DatasetFormatError naming the missing `description` file."""
    if not path.is_file():
        raise DatasetFormatError(path, f'{description} not found; check the dataset root and its layout')
    return path
