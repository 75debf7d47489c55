#!/usr/bin/env python3
"""Export a Faceptor model to a model folder: ONNX graphs plus manifest.json (faceptor.model/v1).

Examples:
    /usr/bin/python3 training/export_onnx.py --config tiny --random-seed 0 --out /tmp/faceptor-tiny-random
    /usr/bin/python3 training/export_onnx.py --config base --checkpoint checkpoint_rank0_iter_50000.pth.tar --out models/faceptor-base
    /usr/bin/python3 training/export_onnx.py --config base --fixture-weights ../shared/fixtures/faceptor-official --out /tmp/base-fixture
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faceptor.checkpoint import CheckpointError  # noqa: E402
from faceptor.config import CONFIGS, ConfigError, get_config  # noqa: E402
from faceptor.export import ExportError, ExportOptions, export_model, select_heads  # noqa: E402
from faceptor.manifest import ManifestError  # noqa: E402
from faceptor.sources import model_from_checkpoint, model_from_fixture, model_from_seed  # noqa: E402

HEAD_FLAGS = (
    ('identity', 'recognition task for the identity head (default: recog_ms1mv3)'),
    ('age', 'age task for the age head (default: age_morph2)'),
    ('attribute', 'attribute task for the attributes head (default: biattr_celeba)'),
    ('expression', 'expression task for the expression head (default: affect_rafdb)'),
    ('landmark', 'landmark task for the landmarks head (default: align_300w)'),
    ('parsing', 'parsing task for the parsing head (default: parsing_celebam, else parsing_lapa)'),
)


def add_head_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the --<head>-head and manifest flags that convert_checkpoint.py shares."""
    for head, help_text in HEAD_FLAGS:
        parser.add_argument(f'--{head}-head', metavar='TASK', help=help_text)
    parser.add_argument('--name', help='model name in the manifest (default: the --out folder name)')
    parser.add_argument('--model-version', default='1.0.0', help='model version in the manifest (default: 1.0.0)')
    parser.add_argument('--description', help='one-line description in the manifest (default: derived from the weights)')
    parser.add_argument('--force', action='store_true', help='replace an existing --out folder instead of failing')


def requested_heads(args: argparse.Namespace) -> dict[str, str | None]:
    """Map the parsed --<head>-head flags to manifest head names."""
    return {
        'identity': args.identity_head,
        'age': args.age_head,
        'attributes': args.attribute_head,
        'expression': args.expression_head,
        'landmarks': args.landmark_head,
        'parsing': args.parsing_head,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--config', required=True, choices=sorted(CONFIGS), help='model configuration')
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument('--checkpoint', metavar='FILE', help='official checkpoint (.pth.tar) to convert; heads are marked trained')
    weights.add_argument('--fixture-weights', metavar='FIXTURE_DIR',
                         help='parity fixture set folder: use its formula weights (phase offset from its manifest.json)')
    weights.add_argument('--random-seed', metavar='N', type=int, help='random initialization with this torch seed')
    parser.add_argument('--out', required=True, metavar='DIR', help='output model folder (created)')
    add_head_arguments(parser)
    return parser.parse_args(argv)


def default_description(config_name: str, kind: str, args: argparse.Namespace) -> str:
    if kind == 'official-checkpoint':
        return f'Faceptor-{config_name.capitalize()} stage 1, converted from the official checkpoint {os.path.basename(args.checkpoint)}'
    if kind == 'fixture-formula':
        return f'Faceptor-{config_name} architecture with the parity fixture formula weights; untrained, for parity tests only'
    return (
        f'Untrained Faceptor-{config_name} with random weights (seed {args.random_seed}). It exists so the pipeline '
        'runs end to end before trained weights exist; every head is marked trained: false.'
    )


def prepare_output(out_dir: str, force: bool) -> None:
    """Fail on a non-empty --out folder unless --force, which empties it first."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not force:
            raise ExportError(f'output folder {out_dir} is not empty; pass --force to replace it')
        shutil.rmtree(out_dir)
    os.makedirs(out_dir, exist_ok=True)


def run_export(args: argparse.Namespace, config_name: str, load) -> int:
    """Build the model with `load(cfg)`, export it to args.out and print a summary."""
    started = time.time()
    cfg = get_config(config_name)
    heads = select_heads(cfg, requested_heads(args))
    model, source = load(cfg)
    prepare_output(args.out, args.force)
    name = args.name or os.path.basename(os.path.normpath(args.out))
    options = ExportOptions(
        name=name, version=args.model_version,
        description=args.description or default_description(config_name, source.kind, args),
    )
    manifest = export_model(model, args.out, heads, source, options)

    total = sum(os.path.getsize(os.path.join(args.out, g['file'])) for g in manifest['graphs'].values())
    head_tasks = ', '.join(f"{head}={entry['source_task']}" for head, entry in manifest['heads'].items())
    print(f"wrote {args.out}: {len(manifest['graphs'])} graphs ({total / 1e6:.1f} MB), heads: {head_tasks}, "
          f'{time.time() - started:.0f} s')
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.checkpoint is not None:
        load = lambda cfg: model_from_checkpoint(cfg, args.checkpoint)  # noqa: E731
    elif args.fixture_weights is not None:
        load = lambda cfg: model_from_fixture(cfg, args.fixture_weights)  # noqa: E731
    else:
        load = lambda cfg: model_from_seed(cfg, args.random_seed)  # noqa: E731
    try:
        return run_export(args, args.config, load)
    except (CheckpointError, ConfigError, ExportError, ManifestError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
