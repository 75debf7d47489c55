#!/usr/bin/env python3
"""Train the demo faceptor-tiny by distilling teacher labels, then export it as a model folder.

Example, the run that made models/faceptor-tiny (docs/model-card.md):
    /usr/bin/python3 training/distill/train_demo.py --labels training/data/teacher-labels.json \
        --steps 1800 --seed 0 --untrained-heads identity --out models/faceptor-tiny
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

TRAINING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINING_DIR.parent
sys.path.insert(0, str(TRAINING_DIR))

import torch  # noqa: E402

from distill.data import LabelsError, check_photos, file_sha256, load_labels  # noqa: E402
from distill.export_student import DistilledModelInfo, export_student  # noqa: E402
from distill.trainer import DistillConfig, load_samples, train  # noqa: E402
from faceptor.model import count_parameters  # noqa: E402

DEFAULT_CONFIG = TRAINING_DIR / 'configs' / 'demo-tiny.json'
DEFAULT_PHOTOS = REPO_ROOT / 'test' / 'fixtures' / 'photos'
DISTILLED_HEADS = ('landmarks', 'age', 'expression', 'identity')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--labels', required=True, help='teacher-labels file (faceptor.teacher-labels/v1), e.g. training/data/teacher-labels.json')
    parser.add_argument('--out', help='model folder to write (replaced when it exists); omit to train and check without exporting')
    parser.add_argument('--config', default=str(DEFAULT_CONFIG), help=f'distillation config JSON (default: {DEFAULT_CONFIG.relative_to(REPO_ROOT)})')
    parser.add_argument('--photos', default=str(DEFAULT_PHOTOS), help='folder the labels file\'s photo paths are relative to (default: test/fixtures/photos)')
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        '--steps', type=int,
        help='number of optimizer steps; the learning-rate schedule follows the steps, so a run repeats from its seed. '
             '0 with --init-checkpoint only checks and exports that checkpoint (for example with other --untrained-heads)',
    )
    length.add_argument('--minutes', type=float, help='train for this many minutes of wall time, with the learning-rate schedule following the clock (default: 45 when --steps is not given)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the initialization, the face order and the augmentations (default: 0)')
    parser.add_argument('--threads', type=int, default=2, help='PyTorch intra-op threads (default: 2)')
    parser.add_argument('--init-checkpoint', help='start from the model weights of a checkpoint.pt written by an earlier run (default: random initialization)')
    parser.add_argument('--faces', type=int, help='train on only the first N training faces (for smoke tests)')
    parser.add_argument('--work-dir', default=os.path.join('/tmp', 'faceptor-distill'), help='folder for the step log and the latest checkpoint (default: /tmp/faceptor-distill)')
    parser.add_argument('--version', default='2.0.0', help='version written to the manifest (default: 2.0.0)')
    parser.add_argument(
        '--untrained-heads', default='',
        help='comma-separated distilled heads (landmarks, age, expression, identity) to mark untrained in the manifest, '
             'for heads whose held-out agreement is no better than a baseline without a network (default: none)',
    )
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < (0 if args.init_checkpoint else 1):
        parser.error(f'--steps must be at least 1 (or 0 with --init-checkpoint), got {args.steps}')
    if args.minutes is not None and not args.minutes > 0:
        parser.error(f'--minutes must be positive, got {args.minutes}')
    if args.threads < 1:
        parser.error(f'--threads must be at least 1, got {args.threads}')
    if args.faces is not None and args.faces < 3:
        parser.error(f'--faces must be at least 3 (the identity loss compares pairs in a batch), got {args.faces}')
    args.untrained_heads = [name.strip() for name in args.untrained_heads.split(',') if name.strip()]
    unknown = sorted(set(args.untrained_heads) - set(DISTILLED_HEADS))
    if unknown:
        parser.error(f'--untrained-heads names {unknown}; valid heads: {", ".join(DISTILLED_HEADS)}')
    if args.steps is None and args.minutes is None:
        args.minutes = 45.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        cfg = DistillConfig.from_file(args.config)
        labels = load_labels(args.labels)
        photos_dir = Path(args.photos)
        train_faces = labels.split('train')
        if args.faces is not None:
            train_faces = train_faces[:args.faces]
        heldout_faces = labels.split('heldout')
        photo_hashes = check_photos(labels, photos_dir, train_faces + heldout_faces)
    except (LabelsError, ValueError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2

    init_state, history = None, []
    if args.init_checkpoint:
        try:
            checkpoint = torch.load(args.init_checkpoint, map_location='cpu')
        except (OSError, RuntimeError) as error:
            print(f'error: cannot read --init-checkpoint {args.init_checkpoint}: {error}', file=sys.stderr)
            return 2
        init_state = checkpoint['model']
        history = list(checkpoint.get('history') or [
            f'an earlier run of {checkpoint.get("step")} steps (checkpoint sha256 {file_sha256(args.init_checkpoint)})'
        ])

    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    train_samples = load_samples(train_faces, photos_dir)
    heldout_samples = load_samples(heldout_faces, photos_dir)
    train_photos = sorted({face.photo for face in train_faces})
    print(f'{len(train_faces)} training faces on {len(train_photos)} photos, {len(heldout_faces)} held-out faces; seed {args.seed}', flush=True)

    result = train(
        cfg, train_samples, heldout_samples, steps=args.steps, minutes=args.minutes,
        seed=args.seed, log_path=work_dir / 'steps.jsonl', checkpoint_path=work_dir / 'checkpoint.pt', init_state=init_state,
    )
    if result.steps:
        history.append(run_description(args, cfg, result))
    torch.save({'step': result.steps, 'model': result.model.state_dict(), 'config': cfg.__dict__, 'history': history}, work_dir / 'checkpoint.pt')
    summary = {
        'steps': result.steps, 'seconds': round(result.seconds, 1), 'seed': args.seed, 'threads': args.threads,
        'batch_size': cfg.batch_size, 'parameters': count_parameters(result.model), 'torch': torch.__version__,
        'machine': machine_description(args.threads), 'train_faces': len(train_faces), 'train_photos': len(train_photos),
        'pytorch_checks': result.checks,
    }
    (work_dir / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n', encoding='utf-8')
    print(json.dumps(summary, indent=2), flush=True)

    if args.out:
        info = model_info(args, labels, cfg, result, train_faces, train_photos, photo_hashes, history)
        manifest = export_student(result.model, args.out, info, result.landmark_output)
        print(f'wrote {args.out} ({manifest["name"]} {manifest["version"]}); trained heads: '
              f'{", ".join(name for name, head in manifest["heads"].items() if head["trained"])}', flush=True)
    return 0


def machine_description(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    return f'{cpu}, {os.cpu_count()} CPU cores ({threads} torch threads), {platform.system()} {platform.release()}'


def run_description(args, cfg: DistillConfig, result) -> str:
    """Describe a run in one line: command flags, config, steps, wall time and machine."""
    schedule = f'--minutes {args.minutes:g} ({result.steps} steps)' if args.minutes else f'--steps {result.steps}'
    start = ' from the previous checkpoint' if args.init_checkpoint else ' from random weights'
    return (
        f'training/distill/train_demo.py --config {Path(args.config).name} --seed {args.seed} {schedule} --threads {args.threads}'
        f'{start}: batch {cfg.batch_size}, face crops aligned on {cfg.face_alignment} landmarks, '
        f'{result.seconds / 60:.1f} minutes on {machine_description(args.threads)}, torch {torch.__version__}'
    )


def model_info(args, labels, cfg: DistillConfig, result, train_faces, train_photos, photo_hashes, history: list[str]) -> DistilledModelInfo:
    labels_path = Path(args.labels).resolve()
    try:
        labels_name = str(labels_path.relative_to(REPO_ROOT))
    except ValueError:
        labels_name = labels_path.name
    face_count = len(train_faces)
    described = f'{face_count} faces of {len(train_photos)} photos'
    teacher_of = {
        'landmarks': 'faceLandmark68Net labels', 'age': 'ageGenderNet labels', 'expression': 'faceExpressionNet labels',
        'identity': 'faceRecognitionNet descriptors',
    }
    trained_on = {
        head: f'distilled from face-api {teacher} on {described}'
        for head, teacher in teacher_of.items() if head not in args.untrained_heads
    }
    hashes = ', '.join(f'{photo} {photo_hashes[photo]}' for photo in train_photos)
    runs = ' Then '.join(f'{index + 1}) {line}.' for index, line in enumerate(history))
    notes = (
        f'Distilled in this repository, in {len(history)} run(s): {runs} '
        f'Training split of {labels_name}: {described}. Training photos (sha256): {hashes}.'
    )
    if cfg.landmark_decoding == 'softmax':
        prior = f'plus a fixed Gaussian log-prior (std {cfg.landmark_prior_sigma:g} heatmap pixels) around the training mean shape, ' if cfg.landmark_prior_sigma else ''
        notes += (
            f' The landmark graph returns its heatmap logits {prior}as a per-map log-softmax minus 10, so the '
            'official sigmoid soft-argmax decoder reads the softmax expectation the head was trained for.'
        )
    license_notes = (
        'Weights trained by this project from teacher outputs. Teachers: the face-api networks of npm '
        '@vladmandic/face-api 1.7.15 (MIT License). Photos: test/fixtures/photos, licensed as '
        'test/fixtures/photos/PROVENANCE.md lists (public domain NASA and dlib example photos, PASCAL VOC '
        'photos from Flickr under the VOC terms, and the MIT-licensed face-api demo photos).'
    )
    return DistilledModelInfo(
        name='faceptor-tiny', version=args.version,
        description=(
            f'Demo Faceptor-tiny distilled on {face_count} faces from face-api teacher labels; trained heads: '
            f'{", ".join(trained_on) or "none"}; every other head is untrained. Not the official Faceptor weights.'
        ),
        source_file=labels_name, source_sha256=file_sha256(labels_path), source_notes=notes,
        license_id='see-notes', license_notes=license_notes, trained_on=trained_on,
    )


if __name__ == '__main__':
    sys.exit(main())
