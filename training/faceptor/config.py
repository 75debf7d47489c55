"""Model configurations: Faceptor-Base and Faceptor-Full as the official stage-1 configs define
them, and `tiny`, the same architecture at CPU-demo size.

Official source of the numbers: `lxq1000/Faceptor`, `faceptor_project/expreiments/faceptor/stage_1/`
(`train_recog_age_biattr_affect_parsing_align.yaml` and `..._plus.yaml`) with the code defaults of
`FaRLVisualFeatures` and `TransformerDecoderLevel`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Task type (the part of a task key before the first underscore) -> interpreter kind.
TASK_TYPE_KINDS = {
    'recog': 'identity',
    'age': 'value',
    'biattr': 'value',
    'affect': 'value',
    'parsing': 'map',
    'align': 'map',
}


class ConfigError(ValueError):
    """A configuration value is invalid or unknown."""


@dataclass(frozen=True)
class TaskSpec:
    """One dataset task of the head holder, named by its official task key."""

    name: str
    """Official key `<type>_<dataset>`, for example `age_morph2`; it names the query tables."""
    queries: int
    """Rows of the task's query tables. The identity task declares 2 but never creates them."""

    @property
    def type(self) -> str:
        """Task type: recog, age, biattr, affect, parsing or align."""
        return self.name.split('_', 1)[0]

    @property
    def kind(self) -> str:
        """Interpreter kind: `identity` (reads the encoder), `value` or `map` (read the decoder)."""
        return TASK_TYPE_KINDS[self.type]


@dataclass(frozen=True)
class EncoderConfig:
    """FaRL ViT (CLIP visual tower) hyper-parameters."""

    patch_size: int = 16
    """Side of the square patches, in input pixels; also the patch convolution's stride."""
    width: int = 768
    """Token width D."""
    layers: int = 12
    """Number of pre-LN residual blocks."""
    heads: int = 12
    """Attention heads per block (head dim = width / heads)."""
    mlp_ratio: int = 4
    """Hidden width of each block's MLP, as a multiple of `width`."""
    output_dim: int = 512
    """Columns of `proj`, which Faceptor never uses but the checkpoint contains."""
    position_grid: int = 32
    """Side of the stored position-table grid: the table has 1 + position_grid**2 rows.
    The official model stores it at the dense grid (512 / 16 = 32)."""
    drop_path_rate: float = 0.2
    """Stochastic depth of the last block; the rate rises linearly from 0 at the first block.
    Used in training only."""


@dataclass(frozen=True)
class DecoderConfig:
    """Transformer decoder shared by every value and map task."""

    width: int = 256
    """Decoder width C: memory projections, queries, interpreters."""
    heads: int = 8
    """Attention heads of the cross- and self-attention layers."""
    ffn: int = 2048
    """Hidden width of the ReLU feed-forward layers."""
    layers: int = 9
    """Number of (cross-attention, self-attention, FFN) layer triples."""
    levels: tuple[int, ...] = (11,)
    """Encoder layers (0-based) whose tokens form the cross-attention memory, in memory order.
    Each has its own 1x1 projection and level embedding ("Layer-Attention"). It must contain
    the last encoder layer, which the map interpreters read as `decoder_src`."""


@dataclass(frozen=True)
class FaceptorConfig:
    """A complete Faceptor model: encoder, decoder, tasks and input resolutions."""

    name: str
    """Config name: base, full or tiny."""
    encoder: EncoderConfig
    """Encoder hyper-parameters."""
    decoder: DecoderConfig
    """Decoder hyper-parameters."""
    tasks: tuple[TaskSpec, ...]
    """Tasks in the official `task_names` order; the query tables are registered in this order."""
    identity_dim: int = 512
    """Width of the identity embedding."""
    face_input_size: int = 112
    """Input side in pixels of the face encoder pass (identity, age, expression, attributes)."""
    dense_input_size: int = 512
    """Input side in pixels of the dense encoder pass (parsing, landmarks)."""
    description: str = ''
    """One line for humans."""

    def __post_init__(self) -> None:
        validate_config(self)

    def task(self, name: str) -> TaskSpec:
        """Return the task with the official key `name`, or raise ConfigError naming the valid keys."""
        for spec in self.tasks:
            if spec.name == name:
                return spec
        raise ConfigError(
            f'task {name!r} is not in config {self.name!r}; valid tasks: {", ".join(t.name for t in self.tasks)}'
        )

    def tasks_of_kind(self, kind: str) -> list[TaskSpec]:
        """Tasks whose interpreter kind is `kind` (identity, value or map), in config order."""
        return [t for t in self.tasks if t.kind == kind]

    def token_grid(self, input_size: int) -> int:
        """Token grid side S for an input of `input_size` pixels."""
        return input_size // self.encoder.patch_size

    def to_dict(self) -> dict:
        """Plain-dict view for manifests and logs."""
        return asdict(self)


def validate_config(cfg: FaceptorConfig) -> None:
    """Raise ConfigError when a field of `cfg` is out of range or inconsistent with another."""
    enc, dec = cfg.encoder, cfg.decoder
    if enc.width % enc.heads != 0:
        raise ConfigError(f'encoder.width {enc.width} is not divisible by encoder.heads {enc.heads}')
    if dec.width % dec.heads != 0:
        raise ConfigError(f'decoder.width {dec.width} is not divisible by decoder.heads {dec.heads}')
    if dec.width % 4 != 0:
        raise ConfigError(f'decoder.width {dec.width} must be a multiple of 4 (sine position code)')

    for size_field in ('face_input_size', 'dense_input_size'):
        size = getattr(cfg, size_field)
        if size <= 0 or size % enc.patch_size != 0:
            raise ConfigError(f'{size_field} {size} must be a positive multiple of encoder.patch_size {enc.patch_size}')

    if not dec.levels:
        raise ConfigError('decoder.levels is empty; it must list encoder layers, including the last')
    for level in dec.levels:
        if not 0 <= level < enc.layers:
            raise ConfigError(f'decoder.levels entry {level} is outside 0..{enc.layers - 1}')
    if len(set(dec.levels)) != len(dec.levels):
        raise ConfigError(f'decoder.levels {list(dec.levels)} lists a layer twice')
    if enc.layers - 1 not in dec.levels:
        raise ConfigError(
            f'decoder.levels {list(dec.levels)} must contain the last encoder layer {enc.layers - 1}, '
            'which the map interpreters read'
        )

    names = [t.name for t in cfg.tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f'tasks {names} list a task twice')
    for spec in cfg.tasks:
        if spec.type not in TASK_TYPE_KINDS:
            raise ConfigError(f'task {spec.name!r} has unknown type {spec.type!r}; valid types: {", ".join(TASK_TYPE_KINDS)}')
        if spec.queries <= 0:
            raise ConfigError(f'task {spec.name!r} has {spec.queries} queries; it needs at least 1')
    if len(cfg.tasks_of_kind('identity')) > 1:
        raise ConfigError(f'tasks {names} contain more than one identity (recog_*) task')


# The official Base stage-1 task list, in `task_names` order.
BASE_TASKS = (
    TaskSpec('recog_ms1mv3', 2),
    TaskSpec('age_morph2', 101),
    TaskSpec('biattr_celeba', 40),
    TaskSpec('affect_affectnet', 7),
    TaskSpec('affect_rafdb', 7),
    TaskSpec('parsing_celebam', 19),
    TaskSpec('align_300w', 68),
)

# The official Full ("_plus") stage-1 task list, in `task_names` order.
FULL_TASKS = (
    TaskSpec('recog_ms1mv3', 2),
    TaskSpec('age_morph2', 101),
    TaskSpec('age_utkface', 101),
    TaskSpec('biattr_celeba', 40),
    TaskSpec('affect_affectnet', 7),
    TaskSpec('affect_rafdb', 7),
    TaskSpec('affect_ferplus', 7),
    TaskSpec('parsing_celebam', 19),
    TaskSpec('parsing_lapa', 11),
    TaskSpec('align_300w', 68),
    TaskSpec('align_cofw', 29),
    TaskSpec('align_wflw', 98),
    TaskSpec('align_aflw', 19),
)

BASE = FaceptorConfig(
    name='base',
    encoder=EncoderConfig(),
    decoder=DecoderConfig(),
    tasks=BASE_TASKS,
    description='Faceptor-Base stage 1: FaRL ViT-B/16, 9-layer decoder on layer 11, 7 tasks',
)

FULL = FaceptorConfig(
    name='full',
    encoder=EncoderConfig(),
    decoder=DecoderConfig(),
    tasks=FULL_TASKS,
    description='Faceptor-Full stage 1: Base plus UTKFace, FERPlus, LaPa, COFW, WFLW and AFLW-19 queries',
)

# Same code as Base at a size that runs on a laptop CPU: 2,953,601 parameters, 224 px dense input.
TINY = FaceptorConfig(
    name='tiny',
    encoder=EncoderConfig(
        patch_size=16, width=192, layers=4, heads=3, mlp_ratio=4, output_dim=128, position_grid=14, drop_path_rate=0.1
    ),
    decoder=DecoderConfig(width=128, heads=4, ffn=512, layers=2, levels=(3,)),
    tasks=(
        TaskSpec('recog_ms1mv3', 2),
        TaskSpec('age_morph2', 101),
        TaskSpec('biattr_celeba', 40),
        TaskSpec('affect_rafdb', 7),
        TaskSpec('parsing_lapa', 11),
        TaskSpec('align_300w', 68),
    ),
    identity_dim=512,
    face_input_size=112,
    dense_input_size=224,
    description='Faceptor architecture at demo size: ViT 192x4, 2-layer decoder of width 128, 224 px dense input',
)

CONFIGS = {'base': BASE, 'full': FULL, 'tiny': TINY}


def get_config(name: str) -> FaceptorConfig:
    """Return the config called `name`, or raise ConfigError naming the valid names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f'unknown config {name!r}; valid configs: {", ".join(CONFIGS)}') from None
