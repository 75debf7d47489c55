"""The distillation run: batches of augmented crops, the training loop, a quick check and the export."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceptor.config import FaceptorConfig, get_config
from faceptor.export import SoftmaxHeatmapOutput
from faceptor.labels import ARCFACE_TEMPLATE_112, CLIP_MEAN, CLIP_STD, FACE_MEAN, FACE_STD, LANDMARK_SCHEMES
from faceptor.model import Faceptor, build_model
from faceptor.train.losses import soft_argmax

from . import crops
from .augment import GeometricJitter, PhotometricJitter, flip_point_order, jitter_matrix, photometric
from .data import TeacherFace, load_photo
from .objectives import IdentityDistillation, age_dldl_loss, gaussian_log_density, heatmap_cross_entropy, landmark_loss, pearson, pairwise_cosine, soft_expression_loss, softmax_point_loss

LANDMARK_TASK = 'align_300w'
AGE_TASK = 'age_morph2'
EXPRESSION_TASK = 'affect_rafdb'
_, _, FIVE_POINT_GROUPS, LANDMARK_CROP_SCALE = LANDMARK_SCHEMES[LANDMARK_TASK]
TEMPLATE_SIZE = 112
LOSS_NAMES = ('landmarks', 'landmarks_softmax', 'landmarks_ce', 'age', 'expression', 'identity')


@dataclass
class DistillConfig:
    """Everything a run depends on besides the labels and the seed (see training/configs/demo-tiny.json)."""

    base_config: str = 'tiny'
    """Name of the faceptor.config model config the student starts from."""
    config_name: str = 'demo-tiny'
    """Name written to the manifest's architecture.config."""
    dense_input_size: int = 128
    """Input side of the dense (landmark) encoder pass, in pixels; a multiple of 16."""
    face_input_size: int = 112
    batch_size: int = 32
    learning_rate: float = 1e-3
    min_learning_rate_ratio: float = 0.02
    head_lr_multiplier: float = 10.0
    """Learning-rate factor of the interpreters (identity, value and map heads), as the official recipe uses."""
    weight_decay: float = 0.05
    warmup_steps: int = 100
    grad_clip: float = 1.0
    loss_weights: dict = field(default_factory=lambda: {
        'landmarks': 10.0, 'landmarks_softmax': 10.0, 'age': 0.05, 'expression': 1.0, 'identity': 1.0,
    })
    dense_jitter: dict = field(default_factory=lambda: {'max_rotation_degrees': 18.0, 'max_scale_change': 0.15, 'max_shift_fraction': 0.08})
    face_jitter: dict = field(default_factory=lambda: {'max_rotation_degrees': 8.0, 'max_scale_change': 0.08, 'max_shift_fraction': 0.04})
    face_alignment: str = 'teacher'
    """Five points of the training face crops: `teacher` (the teacher's landmarks plus noise of
    `face_point_noise`) or `student` (the student's own landmarks from the same step's landmark pass,
    detached, as the worker aligns at serving time)."""
    face_point_noise: float = 0.04
    """Std of the noise added to each teacher alignment point, as a fraction of the eye distance. It
    imitates the student's own landmark error, which places the face crop at serving time."""
    photometric: dict = field(default_factory=dict)
    position_init: str = 'random'
    """Encoder position table at initialization: `random` (the official N(0, width^-0.5)) or `sincos`
    (a 2-D sine-cosine code of the token grid times `position_init_scale`, then trained). From random
    weights the sine-cosine table lets the heatmaps vary with position from the first steps."""
    position_init_scale: float = 3.0
    landmark_decoding: str = 'sigmoid'
    """Point decoding the landmark head is trained for: `sigmoid` (the official soft-argmax) or
    `softmax` (the expectation of each map's spatial softmax). With `softmax` the export appends
    faceptor.export.SoftmaxHeatmapOutput, so the worker's official decoder reads the softmax expectation."""
    landmark_prior_sigma: float = 0.0
    """With `softmax` decoding: std, in heatmap pixels, of a fixed Gaussian log-prior around the training
    faces' mean shape, added to the heatmap logits (0: no prior). A network that has learned nothing
    then returns the mean shape instead of the crop center."""
    landmark_target_sigma: float = 1.0
    """Std, in heatmap pixels, of the Gaussian target of the `landmarks_ce` loss."""
    eval_every: int = 150
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.face_alignment not in ('teacher', 'student'):
            raise ValueError(f'face_alignment {self.face_alignment!r} is invalid; valid values: teacher, student')
        if self.position_init not in ('random', 'sincos'):
            raise ValueError(f'position_init {self.position_init!r} is invalid; valid values: random, sincos')
        if self.landmark_decoding not in ('sigmoid', 'softmax'):
            raise ValueError(f'landmark_decoding {self.landmark_decoding!r} is invalid; valid values: sigmoid, softmax')
        if self.landmark_prior_sigma and self.landmark_decoding != 'softmax':
            raise ValueError('landmark_prior_sigma needs landmark_decoding "softmax"; set it to 0 or switch the decoding')
        unknown = sorted(set(self.loss_weights) - set(LOSS_NAMES))
        if unknown:
            raise ValueError(f'loss_weights has unknown losses {unknown}; valid losses: {", ".join(LOSS_NAMES)}')

    @classmethod
    def from_file(cls, path: str | Path) -> 'DistillConfig':
        """Read a JSON config; unknown keys raise ValueError naming the valid ones."""
        values = json.loads(Path(path).read_text(encoding='utf-8'))
        values.pop('description', None)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f'{path}: unknown config keys {unknown}; valid keys: {", ".join(sorted(known))}')
        return cls(**values)

    def model_config(self) -> FaceptorConfig:
        """Build the student's FaceptorConfig: the base config with this run's input sizes and name."""
        base = get_config(self.base_config)
        return replace(
            base, name=self.config_name, dense_input_size=self.dense_input_size, face_input_size=self.face_input_size,
            description=f'{base.description}; {self.dense_input_size} px dense input for the CPU distillation demo',
        )


@dataclass
class Sample:
    """A face with its decoded photo."""

    face: TeacherFace
    photo: torch.Tensor
    """(3, H, W) float32 in 0..255."""


def load_samples(faces: list[TeacherFace], photos_dir: Path) -> list[Sample]:
    """Decode each photo once and pair it with its faces."""
    cache: dict[str, torch.Tensor] = {}
    samples = []
    for face in faces:
        if face.photo not in cache:
            cache[face.photo] = crops.photo_tensor(load_photo(photos_dir / face.photo))
        samples.append(Sample(face, cache[face.photo]))
    return samples


@dataclass
class Batch:
    dense: torch.Tensor
    """(B, 3, Sd, Sd) normalized landmark crops."""
    points: torch.Tensor
    """(B, 68, 2) teacher points in landmark-crop pixels."""
    face: torch.Tensor | None
    """(B, 3, Sf, Sf) normalized face crops; None until built when the crops follow the student's landmarks."""
    samples: list[Sample]
    dense_matrices: list[np.ndarray]
    """Photo -> landmark-crop map of each sample, jitter and mirror included."""
    ages: torch.Tensor
    expressions: torch.Tensor
    identities: torch.Tensor


class BatchBuilder:
    """Builder of training batches: augmented when given a random generator, plain when given None."""

    def __init__(self, cfg: DistillConfig) -> None:
        self.cfg = cfg
        self.dense_jitter = GeometricJitter(**cfg.dense_jitter)
        self.face_jitter = GeometricJitter(**cfg.face_jitter)
        self.photometric = PhotometricJitter(**cfg.photometric)

    def landmark_crop(self, sample: Sample, rng: np.random.Generator | None) -> tuple[torch.Tensor, np.ndarray]:
        """Normalized landmark crop and the teacher points in its pixels."""
        image, points, _ = self.landmark_crop_with_matrix(sample, rng)
        return image, points

    def landmark_crop_with_matrix(self, sample: Sample, rng: np.random.Generator | None) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Normalized landmark crop, the teacher points in its pixels and the photo -> crop map."""
        size = self.cfg.dense_input_size
        matrix = crops.box_crop_matrix(sample.face.box, size, LANDMARK_CROP_SCALE)
        flipped = False
        if rng is not None:
            jitter, flipped = jitter_matrix(size, self.dense_jitter, rng)
            matrix = jitter @ matrix
        image = crops.sample_crop(sample.photo, matrix, size)
        points = crops.map_points(sample.face.landmarks, matrix)
        if flipped:
            points = flip_point_order(points)
        if rng is not None:
            image = photometric(image, self.photometric, rng)
        return crops.normalize(image, CLIP_MEAN, CLIP_STD), points, matrix

    def face_crop(self, sample: Sample, rng: np.random.Generator | None, landmarks: np.ndarray | None = None) -> torch.Tensor:
        """Normalized face crop aligned on five points of `landmarks` (default: the teacher's plus noise)."""
        size = self.cfg.face_input_size
        five = crops.five_points(sample.face.landmarks if landmarks is None else landmarks, FIVE_POINT_GROUPS)
        if rng is not None and landmarks is None:
            eye_distance = float(np.linalg.norm(five[1] - five[0]))
            five = five + rng.normal(0, self.cfg.face_point_noise * eye_distance, size=five.shape)
        matrix = crops.arcface_matrix(five, ARCFACE_TEMPLATE_112, TEMPLATE_SIZE, size)
        if rng is not None:
            jitter, _ = jitter_matrix(size, self.face_jitter, rng)
            matrix = jitter @ matrix
        image = crops.sample_crop(sample.photo, matrix, size)
        if rng is not None:
            image = photometric(image, self.photometric, rng)
        return crops.normalize(image, FACE_MEAN, FACE_STD)

    def build(self, samples: list[Sample], rng: np.random.Generator | None) -> Batch:
        """Landmark crops, and face crops too unless they follow the student's landmarks."""
        dense, points, matrices = [], [], []
        for sample in samples:
            image, crop_points, matrix = self.landmark_crop_with_matrix(sample, rng)
            dense.append(image)
            points.append(torch.from_numpy(crop_points).to(torch.float32))
            matrices.append(matrix)
        face = None
        if self.cfg.face_alignment == 'teacher':
            face = torch.stack([self.face_crop(sample, rng) for sample in samples])
        return Batch(
            dense=torch.stack(dense), points=torch.stack(points), face=face, samples=list(samples), dense_matrices=matrices,
            ages=torch.tensor([s.face.age_years for s in samples], dtype=torch.float32),
            expressions=torch.from_numpy(np.stack([s.face.expression for s in samples])).to(torch.float32),
            identities=torch.from_numpy(np.stack([s.face.identity for s in samples])).to(torch.float32),
        )

    def mean_shape(self, samples: list[Sample]) -> np.ndarray:
        """(68, 2) mean of the teacher points in the landmark crop without jitter, in crop pixels."""
        size = self.cfg.dense_input_size
        return np.mean([
            crops.map_points(sample.face.landmarks, crops.box_crop_matrix(sample.face.box, size, LANDMARK_CROP_SCALE))
            for sample in samples
        ], axis=0)

    def student_face_crops(self, batch: Batch, heatmaps: torch.Tensor, rng: np.random.Generator | None) -> torch.Tensor:
        """Face crops aligned on the points the student reads from the served `heatmaps` (as the worker decodes them)."""
        size = self.cfg.dense_input_size
        crop_points = soft_argmax(heatmaps.detach()).double().numpy() * size - 0.5
        faces = []
        for sample, matrix, points in zip(batch.samples, batch.dense_matrices, crop_points):
            # The mirror is part of the matrix, and the flipped targets were reordered, so point i maps back
            # to the person's point i.
            photo_points = crops.map_points(points, np.linalg.inv(matrix))
            faces.append(self.face_crop(sample, rng, photo_points))
        return torch.stack(faces)


def sincos_position_table(model: Faceptor, scale: float) -> None:
    """Overwrite the encoder's position table with a 2-D sine-cosine code of its grid times `scale`.

    Each quarter of the width contains one of sin(x w), cos(x w), sin(y w), cos(y w), with frequencies w
    from 1 down to 1/100 per grid step. The class-token row is set to zero.
    """
    table = model.backbone_module.visual.positional_embedding
    rows, width = table.shape
    side = math.isqrt(rows - 1)
    if side * side != rows - 1 or width % 4:
        raise ValueError(f'position table of shape {tuple(table.shape)} is not 1 + side^2 rows of a width divisible by 4')
    quarter = width // 4
    frequencies = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing='ij')
    x_angles = xs.reshape(-1, 1) * frequencies
    y_angles = ys.reshape(-1, 1) * frequencies
    code = torch.cat([x_angles.sin(), x_angles.cos(), y_angles.sin(), y_angles.cos()], dim=1)
    with torch.no_grad():
        table[0].zero_()
        table[1:] = code * scale


class Student(nn.Module):
    """The Faceptor student, the training-only identity projection and, for softmax landmark decoding,
    the heatmap rewrite that the export appends to the landmark graph."""

    def __init__(
        self, model: Faceptor, teacher_identity_dim: int, landmark_output: SoftmaxHeatmapOutput | None = None,
        landmark_target_sigma: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.identity_loss = IdentityDistillation(model.cfg.identity_dim, teacher_identity_dim)
        self.landmark_output = landmark_output
        self.landmark_target_sigma = landmark_target_sigma

    def served_heatmaps(self, heatmap_logits: torch.Tensor) -> torch.Tensor:
        """The heatmaps the exported graph returns for these logits."""
        return heatmap_logits if self.landmark_output is None else self.landmark_output(heatmap_logits)

    def losses(
        self, batch: Batch, weights: dict, builder: 'BatchBuilder | None' = None, rng: np.random.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted total loss and every named part, as floats for the log.

        When the batch has no face crops yet, `builder` makes them from this step's landmark heatmaps.
        """
        model = self.model
        size = model.cfg.dense_input_size
        dense_features = model.encode(batch.dense)
        raw = model.interpret(dense_features, LANDMARK_TASK)
        heatmaps = self.served_heatmaps(raw)
        scored = raw if self.landmark_output is None else self.landmark_output.prior_logits(raw)
        terms = {}
        if weights.get('landmarks'):
            terms['landmarks'] = landmark_loss(heatmaps, batch.points, size)
        if weights.get('landmarks_softmax'):
            terms['landmarks_softmax'] = softmax_point_loss(scored, batch.points, size)
        if weights.get('landmarks_ce'):
            terms['landmarks_ce'] = heatmap_cross_entropy(scored, batch.points, size, self.landmark_target_sigma)
        face = batch.face
        if face is None:
            if builder is None:
                raise ValueError('the batch has no face crops; pass the BatchBuilder that aligns them on the student landmarks')
            face = builder.student_face_crops(batch, heatmaps, rng)
        face_features = model.encode(face)
        age = age_dldl_loss(model.interpret(face_features, AGE_TASK), batch.ages)
        expression = soft_expression_loss(model.interpret(face_features, EXPRESSION_TASK), batch.expressions)
        identity = self.identity_loss(model.embed_identity(face_features), batch.identities)

        terms.update({'age': age, 'expression': expression, 'identity': identity})
        total = sum(weights.get(name, 0.0) * term.total for name, term in terms.items())
        log = {'loss': float(total)}
        for name, term in terms.items():
            for part, value in term.parts.items():
                log[f'{name}.{part}'] = float(value)
        return total, log


def build_optimizer(student: Student, cfg: DistillConfig) -> torch.optim.AdamW:
    """AdamW over four groups: encoder and decoder at the base rate, the interpreters (and the training-only
    identity projection) at `head_lr_multiplier` times it, each with weight decay on matrices only.

    The map interpreter starts with weights of std about 0.025, and Adam moves a weight by about the
    learning rate per step. At the base rate the points stayed at the crop center for over a hundred
    steps (crop-normalized error 0.22 at step 130); with the 10x head rate they had moved to 0.17.
    """
    groups: dict[tuple[bool, bool], list] = {(head, decay): [] for head in (False, True) for decay in (False, True)}
    for name, parameter in student.named_parameters():
        head = name.startswith('model.heads_module.interpreters.') or name.startswith('identity_loss.')
        no_decay = parameter.ndim <= 1 or 'embed' in name or 'query' in name or 'positional' in name or 'class_embedding' in name
        groups[(head, not no_decay)].append(parameter)
    return torch.optim.AdamW(
        [
            {'params': params, 'weight_decay': cfg.weight_decay if decay else 0.0, 'lr_scale': cfg.head_lr_multiplier if head else 1.0}
            for (head, decay), params in groups.items() if params
        ],
        lr=cfg.learning_rate, betas=(0.9, 0.999),
    )


def learning_rate(step: int, progress: float, cfg: DistillConfig) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to min_learning_rate_ratio * peak.

    `progress` runs from 0 at the end of the warmup to 1 at the end of the run (in steps or in time).
    """
    peak = cfg.learning_rate
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    progress = min(1.0, max(0.0, progress))
    floor = peak * cfg.min_learning_rate_ratio
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class FaceStream:
    """An endless stream of training samples: a fresh random permutation every epoch."""

    def __init__(self, samples: list[Sample], rng: np.random.Generator) -> None:
        self.samples = samples
        self.rng = rng
        self.order: list[int] = []

    def take(self, count: int) -> list[Sample]:
        """`count` distinct samples (count <= number of samples)."""
        chosen: list[int] = []
        deferred: list[int] = []
        while len(chosen) < count:
            if not self.order:
                self.order = [int(i) for i in self.rng.permutation(len(self.samples))]
            index = self.order.pop()
            if index in chosen:
                deferred.append(index)
            else:
                chosen.append(index)
        self.order = deferred + self.order
        return [self.samples[i] for i in chosen]


@torch.no_grad()
def quick_check(
    model: Faceptor, builder: BatchBuilder, samples: list[Sample], chunk: int = 32, landmark_output: nn.Module | None = None,
) -> dict[str, float]:
    """Agreement with the teacher in PyTorch, in the serving order: landmarks from the detector box,
    then the face crop aligned on the student's own landmarks.

    The reported numbers come from training/teachers/evaluate-student.ts, which runs the real
    pipeline; this check only follows the run.
    """
    was_training = model.training
    model.eval()
    size = model.cfg.dense_input_size
    nme, age_error, agree, embeddings = [], [], [], []
    for start in range(0, len(samples), chunk):
        part = samples[start:start + chunk]
        dense = torch.stack([builder.landmark_crop(sample, None)[0] for sample in part])
        heatmaps = model.interpret(model.encode(dense), LANDMARK_TASK)
        if landmark_output is not None:
            heatmaps = landmark_output(heatmaps)
        crop_points = soft_argmax(heatmaps).double().numpy() * size - 0.5
        predicted = []
        for sample, points in zip(part, crop_points):
            matrix = crops.box_crop_matrix(sample.face.box, size, LANDMARK_CROP_SCALE)
            image_points = crops.map_points(points, np.linalg.inv(matrix))
            predicted.append(image_points)
            teacher = sample.face.landmarks
            inter_ocular = float(np.linalg.norm(teacher[36] - teacher[45]))
            nme.append(float(np.linalg.norm(image_points - teacher, axis=1).mean()) / inter_ocular)

        face = torch.stack([builder.face_crop(sample, None, points) for sample, points in zip(part, predicted)])
        features = model.encode(face)
        activated = torch.sigmoid(model.interpret(features, AGE_TASK))
        years = (activated / activated.sum(dim=1, keepdim=True) * torch.arange(activated.shape[1])).sum(dim=1)
        expression = model.interpret(features, EXPRESSION_TASK).argmax(dim=1)
        for sample, age, label in zip(part, years.tolist(), expression.tolist()):
            age_error.append(abs(age - sample.face.age_years))
            agree.append(label == int(np.argmax(sample.face.expression)))
        embeddings.append(model.embed_identity(features))
    model.train(was_training)

    correlation = float('nan')
    if len(samples) >= 3:
        student_pairs = pairwise_cosine(torch.cat(embeddings))
        teacher_pairs = pairwise_cosine(torch.from_numpy(np.stack([s.face.identity for s in samples])))
        correlation = float(pearson(student_pairs, teacher_pairs.float()))
    return {
        'faces': len(samples), 'nme': float(np.mean(nme)), 'age_mae': float(np.mean(age_error)),
        'expression_agreement': float(np.mean(agree)), 'identity_pair_pearson': correlation,
    }


@dataclass
class RunResult:
    model: Faceptor
    steps: int
    seconds: float
    final_log: dict
    checks: dict
    landmark_output: SoftmaxHeatmapOutput | None = None
    """The heatmap rewrite to export with the landmark graph (softmax decoding only)."""


def build_student(cfg: DistillConfig, train_samples: list[Sample], teacher_identity_dim: int, init_state: dict | None) -> Student:
    """Build the student for `cfg` from fresh weights (with the configured position table) or `init_state`.

    With softmax landmark decoding it also gets the heatmap rewrite, whose prior is centered on the mean
    shape of `train_samples`.
    """
    model = build_model(cfg.model_config())
    if cfg.position_init == 'sincos':
        sincos_position_table(model, cfg.position_init_scale)
    if init_state is not None:
        model.load_state_dict(init_state)
    landmark_output = None
    if cfg.landmark_decoding == 'softmax':
        prior = None
        if cfg.landmark_prior_sigma:
            size = cfg.dense_input_size
            map_side = 4 * model.cfg.token_grid(size)
            mean_shape = torch.from_numpy(BatchBuilder(cfg).mean_shape(train_samples))
            prior = gaussian_log_density(mean_shape, size, map_side, cfg.landmark_prior_sigma)
        landmark_output = SoftmaxHeatmapOutput(prior)
    return Student(model, teacher_identity_dim, landmark_output, cfg.landmark_target_sigma)


def train(
    cfg: DistillConfig, train_samples: list[Sample], heldout_samples: list[Sample], *, steps: int | None, minutes: float | None,
    seed: int, log_path: Path | None = None, checkpoint_path: Path | None = None, init_state: dict | None = None,
) -> RunResult:
    """Train a student for `steps` optimizer steps, or for `minutes` of wall time.

    With `steps`, the cosine decay runs over the steps and the run is reproducible from the seed. With
    `minutes`, it runs over wall time, so the schedule ends on time however fast the machine is; the
    number of steps taken is returned (rerunning with that many `steps` gives a close, not identical, run).
    """
    if (steps is None) == (minutes is None):
        raise ValueError('give exactly one of steps or minutes')
    if len(train_samples) < 3:
        raise ValueError(f'distillation needs at least 3 training faces, got {len(train_samples)}')
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    teacher_dim = len(train_samples[0].face.identity)
    student = build_student(cfg, train_samples, teacher_dim, init_state)
    student.train()
    optimizer = build_optimizer(student, cfg)
    builder = BatchBuilder(cfg)
    stream = FaceStream(train_samples, rng)
    batch_size = min(cfg.batch_size, len(train_samples))

    log_file = open(log_path, 'a', encoding='utf-8') if log_path else None
    started = time.monotonic()
    budget = minutes * 60 if minutes is not None else None
    warmup_done_at: float | None = None
    step = 0
    log: dict = {}

    def write(record: dict, echo: bool) -> None:
        line = json.dumps(record)
        if echo:
            print(line, flush=True)
        if log_file:
            log_file.write(line + '\n')
            log_file.flush()

    try:
        while True:
            elapsed = time.monotonic() - started
            if steps is not None and step >= steps:
                break
            if budget is not None and elapsed >= budget:
                break
            if step == cfg.warmup_steps:
                warmup_done_at = elapsed
            if steps is not None:
                progress = (step - cfg.warmup_steps) / max(1, steps - cfg.warmup_steps)
            elif warmup_done_at is not None:
                progress = (elapsed - warmup_done_at) / max(1e-9, budget - warmup_done_at)
            else:
                progress = 0.0
            lr = learning_rate(step, progress, cfg)
            for group in optimizer.param_groups:
                group['lr'] = lr * group['lr_scale']

            batch = builder.build(stream.take(batch_size), rng)
            loss, log = student.losses(batch, cfg.loss_weights, builder, rng)
            if not math.isfinite(float(loss)):
                raise FloatingPointError(f'loss became {float(loss)} at step {step}: {log}')
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1

            record = {'step': step, 'lr': lr, 'seconds': round(time.monotonic() - started, 1), **{k: round(v, 5) for k, v in log.items()}}
            write(record, step % cfg.log_every == 0 or step == 1)
            if cfg.eval_every and step % cfg.eval_every == 0 and heldout_samples:
                write({'step': step, 'heldout_check': quick_check(student.model, builder, heldout_samples, landmark_output=student.landmark_output)}, True)
                if checkpoint_path:
                    torch.save({'step': step, 'model': student.model.state_dict(), 'config': cfg.__dict__}, checkpoint_path)
    finally:
        if log_file:
            log_file.close()

    seconds = time.monotonic() - started
    student.model.eval()
    checks = {'train': quick_check(student.model, builder, train_samples, landmark_output=student.landmark_output)}
    if heldout_samples:
        checks['heldout'] = quick_check(student.model, builder, heldout_samples, landmark_output=student.landmark_output)
    return RunResult(model=student.model, steps=step, seconds=seconds, final_log=log, checks=checks, landmark_output=student.landmark_output)

