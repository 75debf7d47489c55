"""Training run configuration: dataclasses with a docstring per field, read from YAML or JSON files.

The files in `training/configs/` use exactly these field names; an unknown or missing field stops
the load with the field's path and the valid names.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, get_config
from .optim import OptimConfig

PRECISIONS = ('fp32', 'official-fp16', 'amp-fp16', 'amp-bf16')


@dataclass
class TaskDataConfig:
    """One trained task: its dataset folder, split, batch size and raw loss weight."""

    name: str
    """Official task key `<type>_<dataset>`, for example `age_morph2`; it picks the reader and the loss."""
    root: str
    """Dataset folder in the layout its reader expects; a relative path is resolved against data_root."""
    batch_size: int
    """Per-GPU (per-process) batch size of this task."""
    loss_weight: float | None = None
    """Raw loss weight w_t before the per-type normalization; None means batch_size, as in the official configs."""
    split: str = 'train'
    """Reader split to train on, for example 'trainval' (CelebA) or 'train_val' (CelebAMask-HQ, LaPa)."""
    reader_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the reader, for example {'label_file': 'label.txt'} for RAF-DB."""

    @property
    def raw_loss_weight(self) -> float:
        """w_t: loss_weight when set, else batch_size."""
        return float(self.batch_size if self.loss_weight is None else self.loss_weight)


@dataclass
class Stage2Config:
    """Stage-2 auxiliary fine-tuning of one task on the AddLevel decoder."""

    task: str
    """The single task to fine-tune, for example affect_rafdb; it must be the only entry of `tasks`."""
    init_checkpoint: str
    """Stage-1 checkpoint (official layout) whose weights initialize every module but the new ones."""
    new_levels: list[int] = field(default_factory=lambda: [1, 3, 5, 7, 9])
    """Encoder layers (0-based) added to the decoder memory, each with a new 1x1 projection and level embedding."""
    official_params: bool = False
    """True: train only what the released code trains (the new projections and embeddings).
    False: also train the task's own query tables, which the released list meant to include."""


@dataclass
class TrainConfig:
    """A complete training run."""

    model: str
    """Model config name from faceptor.config: base, full or tiny."""
    tasks: list[TaskDataConfig]
    """Trained tasks, in the order their batches enter the encoder."""
    max_iter: int = 50000
    """Total optimizer steps T; the cosine reaches min_lr here."""
    seed: int = 2048
    """Seed of the sample order (shared by all ranks), the augmentations and the model's random ops."""
    task_weights: dict[str, float] = field(default_factory=dict)
    """Per-type weight W_type (recog, age, biattr, affect, parsing, align); empty means alpha_t = w_t."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer, schedule and clipping."""
    num_identities: int = 93431
    """Rows of the CosFace classifier (MS1MV3 has 93,431 identities)."""
    pretrained_backbone: str | None = None
    """FaRL checkpoint (FaRL-Base-Patch16-LAIONFace20M-ep64.pth) that initializes the encoder; None keeps random init."""
    init_checkpoint: str | None = None
    """Official-layout checkpoint whose model weights initialize the run (strict keys), for fine-tuning."""
    stage2: Stage2Config | None = None
    """Stage-2 settings; None for stage 1."""
    precision: str = 'fp32'
    """fp32; official-fp16 (GradScaler and fp16 DDP gradient compression, math in fp32 like the
    released runs); amp-fp16 (autocast + GradScaler); amp-bf16 (autocast to bfloat16). The last
    three need CUDA."""
    dense_hflip: bool = False
    """Horizontal flips with left/right swaps for the parsing and landmark tasks (the official recipe has none)."""
    heatmap_radius: float = 5.0
    """Landmark target radius R in heatmap pixels."""
    data_root: str = ''
    """Folder that relative task roots are resolved against."""
    output_dir: str = 'runs/faceptor'
    """Run folder: checkpoints/ and logs/ are created inside."""
    num_workers: int = 4
    """DataLoader worker processes per task and per rank."""
    print_interval: int = 10
    """Log the losses every this many iterations."""
    save_interval: int = 5000
    """Keep checkpoint_rank0_iter_<N>.pth.tar every this many iterations (and at max_iter)."""
    newest_interval: int = 1000
    """Overwrite checkpoint_rank0_iter_newest.pth.tar every this many iterations."""
    evaluate_interval: int = 0
    """Evaluate every trained task but recognition on its test split every this many iterations
    (rank 0; the official runs use 2500); 0 turns evaluation during training off."""
    evaluate_splits: dict[str, str] = field(default_factory=dict)
    """Test split per task for that evaluation, for example {align_300w: valid_challenge};
    tasks not listed use the "Full" test sets (faceptor.train.evaluate.TEST_SPLITS)."""

    def __post_init__(self) -> None:
        validate_train_config(self)

    def task_config(self, name: str) -> TaskDataConfig:
        """Return the TaskDataConfig of task `name`."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise ConfigError(f'task {name!r} is not trained in this config; tasks: {", ".join(t.name for t in self.tasks)}')

    def resolve_root(self, task: TaskDataConfig) -> Path:
        """Resolve the task's dataset folder, joining a relative root to data_root."""
        root = Path(task.root).expanduser()
        return root if root.is_absolute() or not self.data_root else Path(self.data_root).expanduser() / root

    def to_dict(self) -> dict:
        """Plain-dict view, stored in checkpoints and logs."""
        return dataclasses.asdict(self)


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise ConfigError naming the first inconsistent field of `cfg`."""
    model = get_config(cfg.model)

    if not cfg.tasks:
        raise ConfigError('tasks is empty; list at least one task to train')
    names = [task.name for task in cfg.tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f'tasks lists a task twice: {names}')
    for task in cfg.tasks:
        model.task(task.name)
        if task.batch_size <= 0:
            raise ConfigError(f'tasks[{task.name}].batch_size must be positive, got {task.batch_size}')
        if task.loss_weight is not None and task.loss_weight <= 0:
            raise ConfigError(f'tasks[{task.name}].loss_weight must be positive, got {task.loss_weight}')

    if cfg.max_iter <= cfg.optim.warmup_steps:
        raise ConfigError(f'max_iter ({cfg.max_iter}) must exceed optim.warmup_steps ({cfg.optim.warmup_steps})')
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f'precision {cfg.precision!r} is invalid; valid values: {", ".join(PRECISIONS)}')
    for name in ('print_interval', 'save_interval', 'newest_interval'):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f'{name} must be positive, got {getattr(cfg, name)}')
    if cfg.evaluate_interval < 0:
        raise ConfigError(f'evaluate_interval must be >= 0, got {cfg.evaluate_interval}')
    if cfg.num_workers < 0:
        raise ConfigError(f'num_workers must be >= 0, got {cfg.num_workers}')
    if cfg.num_identities < 2 and any(task.name.startswith('recog_') for task in cfg.tasks):
        raise ConfigError(f'num_identities must be at least 2 for the CosFace classifier, got {cfg.num_identities}')

    if cfg.stage2 is not None:
        if names != [cfg.stage2.task]:
            raise ConfigError(f'stage 2 trains one task: tasks must be exactly [{cfg.stage2.task}], got {names}')
        if model.task(cfg.stage2.task).kind != 'value':
            raise ConfigError(f'stage2.task {cfg.stage2.task!r} must be an age, expression or attribute task (the official stage-2 runs)')


# ---------------------------------------------------------------------------------------------
# Reading files


def _build(cls, data: Any, where: str):
    """Build dataclass `cls` from a mapping, rejecting unknown and missing fields."""
    if not isinstance(data, dict):
        raise ConfigError(f'{where or "config"} must be a mapping, got {type(data).__name__}')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f'{where or "config"}: unknown field(s) {unknown}; valid fields: {", ".join(fields)}')
    values = {}
    for name, value in data.items():
        path = f'{where}.{name}' if where else name
        if name == 'optim':
            value = _build(OptimConfig, value, path)
        elif name == 'stage2' and value is not None:
            value = _build(Stage2Config, value, path)
        elif name == 'tasks':
            if not isinstance(value, list):
                raise ConfigError(f'{path} must be a list of task entries, got {type(value).__name__}')
            value = [_build(TaskDataConfig, entry, f'{path}[{i}]') for i, entry in enumerate(value)]
        elif name == 'betas':
            value = tuple(_coerce_float(item, f'{path}[{i}]') for i, item in enumerate(value))
        else:
            value = _coerce(fields[name].type, value, path)
        values[name] = value
    required = [f.name for f in fields.values() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(f'{where or "config"}: missing required field(s) {missing}')
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f'{where or "config"}: {error}') from error


def _coerce_float(value: Any, path: str) -> float:
    # PyYAML reads exponents without a dot (5e-5) as strings, so numeric text is accepted here.
    if isinstance(value, bool):
        raise ConfigError(f'{path} must be a number, got {value!r}')
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f'{path} must be a number, got {value!r}') from None


def _coerce(annotation: str, value: Any, path: str) -> Any:
    """Check a scalar against its field annotation ('float', 'int | None', ...), converting numeric text to float."""
    optional = annotation.endswith('| None')
    base = annotation.replace('| None', '').strip()
    if value is None:
        if optional:
            return None
        raise ConfigError(f'{path} must not be null')
    if base == 'float':
        return _coerce_float(value, path)
    if base == 'int' and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f'{path} must be an integer, got {value!r}')
    if base == 'bool' and not isinstance(value, bool):
        raise ConfigError(f'{path} must be true or false, got {value!r}')
    if base == 'str' and not isinstance(value, str):
        raise ConfigError(f'{path} must be a string, got {value!r}')
    return value


def train_config_from_dict(data: dict) -> TrainConfig:
    """Build and validate a TrainConfig from a parsed YAML or JSON document."""
    return _build(TrainConfig, data, '')


def read_config_file(path: str | Path) -> dict:
    """Parse a .yaml/.yml (PyYAML) or .json config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    text = path.read_text(encoding='utf-8')
    if path.suffix == '.json':
        return json.loads(text)
    if path.suffix not in ('.yaml', '.yml'):
        raise ConfigError(f'config file {path} must end in .yaml, .yml or .json')
    try:
        import yaml
    except ImportError as error:
        raise ConfigError(f'reading {path} needs PyYAML (apt-get install python3-yaml), or convert it to .json') from error
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f'config file {path} must contain a mapping at the top level')
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `dotted.key=value` overrides (value parsed as YAML/JSON when possible) to a config dict."""
    for override in overrides:
        if '=' not in override:
            raise ConfigError(f'override {override!r} must look like key=value, for example max_iter=100')
        key, text = override.split('=', 1)
        value = _parse_scalar(text)
        target = data
        parts = key.split('.')
        for part in parts[:-1]:
            if part.isdigit() and isinstance(target, list):
                target = target[int(part)]
            else:
                target = target.setdefault(part, {})
        target[parts[-1]] = value
    return data


def _parse_scalar(text: str) -> Any:
    try:
        import yaml
        return yaml.safe_load(text)
    except ImportError:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a config file, apply `key=value` overrides, and return the validated TrainConfig."""
    return train_config_from_dict(apply_overrides(read_config_file(path), overrides or []))
