#!/usr/bin/env python3
"""Convert an official Faceptor checkpoint into a model folder (ONNX graphs plus manifest.json).

    /usr/bin/python3 training/convert_checkpoint.py checkpoint_rank0_iter_50000.pth.tar --config base --out models/faceptor-base

The checkpoint is loaded with strict key and shape checks; a mismatch lists every missing key,
unexpected key and shape difference. The heads are marked trained, with the dataset each one
was trained on.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export_onnx import add_head_arguments, run_export  # noqa: E402
from faceptor.checkpoint import CheckpointError  # noqa: E402
from faceptor.config import CONFIGS, ConfigError  # noqa: E402
from faceptor.export import ExportError  # noqa: E402
from faceptor.manifest import ManifestError  # noqa: E402
from faceptor.sources import model_from_checkpoint  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', metavar='CHECKPOINT', help='official checkpoint file, e.g. checkpoint_rank0_iter_50000.pth.tar')
    parser.add_argument('--config', required=True, choices=sorted(CONFIGS),
                        help='config the checkpoint was trained with: base (7 tasks) or full (13 tasks)')
    parser.add_argument('--out', required=True, metavar='DIR', help='output model folder, e.g. models/faceptor-base')
    add_head_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run_export(args, args.config, lambda cfg: model_from_checkpoint(cfg, args.checkpoint))
    except (CheckpointError, ConfigError, ExportError, ManifestError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
