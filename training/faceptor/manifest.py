"""The model folder's manifest.json (`faceptor.model/v1`): field list and validation.

The field list is the one in docs/model-format.md; the worker's zod schema reads the same format.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .checkpoint import file_sha256

MANIFEST_FORMAT = 'faceptor.model/v1'

ARCHITECTURE_FIELDS = (
    'config', 'patch_size', 'width', 'layers', 'heads', 'mlp_ratio',
    'decoder_width', 'decoder_layers', 'decoder_heads', 'decoder_ffn', 'levels', 'parameters',
)
ARCHITECTURE_FIELD_TYPES = {'config': str, 'levels': list}
SOURCE_KINDS = ('official-checkpoint', 'fixture-formula', 'random-init', 'distilled-here')
HEAD_COMMON_FIELDS = {
    'trained': bool, 'trained_on': (str, type(None)), 'source_task': str, 'graph': str, 'encoder': str, 'output': str,
}
HEAD_FIELDS = {
    'identity': ('dim',),
    'age': ('bins', 'first_bin_years'),
    'expression': ('labels',),
    'attributes': ('labels',),
    'landmarks': ('scheme', 'points', 'heatmap_size', 'five_point_indices'),
    'parsing': ('scheme', 'labels', 'map_size'),
}
PARSING_CROP_KINDS = ('lapa-tanh', 'celebamask-ffhq')
SHA256_PATTERN = re.compile(r'^[0-9a-f]{64}$')


class ManifestError(ValueError):
    """A manifest does not follow the `faceptor.model/v1` format. The message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__('invalid model manifest:\n' + '\n'.join(f'  {p}' for p in problems))


def validate_manifest(manifest: dict, folder: str | None = None) -> None:
    """Raise ManifestError listing every field that is missing, mistyped or inconsistent.

    With `folder`, also check that each graph file exists and matches its sha256.
    """
    problems: list[str] = []
    _check_top_level(manifest, problems)
    graphs = manifest.get('graphs') if isinstance(manifest.get('graphs'), dict) else {}
    _check_graphs(graphs, folder, problems)
    encoders = manifest.get('encoders') if isinstance(manifest.get('encoders'), dict) else {}
    _check_encoders(encoders, graphs, problems)
    _check_crops(manifest.get('crops'), problems)
    _check_heads(manifest.get('heads'), graphs, encoders, problems)
    if problems:
        raise ManifestError(problems)


def _require(obj: Any, path: str, field: str, kind: type | tuple, problems: list[str]) -> Any:
    if not isinstance(obj, dict) or field not in obj:
        problems.append(f'{path}.{field} is missing')
        return None
    value = obj[field]
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else ' or '.join(k.__name__ for k in kind)
        problems.append(f'{path}.{field} must be {names}, found {type(value).__name__} {value!r:.60}')
        return None
    return value


def _check_top_level(manifest: dict, problems: list[str]) -> None:
    if manifest.get('format') != MANIFEST_FORMAT:
        problems.append(f'format must be {MANIFEST_FORMAT!r}, found {manifest.get("format")!r}')
    for field in ('name', 'version', 'description'):
        _require(manifest, 'manifest', field, str, problems)

    architecture = _require(manifest, 'manifest', 'architecture', dict, problems) or {}
    for field in ARCHITECTURE_FIELDS:
        kind = ARCHITECTURE_FIELD_TYPES.get(field, int)
        _require(architecture, 'architecture', field, kind, problems)

    source = _require(manifest, 'manifest', 'source', dict, problems) or {}
    kind = _require(source, 'source', 'kind', str, problems)
    if kind is not None and kind not in SOURCE_KINDS:
        problems.append(f'source.kind {kind!r} is not one of {", ".join(SOURCE_KINDS)}')
    _require(source, 'source', 'file', (str, type(None)), problems)
    sha = _require(source, 'source', 'sha256', (str, type(None)), problems)
    if isinstance(sha, str) and not SHA256_PATTERN.match(sha):
        problems.append(f'source.sha256 {sha!r} is not 64 lowercase hex digits')
    _require(source, 'source', 'notes', str, problems)

    license_info = _require(manifest, 'manifest', 'license', dict, problems) or {}
    _require(license_info, 'license', 'id', str, problems)
    _require(license_info, 'license', 'notes', str, problems)


def _check_tensor_list(value: Any, path: str, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not value:
        problems.append(f'{path} must be a non-empty list of {{name, shape}}')
        return []
    names = []
    for i, item in enumerate(value):
        name = _require(item, f'{path}[{i}]', 'name', str, problems)
        shape = _require(item, f'{path}[{i}]', 'shape', list, problems)
        if shape is not None and (not shape or shape[0] != 'N' or not all(isinstance(d, int) for d in shape[1:])):
            problems.append(f'{path}[{i}].shape {shape} must be ["N", <fixed ints>...]')
        if name is not None:
            names.append(name)
    return names


def _check_graphs(graphs: dict, folder: str | None, problems: list[str]) -> None:
    if not graphs:
        problems.append('graphs is missing or empty')
    for graph_name, graph in graphs.items():
        path = f'graphs.{graph_name}'
        file_name = _require(graph, path, 'file', str, problems)
        sha = _require(graph, path, 'sha256', str, problems)
        if isinstance(sha, str) and not SHA256_PATTERN.match(sha):
            problems.append(f'{path}.sha256 {sha!r} is not 64 lowercase hex digits')
        if isinstance(graph, dict):
            _check_tensor_list(graph.get('inputs'), f'{path}.inputs', problems)
            _check_tensor_list(graph.get('outputs'), f'{path}.outputs', problems)
        if folder is not None and file_name is not None and sha is not None:
            file_path = os.path.join(folder, file_name)
            if not os.path.isfile(file_path):
                problems.append(f'{path}.file {file_name!r} does not exist in {folder}')
            elif file_sha256(file_path) != sha:
                problems.append(f'{path}.sha256 does not match {file_name}')


def _check_encoders(encoders: dict, graphs: dict, problems: list[str]) -> None:
    if not encoders:
        problems.append('encoders is missing or empty')
    for role, encoder in encoders.items():
        path = f'encoders.{role}'
        if role not in ('face', 'dense'):
            problems.append(f'{path}: encoder role must be face or dense')
        graph = _require(encoder, path, 'graph', str, problems)
        if graph is not None and graph not in graphs:
            problems.append(f'{path}.graph {graph!r} is not in graphs')
        for field in ('input_size', 'token_grid'):
            _require(encoder, path, field, int, problems)
        for field in ('mean', 'std'):
            values = _require(encoder, path, field, list, problems)
            if values is not None and (len(values) != 3 or not all(isinstance(v, (int, float)) for v in values)):
                problems.append(f'{path}.{field} must be 3 numbers, found {values}')


def _check_crops(crops: Any, problems: list[str]) -> None:
    if not isinstance(crops, dict):
        problems.append('crops is missing')
        return
    if 'face' in crops:
        face = crops['face']
        _require(face, 'crops.face', 'kind', str, problems)
        _require(face, 'crops.face', 'template_size', int, problems)
        template = _require(face, 'crops.face', 'template', list, problems)
        if template is not None and len(template) != 5:
            problems.append(f'crops.face.template must hold 5 points, found {len(template)}')
    if 'landmarks' in crops:
        _require(crops['landmarks'], 'crops.landmarks', 'kind', str, problems)
        _require(crops['landmarks'], 'crops.landmarks', 'scale', (int, float), problems)
    if 'parsing' in crops:
        kind = _require(crops['parsing'], 'crops.parsing', 'kind', str, problems)
        if kind is not None and kind not in PARSING_CROP_KINDS:
            problems.append(f'crops.parsing.kind {kind!r} is not one of {", ".join(PARSING_CROP_KINDS)}')
        if kind == 'lapa-tanh':
            _require(crops['parsing'], 'crops.parsing', 'warp_factor', (int, float), problems)
            _require(crops['parsing'], 'crops.parsing', 'template_unit', list, problems)


def _check_heads(heads: Any, graphs: dict, encoders: dict, problems: list[str]) -> None:
    if not isinstance(heads, dict) or not heads:
        problems.append('heads is missing or empty')
        return
    for head_name, head in heads.items():
        path = f'heads.{head_name}'
        if head_name not in HEAD_FIELDS:
            problems.append(f'{path}: unknown head; valid heads: {", ".join(HEAD_FIELDS)}')
            continue
        common = {field: _require(head, path, field, kind, problems) for field, kind in HEAD_COMMON_FIELDS.items()}
        graph, encoder, output = common['graph'], common['encoder'], common['output']
        for field in HEAD_FIELDS[head_name]:
            _require(head, path, field, None, problems)
        if graph is not None and graph not in graphs:
            problems.append(f'{path}.graph {graph!r} is not in graphs')
        elif graph is not None and output is not None:
            outputs = [o.get('name') for o in graphs[graph].get('outputs', []) if isinstance(o, dict)]
            if output not in outputs:
                problems.append(f'{path}.output {output!r} is not an output of graph {graph!r} ({outputs})')
        if encoder is not None and encoder not in encoders:
            problems.append(f'{path}.encoder {encoder!r} is not in encoders')
        labels = head.get('labels') if isinstance(head, dict) else None
        if labels is not None and not (isinstance(labels, list) and all(isinstance(l, str) for l in labels)):
            problems.append(f'{path}.labels must be a list of strings')

