import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/support/requirements.ts';
import { DetectorManifestError, openDetectorFolder, parseDetectorManifest } from './manifest.ts';

const ultrafaceDir = path.join(repoRoot, 'models', 'ultraface-rfb320');
const temporaryDirs: string[] = [];

afterEach(async () => {
  await Promise.all(temporaryDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function readManifestJson(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path.join(ultrafaceDir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
}

describe('openDetectorFolder', () => {
  it('opens the shipped UltraFace folder and verifies its checksum', async () => {
    const folder = await openDetectorFolder(ultrafaceDir);
    expect(folder.manifest.input).toMatchObject({ name: 'input', width: 320, height: 240, batch: 1, channel_order: 'RGB', mean: [127, 127, 127], std: [128, 128, 128] });
    expect(folder.manifest.outputs.boxes).toMatchObject({ name: 'boxes', encoding: 'xyxy-normalized' });
    expect(folder.graphFile).toBe(path.join(ultrafaceDir, 'fr_detect.onnx'));
  });

  it('rejects a graph whose checksum differs from the manifest', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'detector-manifest-'));
    temporaryDirs.push(dir);
    await copyFile(path.join(ultrafaceDir, 'manifest.json'), path.join(dir, 'manifest.json'));
    await writeFile(path.join(dir, 'fr_detect.onnx'), 'not the graph');

    const error = await openDetectorFolder(dir).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DetectorManifestError);
    expect((error as Error).message).toMatch(/sha256: the graph .*fr_detect\.onnx has SHA-256 [0-9a-f]{64}, the manifest expects 6c0256cc/);
    await expect(openDetectorFolder(dir, { verifyChecksum: false })).resolves.toMatchObject({ manifest: { name: 'ultraface-rfb320' } });
  });

  it('reports a missing manifest file', async () => {
    await expect(openDetectorFolder(path.join(tmpdir(), 'no-such-detector-folder'))).rejects.toThrow(/manifest\.json:\n {2}cannot read or parse the file/);
  });
});

describe('parseDetectorManifest', () => {
  it('lists every problem at once', async () => {
    const json = await readManifestJson();
    json.format = 'faceptor.model/v1';
    (json.input as Record<string, unknown>).mean = [127, 127];
    (json.input as Record<string, unknown>).batch = 0;
    delete (json.outputs as Record<string, Record<string, unknown>>).boxes!.encoding;
    (json.defaults as Record<string, unknown>).score_threshold = 1.5;

    const error = (() => {
      try {
        parseDetectorManifest(json, 'test.json');
        return null;
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(DetectorManifestError);
    const problems = (error as DetectorManifestError).problems;
    expect(problems).toContain('format: expected "faceptor.detector/v1", got "faceptor.model/v1"');
    expect(problems).toContain('input.mean: expected three numbers, got [127,127]');
    expect(problems).toContain('input.batch: expected a positive integer or "dynamic", got 0');
    expect(problems).toContain('outputs.boxes.encoding: missing, expected one of "xyxy-normalized"');
    expect(problems).toContain('defaults.score_threshold: expected a number in [0, 1], got 1.5');
    expect(problems).toHaveLength(5);
  });

  it('rejects a value that is not an object', () => {
    expect(() => parseDetectorManifest(null)).toThrow(/format: missing/);
  });
});
