/**
 * The only module that imports onnxruntime-node. It owns every inference session of the process,
 * chooses execution providers from configuration, and checks feeds by name, dtype and dims before a run.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Float32Tensor } from './tensor.ts';

/** Execution providers this module can request from onnxruntime-node, in order of preference. */
export const knownExecutionProviders = ['cuda', 'cpu'] as const;
export type ExecutionProviderName = (typeof knownExecutionProviders)[number];

export interface SessionOptions {
  /** Providers to try, in order; `cpu` is always appended as the last resort. */
  executionProviders: readonly ExecutionProviderName[];
  /** Threads for one operator; 0 lets onnxruntime choose. */
  intraOpNumThreads?: number;
}

/** Description of one graph input or output as onnxruntime reports it. */
export interface GraphPort {
  name: string;
  /** Dims with symbolic axes (such as the batch axis) as strings; empty when onnxruntime reports no shape. */
  dims: readonly (number | string)[];
}

/** Error raised when a graph cannot be loaded or run; it names the graph and the tensors involved. */
export class InferenceError extends Error {
  constructor(
    message: string,
    readonly graph: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InferenceError';
  }
}

/** One loaded ONNX graph. */
export class OnnxGraph {
  private constructor(
    readonly name: string,
    readonly file: string,
    readonly executionProvider: ExecutionProviderName,
    readonly inputs: readonly GraphPort[],
    readonly outputs: readonly GraphPort[],
    private readonly session: ort.InferenceSession,
  ) {}

  /** Load a graph, trying each execution provider in turn and falling back to the CPU. */
  static async load(name: string, file: string, options: SessionOptions): Promise<OnnxGraph> {
    const bytes = await readFile(file).catch((cause: unknown) => {
      throw new InferenceError(`cannot read ONNX graph "${name}" from ${file}: ${String(cause)}`, name, { cause });
    });

    const providers = [...options.executionProviders.filter((p) => p !== 'cpu' && providerInstalled(p)), 'cpu' as const];
    const failures: string[] = [];
    for (const provider of providers) {
      try {
        const session = await ort.InferenceSession.create(bytes, {
          executionProviders: [provider],
          graphOptimizationLevel: 'all',
          intraOpNumThreads: options.intraOpNumThreads ?? 0,
        });
        return new OnnxGraph(name, file, provider, describePorts(session, 'input'), describePorts(session, 'output'), session);
      } catch (error) {
        failures.push(`${provider}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    throw new InferenceError(`cannot create a session for graph "${name}" (${file}); tried ${failures.join('; ')}`, name);
  }

  /**
   * Run the graph on float32 feeds and return the requested outputs (all outputs when `outputNames` is
   * omitted). Feeds are checked by name and rank before the native run.
   */
  async run(feeds: Readonly<Record<string, Float32Tensor>>, outputNames?: readonly string[]): Promise<Record<string, Float32Tensor>> {
    this.checkFeeds(feeds);
    const wanted = outputNames ?? this.outputs.map((port) => port.name);
    const unknown = wanted.filter((name) => !this.outputs.some((port) => port.name === name));
    if (unknown.length > 0) {
      throw new InferenceError(
        `graph "${this.name}" has no output named ${unknown.join(', ')}; its outputs are ${this.outputs.map((p) => p.name).join(', ')}`,
        this.name,
      );
    }

    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor('float32', tensor.data, [...tensor.dims]);
    }

    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(ortFeeds, [...wanted]);
    } catch (cause) {
      const shapes = Object.entries(feeds).map(([name, t]) => `${name} float32 [${t.dims.join(', ')}]`);
      throw new InferenceError(`running graph "${this.name}" failed with feeds ${shapes.join(', ')}: ${String(cause)}`, this.name, { cause });
    }

    const outputs: Record<string, Float32Tensor> = {};
    for (const name of wanted) {
      const value = results[name] as ort.Tensor | undefined;
      if (!value || value.type !== 'float32') {
        throw new InferenceError(`graph "${this.name}" returned output "${name}" as ${value?.type ?? 'nothing'}, expected float32`, this.name);
      }
      outputs[name] = { data: value.data as Float32Array, dims: [...value.dims] };
    }
    return outputs;
  }

  /** Release the native session; the graph cannot run afterwards. */
  async release(): Promise<void> {
    await this.session.release();
  }

  private checkFeeds(feeds: Readonly<Record<string, Float32Tensor>>): void {
    const missing = this.inputs.filter((port) => !(port.name in feeds)).map((port) => port.name);
    const extra = Object.keys(feeds).filter((name) => !this.inputs.some((port) => port.name === name));
    if (missing.length > 0 || extra.length > 0) {
      throw new InferenceError(
        `graph "${this.name}" feeds do not match its inputs: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]; ` +
          `expected exactly [${this.inputs.map((p) => p.name).join(', ')}]`,
        this.name,
      );
    }
    for (const port of this.inputs) {
      const tensor = feeds[port.name] as Float32Tensor;
      if (port.dims.length > 0 && port.dims.length !== tensor.dims.length) {
        throw new InferenceError(
          `graph "${this.name}" input "${port.name}" has rank ${port.dims.length} [${port.dims.join(', ')}] but the feed has dims [${tensor.dims.join(', ')}]`,
          this.name,
        );
      }
      port.dims.forEach((size, axis) => {
        if (typeof size === 'number' && size > 0 && tensor.dims[axis] !== size) {
          throw new InferenceError(
            `graph "${this.name}" input "${port.name}" needs size ${size} on axis ${axis} but the feed has dims [${tensor.dims.join(', ')}]`,
            this.name,
          );
        }
      });
    }
  }
}

function describePorts(session: ort.InferenceSession, kind: 'input' | 'output'): GraphPort[] {
  const names = kind === 'input' ? session.inputNames : session.outputNames;
  const metadata = (kind === 'input' ? session.inputMetadata : session.outputMetadata) as readonly unknown[] | undefined;
  return names.map((name, index) => {
    const meta = metadata?.[index] as { isTensor?: boolean; shape?: readonly (number | string)[] } | undefined;
    return { name, dims: meta?.isTensor && Array.isArray(meta.shape) ? [...meta.shape] : [] };
  });
}

/**
 * Owner of all sessions in a process: loads each graph file once and releases them all on close.
 */
export class SessionRegistry {
  private readonly graphs = new Map<string, Promise<OnnxGraph>>();
  private closed = false;

  constructor(readonly options: SessionOptions) {}

  /** Load a graph (or return the one already loaded from the same file). */
  load(name: string, file: string): Promise<OnnxGraph> {
    if (this.closed) return Promise.reject(new InferenceError(`session registry is closed; cannot load "${name}"`, name));
    let graph = this.graphs.get(file);
    if (!graph) {
      graph = OnnxGraph.load(name, file, this.options);
      this.graphs.set(file, graph);
      graph.catch(() => this.graphs.delete(file));
    }
    return graph;
  }

  /** Release every session. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = [...this.graphs.values()];
    this.graphs.clear();
    const settled = await Promise.allSettled(pending);
    await Promise.allSettled(settled.map((s) => (s.status === 'fulfilled' ? s.value.release() : undefined)));
  }
}

/**
 * Check whether onnxruntime-node's native folder contains the provider's library. The npm package ships only the
 * CPU provider; `ONNXRUNTIME_NODE_INSTALL=cuda12` at install time adds the CUDA one. Checking first avoids
 * a failed, noisy library load per graph on machines without it.
 */
export function providerInstalled(provider: ExecutionProviderName): boolean {
  if (provider === 'cpu') return true;
  const nativeDir = path.join(
    path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  return existsSync(path.join(nativeDir, 'libonnxruntime_providers_cuda.so'));
}

/** Parse a comma-separated provider list such as `cuda,cpu`, naming the valid values on error. */
export function parseExecutionProviders(value: string): ExecutionProviderName[] {
  const names = value
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part.length > 0);
  const invalid = names.filter((name) => !(knownExecutionProviders as readonly string[]).includes(name));
  if (names.length === 0 || invalid.length > 0) {
    throw new RangeError(
      `invalid execution provider list "${value}": ${invalid.length > 0 ? `unknown ${invalid.join(', ')}` : 'empty'}; valid values are ${knownExecutionProviders.join(', ')}`,
    );
  }
  return names as ExecutionProviderName[];
}
