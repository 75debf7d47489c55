"""Train Faceptor: stage 1 (Base, Full), stage 2 (AddLevel fine-tuning of one task) or the tiny smoke run.

One process per GPU under torchrun, or a single process:

    torchrun --nproc_per_node 2 training/train.py --config training/configs/base.yaml --data-root /data/faceptor
    /usr/bin/python3 training/train.py --config training/configs/tiny-smoke.yaml --synthetic-data /tmp/faceptor-synthetic

See docs/training.md for the dataset layouts, resuming, stage 2 and evaluation.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faceptor.checkpoint import CheckpointError  # noqa: E402
from faceptor.config import ConfigError  # noqa: E402
from faceptor.data.errors import DatasetFormatError  # noqa: E402

EXIT_CONFIG = 2
EXIT_NON_FINITE = 3


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser; every flag has help text."""
    parser = argparse.ArgumentParser(
        description='Train Faceptor from a YAML/JSON run config (see training/configs/ and docs/training.md). '
        'Flags override the config fields they name.',
    )
    parser.add_argument('--config', required=True, help='run config file (.yaml, .yml or .json), for example training/configs/base.yaml')
    parser.add_argument('--set', dest='overrides', action='append', default=[], metavar='KEY=VALUE',
                        help='override a config field by dotted path, for example --set optim.peak_lr=1e-4 or --set tasks.0.batch_size=64; repeatable')
    parser.add_argument('--data-root', help='folder that relative task roots resolve against (config field data_root)')
    parser.add_argument('--output-dir', help='run folder for checkpoints/ and logs/ (config field output_dir)')
    parser.add_argument('--max-iter', type=int, help='total optimizer steps (config field max_iter); changing it changes the schedule and the sample order')
    parser.add_argument('--seed', type=int, help='seed of sample order, augmentations and model randomness (config field seed)')
    parser.add_argument('--num-workers', type=int, help='data loader workers per task and per process (config field num_workers)')
    parser.add_argument('--pretrained-backbone', help='FaRL checkpoint FaRL-Base-Patch16-LAIONFace20M-ep64.pth that initializes the encoder')
    parser.add_argument('--init-checkpoint', help='official-layout checkpoint whose weights initialize the model; for stage 2 the Full stage-1 checkpoint')
    parser.add_argument('--official-stage2-params', action='store_true',
                        help='stage 2: train only the new projections and level embeddings, as the released code does (default also trains the task query tables)')
    parser.add_argument('--resume', default='auto',
                        help="'auto' (the default) resumes from the latest checkpoint in <output-dir>/checkpoints if there is one, 'none' starts fresh, or a checkpoint path")
    parser.add_argument('--device', default='auto', choices=('auto', 'cuda', 'cpu'), help='device of each process; auto (the default) picks CUDA when available')
    parser.add_argument('--synthetic-data', metavar='DIR',
                        help='write small synthetic datasets in the official formats to DIR (if missing) and train on them; for smoke tests')
    parser.add_argument('--print-config', action='store_true', help='print the resolved config as YAML and exit')
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    return build_parser().parse_args(argv)


def resolve_config(args: argparse.Namespace):
    """Read the config file and apply the command-line overrides; returns the validated TrainConfig."""
    from faceptor.train.config import apply_overrides, read_config_file, train_config_from_dict

    data = apply_overrides(read_config_file(args.config), args.overrides)
    simple = {'data_root': args.data_root, 'output_dir': args.output_dir, 'max_iter': args.max_iter, 'seed': args.seed, 'num_workers': args.num_workers,
              'pretrained_backbone': args.pretrained_backbone}
    data.update({key: value for key, value in simple.items() if value is not None})
    if args.init_checkpoint:
        if data.get('stage2'):
            data['stage2']['init_checkpoint'] = args.init_checkpoint
        else:
            data['init_checkpoint'] = args.init_checkpoint
    if args.official_stage2_params:
        if not data.get('stage2'):
            raise ConfigError('--official-stage2-params needs a stage-2 config (one with a stage2 section)')
        data['stage2']['official_params'] = True
    if args.synthetic_data:
        from faceptor.train.synthetic import use_synthetic_data
        use_synthetic_data(data, args.synthetic_data)
    return train_config_from_dict(data)


def setup_logging(is_main: bool, output_dir: str) -> None:
    """Log INFO to stderr and <output_dir>/logs/train.log on rank 0, warnings only elsewhere."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if is_main:
        log_dir = Path(output_dir) / 'logs'
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / 'train.log'))
    logging.basicConfig(level=logging.INFO if is_main else logging.WARNING, format='%(asctime)s %(levelname)s %(name)s: %(message)s', handlers=handlers, force=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = resolve_config(args)
    except ConfigError as error:
        print(f'error: invalid config: {error}', file=sys.stderr)
        return EXIT_CONFIG
    if args.print_config:
        import yaml
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return 0

    from faceptor.train.builder import build_training
    from faceptor.train.ddp import init_distributed, shutdown
    from faceptor.train.trainer import NonFiniteLossError

    ctx = init_distributed(args.device)
    setup_logging(ctx.is_main, cfg.output_dir)
    if ctx.device.type == 'cuda':
        import torch
        torch.backends.cudnn.benchmark = True  # as the official runs; input sizes are fixed per task
    logger = logging.getLogger('faceptor.train')
    resume = None if args.resume == 'none' else args.resume
    try:
        session = build_training(cfg, ctx, resume=resume)
        session.run()
    except (ConfigError, CheckpointError, DatasetFormatError) as error:
        logger.error('training stopped: %s', error)
        return EXIT_CONFIG
    except NonFiniteLossError as error:
        logger.error('training stopped: %s', error)
        return EXIT_NON_FINITE
    finally:
        shutdown(ctx)
    if ctx.is_main:
        logger.info('training finished; checkpoints in %s', Path(cfg.output_dir) / 'checkpoints')
    return 0


if __name__ == '__main__':
    sys.exit(main())
