/**
 * The `faceptor` command line: `faceptor analyze <image> [options]` runs the pipeline on one photo and
 * prints the faceptor.result/v1 JSON on stdout.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TASKS, TaskListSchema, type Task } from '@faceptor/core';
import { parseExecutionProviders } from './inference/sessions.ts';
import { encodeLabelMapPng } from './postprocess/index.ts';
import { renderOverlay, type OverlayFace } from './overlay/index.ts';
import { openPipeline, defaultModelDir, defaultDetectorDir, defaultMaxPixels } from './open-pipeline.ts';

const usage = `Usage: faceptor analyze <image> [options]

Runs Faceptor on one image (JPEG, PNG, WebP or AVIF) and prints the result JSON (schema faceptor.result/v1).

Options:
  --tasks LIST        comma-separated tasks to run (default: all): ${TASKS.join(', ')}
  --overlay FILE      also write a PNG with boxes, landmarks and parsing maps drawn on the photo
  --masks DIR         write each face's parsing label map as DIR/parsing-<n>.png (one class index per pixel)
  --model DIR         model folder with manifest.json (default: ${defaultModelDir}, or FACEPTOR_MODEL_DIR)
  --detector DIR      face detector folder (default: ${defaultDetectorDir}, or FACEPTOR_DETECTOR_DIR)
  --providers LIST    execution providers in order of preference (default: cpu): cuda, cpu
  --max-pixels N      reject images larger than N pixels (default: ${defaultMaxPixels})
  --compact           print the JSON on one line
  -h, --help          show this help
`;

/** Run the CLI with `argv` (without the node and script paths); returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    process.stdout.write(usage);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'analyze') {
    process.stderr.write(`faceptor: unknown command "${command}"; the only command is "analyze"\n\n${usage}`);
    return 2;
  }

  let args: ReturnType<typeof parseAnalyzeArgs>;
  try {
    args = parseAnalyzeArgs(rest);
  } catch (error) {
    process.stderr.write(`faceptor analyze: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(usage);
    return 0;
  }

  let bytes: Uint8Array;
  try {
    bytes = await readFile(args.image);
  } catch (error) {
    process.stderr.write(`faceptor analyze: cannot read image ${args.image}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  let pipeline: Awaited<ReturnType<typeof openPipeline>>;
  try {
    pipeline = await openPipeline({
      modelDir: args.model,
      detectorDir: args.detector,
      executionProviders: args.providers,
      maxPixels: args.maxPixels,
    });
  } catch (error) {
    process.stderr.write(`faceptor analyze: cannot load the model: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    const [outcome] = await pipeline.analyze([{ image: bytes, tasks: args.tasks }]);
    if (!outcome) throw new Error('the pipeline returned no outcome');
    if (!outcome.ok) {
      process.stderr.write(`faceptor analyze: ${args.image}: ${outcome.error.message}\n`);
      return 1;
    }

    const { result } = outcome;
    if (args.masks !== undefined) {
      await mkdir(args.masks, { recursive: true });
      for (const [faceIndex, map] of outcome.parsingMaps) {
        const file = path.join(args.masks, `parsing-${faceIndex}.png`);
        await writeFile(file, await encodeLabelMapPng(map));
        const face = result.faces[faceIndex];
        if (face?.parsing) face.parsing.mask = file;
      }
    }
    if (args.overlay !== undefined) {
      const overlayFaces: OverlayFace[] = result.faces.map((face, faceIndex) => {
        const map = outcome.parsingMaps.get(faceIndex);
        return {
          box: face.box,
          score: face.score,
          ...(face.landmarks ? { landmarks: face.landmarks.points.map(([x, y]) => [x, y] as [number, number]) } : {}),
          ...(map && face.parsing ? { parsing: { labels: map.labels, names: face.parsing.labels } } : {}),
        };
      });
      await writeFile(args.overlay, await renderOverlay(outcome.image, overlayFaces));
    }

    process.stdout.write(`${JSON.stringify(result, null, args.compact ? undefined : 2)}\n`);
    return 0;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string' && code.startsWith('E')) {
      process.stderr.write(`faceptor analyze: cannot write an output file: ${(error as Error).message}; check that the folder exists and is writable\n`);
      return 1;
    }
    throw error;
  } finally {
    await pipeline.close();
  }
}

function parseAnalyzeArgs(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      tasks: { type: 'string' },
      overlay: { type: 'string' },
      masks: { type: 'string' },
      model: { type: 'string' },
      detector: { type: 'string' },
      providers: { type: 'string' },
      'max-pixels': { type: 'string' },
      compact: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true as const, image: '', tasks: [] as Task[] } as ReturnType<typeof buildArgs>;
  if (positionals.length !== 1) {
    throw new Error(`expected exactly one image path, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  }
  return buildArgs(positionals[0] as string, values);
}

function buildArgs(
  image: string,
  values: { tasks?: string; overlay?: string; masks?: string; model?: string; detector?: string; providers?: string; 'max-pixels'?: string; compact?: boolean },
) {
  let tasks: Task[] = [...TASKS];
  if (values.tasks !== undefined) {
    const parsed = TaskListSchema.safeParse(values.tasks.split(',').map((task) => task.trim()).filter((task) => task.length > 0));
    if (!parsed.success) throw new Error(`invalid --tasks "${values.tasks}": ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
    tasks = parsed.data;
  }
  let maxPixels = defaultMaxPixels;
  if (values['max-pixels'] !== undefined) {
    maxPixels = Number(values['max-pixels']);
    if (!Number.isInteger(maxPixels) || maxPixels < 1) throw new Error(`invalid --max-pixels "${values['max-pixels']}": expected a positive whole number`);
  }
  return {
    help: false as boolean,
    image,
    tasks,
    overlay: values.overlay,
    masks: values.masks,
    model: values.model ?? process.env.FACEPTOR_MODEL_DIR ?? defaultModelDir,
    detector: values.detector ?? process.env.FACEPTOR_DETECTOR_DIR ?? defaultDetectorDir,
    providers: parseExecutionProviders(values.providers ?? process.env.FACEPTOR_EXECUTION_PROVIDERS ?? 'cpu'),
    maxPixels,
    compact: values.compact ?? false,
  };
}
