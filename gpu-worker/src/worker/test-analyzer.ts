import { crc32, deflateSync } from 'node:zlib';
import { sniffImageType, type AnalyzeOutcome, type AnalyzeRequest, type ImageAnalyzer } from '@faceptor/core';

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/**
 * Encodes a single-channel 8-bit PNG of `width` x `height` filled with `value`: the shape of a parsing
 * label map. The queue and API tests store and serve it; nothing decodes it there.
 */
export function encodeGrayPng(width: number, height: number, value = 0): Uint8Array {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8); // bit depth 8, color type 0 (grayscale), deflate, adaptive filters, no interlace
  const rows = Buffer.alloc((width + 1) * height, value);
  for (let y = 0; y < height; y += 1) rows[y * (width + 1)] = 0; // filter type None at the start of each row

  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const png = Buffer.concat([signature, pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', Buffer.alloc(0))]);
  return new Uint8Array(png);
}

/** Options of {@link TestAnalyzer}. */
export interface TestAnalyzerOptions {
  /** Time each `analyzeBatch` call takes. */
  delayMs?: number;
  /** Number of first calls that reject, to exercise retries. */
  failFirstCalls?: number;
  /** Callback that receives each batch before the analyzer returns its outcomes. */
  onBatch?: (requests: AnalyzeRequest[]) => void;
}

function endsWith(bytes: Uint8Array, suffix: number[]): boolean {
  return bytes.length >= suffix.length && suffix.every((byte, i) => bytes[bytes.length - suffix.length + i] === byte);
}

/**
 * Test double of the ImageAnalyzer port for queue, worker and API tests, where the component under
 * test is the job flow and not the model. It decodes nothing. A JPEG that ends with its EOI marker
 * (FF D9) or a PNG that ends with its IEND chunk counts as valid and gets one face. Any other bytes
 * get `invalid_image`, as a truncated or corrupt upload would from the real pipeline.
 */
export class TestAnalyzer implements ImageAnalyzer {
  /** Every batch received, in order. */
  readonly batches: AnalyzeRequest[][] = [];
  closed = false;
  private readonly options: TestAnalyzerOptions;

  constructor(options: TestAnalyzerOptions = {}) {
    this.options = options;
  }

  async analyzeBatch(requests: AnalyzeRequest[]): Promise<AnalyzeOutcome[]> {
    this.batches.push(requests);
    this.options.onBatch?.(requests);
    if (this.options.delayMs) await new Promise((resolve) => setTimeout(resolve, this.options.delayMs));
    if (this.batches.length <= (this.options.failFirstCalls ?? 0)) {
      throw new Error(`test analyzer call ${this.batches.length} failed on purpose`);
    }
    return requests.map((request) => this.analyzeOne(request));
  }

  private analyzeOne(request: AnalyzeRequest): AnalyzeOutcome {
    const type = sniffImageType(request.image);
    const complete =
      (type === 'image/jpeg' && endsWith(request.image, [0xff, 0xd9])) ||
      (type === 'image/png' && endsWith(request.image, [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]));
    if (!complete) return { ok: false, code: 'invalid_image', message: `image of ${request.image.byteLength} bytes is truncated or corrupt` };

    const face: Record<string, unknown> = { box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.99 };
    if (request.tasks.includes('parsing')) face.parsing = { scheme: 'lapa-11', labels: ['background', 'skin'], areas: { skin: 1 } };
    if (request.tasks.includes('age')) face.age = { years: 30 };
    const result = {
      schema: 'faceptor.result/v1',
      image: { width: 0, height: 0 },
      model: { name: 'test-analyzer', version: '0', heads: {} },
      faces: [face],
      timings_ms: { decode: 0, detect: 0, infer: 0, total: 0 },
    };
    const masks = request.tasks.includes('parsing') ? [{ faceIndex: 0, png: encodeGrayPng(4, 4) }] : [];
    return { ok: true, result, masks };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
