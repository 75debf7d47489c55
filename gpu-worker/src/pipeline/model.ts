/**
 * A Faceptor model folder (`faceptor.model/v1`) opened for inference: its manifest, checked against the
 * graph files on disk, and the graphs loaded on first use through the session registry.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseModelManifest, type ModelManifest } from '@faceptor/core/model-manifest';
import type { OnnxGraph, SessionRegistry } from '../inference/sessions.ts';

/** Name of a head in the manifest's `heads` object. */
export type HeadName = keyof ModelManifest['heads'];
export const headNames = ['landmarks', 'parsing', 'age', 'expression', 'attributes', 'identity'] as const satisfies readonly HeadName[];

export interface FaceptorModel {
  dir: string;
  manifest: ModelManifest;
  /** Load (once) and return the graph of this manifest name. */
  graph(name: string): Promise<OnnxGraph>;
}

export interface OpenModelOptions {
  /** Hash every graph file and compare with the manifest (reads every byte once; about 1 s per 400 MB). */
  verifyChecksums?: boolean;
}

/** Open a model folder: parse its manifest and check that every graph file it names exists. */
export async function openFaceptorModel(dir: string, registry: SessionRegistry, options: OpenModelOptions = {}): Promise<FaceptorModel> {
  const manifestPath = path.join(dir, 'manifest.json');
  let raw: string;
  try {
    raw = await readFile(manifestPath, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read the model manifest ${manifestPath}: ${String(cause)}; point FACEPTOR_MODEL_DIR or --model at a model folder (training/export_onnx.py or training/convert_checkpoint.py writes one)`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new Error(`model manifest ${manifestPath} is not valid JSON: ${String(cause)}`, { cause });
  }
  const manifest = parseModelManifest(json, manifestPath);

  const missing: string[] = [];
  for (const [name, graph] of Object.entries(manifest.graphs)) {
    const file = path.join(dir, graph.file);
    try {
      await access(file);
    } catch {
      missing.push(`${name} (${file})`);
    }
  }
  if (missing.length > 0) {
    throw new Error(`model folder ${dir} lacks graph files named in its manifest: ${missing.join(', ')}`);
  }

  if (options.verifyChecksums) {
    for (const [name, graph] of Object.entries(manifest.graphs)) {
      const actual = await sha256File(path.join(dir, graph.file));
      if (actual !== graph.sha256) {
        throw new Error(`graph "${name}" (${graph.file}) has sha256 ${actual} but the manifest lists ${graph.sha256}; the folder is corrupt or was edited by hand, so export it again`);
      }
    }
  }

  return {
    dir,
    manifest,
    graph(name: string): Promise<OnnxGraph> {
      const entry = manifest.graphs[name];
      if (!entry) {
        return Promise.reject(new Error(`model ${manifest.name} has no graph "${name}"; it has ${Object.keys(manifest.graphs).join(', ')}`));
      }
      return registry.load(`${manifest.name}/${name}`, path.join(dir, entry.file));
    },
  };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
