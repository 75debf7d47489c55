"""Export of a distilled student to a model folder, with per-head `trained` flags.

`faceptor.export.export_model` marks every head with one `trained` value. This module exports with
the untrained settings and then rewrites only the manifest's source (kind `distilled-here`), license
and per-head training fields. The graph files and their sha256 values stay as the exporter wrote them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from faceptor.export import ExportOptions, SourceInfo, export_model, select_heads
from faceptor.manifest import validate_manifest
from faceptor.model import Faceptor
from torch import nn

SOURCE_KIND = 'distilled-here'


@dataclass
class DistilledModelInfo:
    """Manifest fields of a distilled model."""

    name: str
    version: str
    description: str
    source_file: str
    source_sha256: str
    source_notes: str
    license_id: str
    license_notes: str
    trained_on: dict[str, str]
    """Head name -> short description of its training data, for the heads that were trained."""


def export_student(model: Faceptor, out_dir: str | Path, info: DistilledModelInfo, landmark_output: nn.Module | None = None) -> dict:
    """Export `model` to `out_dir` (replacing it), mark the heads of `info.trained_on` trained; returns the manifest.

    `landmark_output` is appended to the landmark graph (see faceptor.export.SoftmaxHeatmapOutput).
    """
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + '.partial')
    if staging.exists():
        shutil.rmtree(staging)
    heads = select_heads(model.cfg, {})
    placeholder = SourceInfo(kind='random-init', trained=False)
    export_model(model, str(staging), heads, placeholder, ExportOptions(
        name=info.name, version=info.version, description=info.description, landmark_output=landmark_output,
    ))

    manifest_path = staging / 'manifest.json'
    manifest = json.loads(manifest_path.read_text(encoding='utf-8'))
    unknown = sorted(set(info.trained_on) - set(manifest['heads']))
    if unknown:
        raise ValueError(f'trained_on names heads {unknown} that the export does not have; heads: {", ".join(manifest["heads"])}')
    manifest['source'] = {'kind': SOURCE_KIND, 'file': info.source_file, 'sha256': info.source_sha256, 'notes': info.source_notes}
    manifest['license'] = {'id': info.license_id, 'notes': info.license_notes}
    for name, head in manifest['heads'].items():
        head['trained'] = name in info.trained_on
        head['trained_on'] = info.trained_on.get(name)
    validate_manifest(manifest, str(staging))
    manifest_path.write_text(json.dumps(manifest, indent=2) + '\n', encoding='utf-8')

    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return manifest

