"""ONNX export of a Faceptor model to a model folder (`faceptor.model/v1`, see docs/model-format.md).

Graphs: `encoder_<size>` per input resolution, `identity`, `values` (every value head in one
decoder pass), `landmarks` and `parsing`. Position tables, memory position codes and task query
tables are baked in as constants; every graph has a dynamic batch axis `N`.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field

import onnx
import torch
from torch import nn

from . import labels
from .checkpoint import file_sha256
from .config import ConfigError, FaceptorConfig
from .manifest import MANIFEST_FORMAT, validate_manifest
from .model import Faceptor, count_parameters

OPSET = 17
BATCH_AXIS = 'N'

# Manifest head name -> (task type, output name in the values graph).
VALUE_HEADS = {'age': ('age', 'age_logits'), 'attributes': ('biattr', 'attribute_logits'), 'expression': ('affect', 'expression_logits')}


class ExportError(ValueError):
    """The requested export cannot be made (unknown head task, unsupported scheme, ...)."""


@dataclass
class HeadSelection:
    """Dataset task chosen for each product head; None leaves the head out."""

    identity: str | None = None
    age: str | None = None
    attributes: str | None = None
    expression: str | None = None
    landmarks: str | None = None
    parsing: str | None = None


@dataclass
class SourceInfo:
    """Origin of the weights, which sets the manifest's `source`, `license` and `trained` fields."""

    kind: str
    """official-checkpoint, fixture-formula or random-init."""
    file: str | None = None
    sha256: str | None = None
    notes: str = ''
    license_id: str = 'see-notes'
    license_notes: str = ''
    trained: bool = False
    """True only for weights trained on the heads' datasets (official checkpoints)."""


@dataclass
class ExportOptions:
    """Manifest identity fields of one export."""

    name: str
    version: str = '1.0.0'
    description: str = ''
    dummy_batch: int = 1
    extra: dict = field(default_factory=dict)
    landmark_output: nn.Module | None = None
    """Module applied to the landmark heatmap logits inside the landmarks graph, for models trained with
    a different heatmap decoding than the official one (see `SoftmaxHeatmapOutput`); None exports the
    official logits unchanged."""


class SoftmaxHeatmapOutput(nn.Module):
    """Heatmap logits of a model trained for the spatial-softmax expectation, rewritten so that the
    official decoder (sigmoid weights, see `faceptor.train.losses.soft_argmax`) reads the same points.

    out = logits + log_prior - logsumexp(logits + log_prior) - margin, per map. Every value is then at
    most -margin, where sigmoid(z) = exp(z) * (1 - O(exp(-margin))), so the sigmoid-weighted mean
    position equals the softmax-weighted one to a relative exp(-margin). The map's sigmoid mass is then
    about exp(-margin), which must stay above the decoder's 1e-6 floor on the mass (exp(-13.8)), so the
    margin lies in [8, 12]. `log_prior` is an optional fixed (Q, H, W) log-density added before the
    softmax (the demo model's mean-shape prior).
    """

    def __init__(self, log_prior: torch.Tensor | None = None, margin: float = 10.0) -> None:
        super().__init__()
        if not 8 <= margin <= 12:
            raise ValueError(f'margin must lie in [8, 12] so that sigmoid matches exp and the map mass stays above 1e-6; got {margin}')
        self.register_buffer('log_prior', None if log_prior is None else log_prior.detach().clone().float())
        self.margin = float(margin)

    def prior_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits plus the log-prior: the softmax of each map is the point's distribution."""
        if self.log_prior is None:
            return logits
        if not torch.jit.is_tracing() and tuple(self.log_prior.shape) != tuple(logits.shape[1:]):
            raise ValueError(f'log_prior has shape {tuple(self.log_prior.shape)} but the heatmaps are {tuple(logits.shape[1:])}; build the prior at the heatmap size')
        return logits + self.log_prior

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        combined = self.prior_logits(logits)
        flat = combined.flatten(2)
        normalizer = torch.logsumexp(flat, dim=2, keepdim=True)
        return (flat - normalizer - self.margin).reshape(combined.shape)


def select_heads(cfg: FaceptorConfig, requested: dict[str, str | None]) -> HeadSelection:
    """Pick one task per product head: the requested task, else the official default, else the first.

    Raises ExportError when a requested task is not in the config or has the wrong type.
    """
    preferred = {
        'identity': ('recog', 'recog_ms1mv3'),
        'age': ('age', 'age_morph2'),
        'attributes': ('biattr', 'biattr_celeba'),
        'expression': ('affect', 'affect_rafdb'),
        'landmarks': ('align', 'align_300w'),
        'parsing': ('parsing', 'parsing_celebam'),
    }
    chosen = {}
    for head, (task_type, default) in preferred.items():
        candidates = [t.name for t in cfg.tasks if t.type == task_type]
        requested_task = requested.get(head)
        if requested_task is not None:
            if requested_task not in candidates:
                flag = {'attributes': 'attribute', 'landmarks': 'landmark'}.get(head, head)
                raise ExportError(
                    f'--{flag}-head {requested_task!r} is not a task of type {task_type} in config {cfg.name!r}; '
                    f'valid choices: {", ".join(candidates) or "(none)"}'
                )
            chosen[head] = requested_task
        elif candidates:
            chosen[head] = default if default in candidates else candidates[0]
        else:
            chosen[head] = None
    if chosen['landmarks'] is not None and chosen['landmarks'] not in labels.LANDMARK_SCHEMES:
        raise ExportError(
            f'landmark task {chosen["landmarks"]!r} has no five-point mapping; '
            f'choose --landmark-head from {", ".join(t for t in labels.LANDMARK_SCHEMES if t in [x.name for x in cfg.tasks])}'
        )
    return HeadSelection(**chosen)


class EncoderGraph(nn.Module):
    """image (N, 3, R, R) -> the requested block outputs, each (N, D, S, S)."""

    def __init__(self, model: Faceptor, input_size: int, layers: list[int]) -> None:
        super().__init__()
        self.visual = model.backbone_module.visual
        self.layers = sorted(layers)
        self.register_buffer('position_table', model.backbone_module.position_table(input_size).detach().clone())

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.visual(image, position_table=self.position_table, last_layer=self.layers[-1])
        return tuple(features[layer] for layer in self.layers)


class IdentityGraph(nn.Module):
    """Last encoder layer (N, D, S, S) -> raw embedding (N, E)."""

    def __init__(self, model: Faceptor) -> None:
        super().__init__()
        self.head = model.heads_module.interpreters['feature_v2']

    def forward(self, last_layer: torch.Tensor) -> torch.Tensor:
        return self.head(last_layer)


class DecoderGraph(nn.Module):
    """Decoder levels -> decoder output for the concatenated queries of `tasks`.

    All tasks run in the same pass. A block-diagonal additive mask (-inf between tasks) keeps
    each task's self-attention inside its own queries, so the result equals one pass per task.
    """

    def __init__(self, model: Faceptor, tasks: list[str], side: int) -> None:
        super().__init__()
        decoder = model.heads_module.decoder
        self.decoder = decoder
        self.levels = list(decoder.levels)
        self.sizes = [decoder.query_feat[t].weight.shape[0] for t in tasks]
        with torch.no_grad():
            self.register_buffer('memory_pos', decoder.memory_position(side).detach().clone())
            self.register_buffer('query_feat', torch.cat([decoder.query_feat[t].weight for t in tasks]).detach().clone())
            self.register_buffer('query_pos', torch.cat([decoder.query_embed[t].weight for t in tasks]).detach().clone())
        self.register_buffer('self_attn_mask', block_diagonal_mask(self.sizes) if len(tasks) > 1 else None)

    def run(self, levels: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        features = dict(zip(self.levels, levels))
        memory, src = self.decoder.build_memory(features)
        output = self.decoder.run(memory, self.memory_pos, self.query_feat, self.query_pos, self.self_attn_mask)
        return output, src


class ValuesGraph(DecoderGraph):
    """Decoder levels -> one (N, Q_t) logit tensor per value task, in `tasks` order."""

    def __init__(self, model: Faceptor, tasks: list[str], side: int) -> None:
        super().__init__(model, tasks, side)
        self.value_head = model.heads_module.interpreters['value']

    def forward(self, *levels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output, _ = self.run(levels)
        logits = self.value_head(output)  # (N, sum Q_t)
        return tuple(torch.split(logits, self.sizes, dim=1))


class MapGraph(DecoderGraph):
    """Decoder levels -> (N, Q, 4S, 4S) map logits of one map task."""

    def __init__(self, model: Faceptor, task: str, side: int, output: nn.Module | None = None) -> None:
        super().__init__(model, [task], side)
        self.map_head = model.heads_module.interpreters['map_v2']
        self.side = side
        self.output = output

    def forward(self, *levels: torch.Tensor) -> torch.Tensor:
        output, src = self.run(levels)
        logits = self.map_head(output, src, self.side)
        return logits if self.output is None else self.output(logits)


def block_diagonal_mask(sizes: list[int]) -> torch.Tensor:
    """(Q, Q) additive mask: 0 inside each task's block, -inf between tasks."""
    total = sum(sizes)
    mask = torch.full((total, total), float('-inf'))
    start = 0
    for size in sizes:
        mask[start:start + size, start:start + size] = 0.0
        start += size
    return mask


class _OutputShapeRecorder(nn.Module):
    """Runs a module and records the concrete shapes of its outputs (ints, even while tracing)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.shapes: list[list[int]] = []

    def forward(self, *inputs: torch.Tensor):
        outputs = self.module(*inputs)
        as_tuple = outputs if isinstance(outputs, tuple) else (outputs,)
        with warnings.catch_warnings():
            # Reading the sizes is meant to be a constant of the trace; it adds nothing to the graph.
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            self.shapes = [[int(d) for d in output.shape] for output in as_tuple]
        return outputs


def export_graph(module: nn.Module, inputs: list[tuple[str, torch.Tensor]], outputs: list[str], path: str) -> dict:
    """Export `module` to ONNX at `path` with a dynamic batch axis; returns its manifest entry.

    Output shapes are written into the graph (batch axis `N`, the rest fixed), because ONNX shape
    inference cannot follow the batch-dependent reshapes.
    """
    recorder = _OutputShapeRecorder(module).eval()
    names = [name for name, _ in inputs]
    dynamic = {name: {0: BATCH_AXIS} for name in names + outputs}
    with torch.no_grad():
        torch.onnx.export(
            recorder,
            tuple(tensor for _, tensor in inputs),
            path,
            input_names=names,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )

    graph = onnx.load(path)
    for value, shape in zip(graph.graph.output, recorder.shapes):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        dims.add().dim_param = BATCH_AXIS
        for size in shape[1:]:
            dims.add().dim_value = size
    onnx.checker.check_model(graph)
    onnx.save(graph, path)
    return {
        'file': os.path.basename(path),
        'sha256': file_sha256(path),
        'inputs': [_value_info(v) for v in graph.graph.input],
        'outputs': [_value_info(v) for v in graph.graph.output],
    }


def _value_info(value: onnx.ValueInfoProto) -> dict:
    dims = []
    for dim in value.type.tensor_type.shape.dim:
        dims.append(dim.dim_param if dim.dim_param else int(dim.dim_value))
    return {'name': value.name, 'shape': dims}


def export_model(model: Faceptor, out_dir: str, heads: HeadSelection, source: SourceInfo, options: ExportOptions) -> dict:
    """Export every graph the selected heads need to `out_dir` and write manifest.json.

    Returns the manifest, which has been checked with `validate_manifest`.
    """
    cfg = model.cfg
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    last = cfg.encoder.layers - 1
    levels = list(cfg.decoder.levels)
    value_heads = {name: getattr(heads, name) for name in VALUE_HEADS if getattr(heads, name)}
    face_heads = bool(heads.identity or value_heads)
    dense_heads = bool(heads.landmarks or heads.parsing)
    batch = options.dummy_batch
    graphs: dict[str, dict] = {}
    encoders: dict[str, dict] = {}

    def add_encoder(role: str, size: int, mean: list, std: list) -> torch.Tensor:
        layers = sorted(set(levels + ([last] if role == 'face' and heads.identity else [])))
        graph_name = f'encoder_{size}'
        if graph_name not in graphs:
            image = torch.zeros(batch, 3, size, size)
            outputs = [f'layer_{layer}' for layer in layers]
            print(f'exporting {graph_name} ({", ".join(outputs)})', flush=True)
            graphs[graph_name] = export_graph(
                EncoderGraph(model, size, layers), [('image', image)], outputs, os.path.join(out_dir, f'{graph_name}.onnx')
            )
        side = cfg.token_grid(size)
        encoders[role] = {'graph': graph_name, 'input_size': size, 'token_grid': side, 'mean': mean, 'std': std}
        return torch.zeros(batch, cfg.encoder.width, side, side)

    def level_inputs(example: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        return [(f'layer_{level}', example) for level in levels]

    if face_heads:
        example = add_encoder('face', cfg.face_input_size, labels.FACE_MEAN, labels.FACE_STD)
        side = cfg.token_grid(cfg.face_input_size)
        if heads.identity:
            print('exporting identity', flush=True)
            graphs['identity'] = export_graph(
                IdentityGraph(model), [(f'layer_{last}', example)], ['embedding'], os.path.join(out_dir, 'identity.onnx')
            )
        if value_heads:
            names = list(value_heads)
            outputs = [VALUE_HEADS[name][1] for name in names]
            print(f'exporting values ({", ".join(outputs)})', flush=True)
            graphs['values'] = export_graph(
                ValuesGraph(model, [value_heads[n] for n in names], side), level_inputs(example), outputs,
                os.path.join(out_dir, 'values.onnx'),
            )

    if dense_heads:
        example = add_encoder('dense', cfg.dense_input_size, labels.CLIP_MEAN, labels.CLIP_STD)
        side = cfg.token_grid(cfg.dense_input_size)
        for graph_name, task, output in (('landmarks', heads.landmarks, 'heatmap_logits'), ('parsing', heads.parsing, 'parsing_logits')):
            if task:
                print(f'exporting {graph_name} ({task})', flush=True)
                rewrite = options.landmark_output if graph_name == 'landmarks' else None
                graphs[graph_name] = export_graph(
                    MapGraph(model, task, side, rewrite), level_inputs(example), [output], os.path.join(out_dir, f'{graph_name}.onnx')
                )

    manifest = build_manifest(cfg, model, heads, source, options, graphs, encoders)
    validate_manifest(manifest, out_dir)
    with open(os.path.join(out_dir, 'manifest.json'), 'w', encoding='utf-8') as handle:
        json.dump(manifest, handle, indent=2)
        handle.write('\n')
    return manifest


def build_manifest(
    cfg: FaceptorConfig, model: Faceptor, heads: HeadSelection, source: SourceInfo, options: ExportOptions,
    graphs: dict, encoders: dict,
) -> dict:
    """Assemble manifest.json from the exported graphs and the head selection."""
    enc, dec = cfg.encoder, cfg.decoder
    map_size = 4 * cfg.token_grid(cfg.dense_input_size)
    manifest = {
        'format': MANIFEST_FORMAT,
        'name': options.name,
        'version': options.version,
        'description': options.description or cfg.description,
        'architecture': {
            'config': cfg.name,
            'patch_size': enc.patch_size, 'width': enc.width, 'layers': enc.layers, 'heads': enc.heads,
            'mlp_ratio': enc.mlp_ratio,
            'decoder_width': dec.width, 'decoder_layers': dec.layers, 'decoder_heads': dec.heads, 'decoder_ffn': dec.ffn,
            'levels': list(dec.levels),
            'parameters': count_parameters(model),
        },
        'source': {'kind': source.kind, 'file': source.file, 'sha256': source.sha256, 'notes': source.notes},
        'license': {'id': source.license_id, 'notes': source.license_notes},
        'graphs': graphs,
        'encoders': encoders,
        'crops': {},
        'heads': {},
    }
    manifest.update(options.extra)
    crops, head_entries = manifest['crops'], manifest['heads']

    def head(task: str, graph: str, encoder: str, output: str, **fields) -> dict:
        return {
            'trained': source.trained,
            'trained_on': labels.dataset_name(task) if source.trained else None,
            'source_task': task, 'graph': graph, 'encoder': encoder, 'output': output, **fields,
        }

    if 'face' in encoders:
        crops['face'] = {'kind': 'arcface', 'template_size': 112, 'template': labels.ARCFACE_TEMPLATE_112}
    if heads.identity:
        head_entries['identity'] = head(heads.identity, 'identity', 'face', 'embedding', dim=cfg.identity_dim)
    if heads.age:
        head_entries['age'] = head(heads.age, 'values', 'face', 'age_logits', bins=cfg.task(heads.age).queries, first_bin_years=0)
    if heads.expression:
        _check_query_count(cfg, heads.expression, len(labels.EXPRESSION_LABELS))
        head_entries['expression'] = head(heads.expression, 'values', 'face', 'expression_logits', labels=labels.EXPRESSION_LABELS)
    if heads.attributes:
        _check_query_count(cfg, heads.attributes, len(labels.CELEBA_ATTRIBUTES))
        head_entries['attributes'] = head(heads.attributes, 'values', 'face', 'attribute_logits', labels=labels.CELEBA_ATTRIBUTES)
    if heads.landmarks:
        scheme, points, five_points, scale = labels.LANDMARK_SCHEMES[heads.landmarks]
        _check_query_count(cfg, heads.landmarks, points)
        crops['landmarks'] = {'kind': 'box', 'scale': scale}
        head_entries['landmarks'] = head(
            heads.landmarks, 'landmarks', 'dense', 'heatmap_logits',
            scheme=scheme, points=points, heatmap_size=map_size, five_point_indices=five_points,
        )
    if heads.parsing:
        scheme, class_labels, _ = labels.PARSING_SCHEMES[heads.parsing]
        _check_query_count(cfg, heads.parsing, len(class_labels))
        crops['parsing'] = labels.parsing_crop(heads.parsing)
        head_entries['parsing'] = head(
            heads.parsing, 'parsing', 'dense', 'parsing_logits', scheme=scheme, labels=class_labels, map_size=map_size
        )
    return manifest


def _check_query_count(cfg: FaceptorConfig, task: str, expected: int) -> None:
    queries = cfg.task(task).queries
    if queries != expected:
        raise ConfigError(f'task {task!r} has {queries} queries but its label scheme has {expected} entries')
