import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { photosDir } from '../../test/support/requirements.ts';
import { sniffImageType } from './media-type.ts';

const fromHex = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
const fromText = (text: string) => new TextEncoder().encode(text);

describe('sniffImageType', () => {
  it('recognizes a real JPEG and PNG', async () => {
    const jpeg = await readFile(path.join(photosDir, 'dlib-examples', 'bald_guys.jpg'));
    const png = await readFile(path.join(photosDir, 'astronaut.png'));

    expect(sniffImageType(jpeg)).toBe('image/jpeg');
    expect(sniffImageType(png)).toBe('image/png');
  });

  it('recognizes WebP and AVIF headers', () => {
    const webp = new Uint8Array([...fromText('RIFF'), 0x24, 0, 0, 0, ...fromText('WEBPVP8 ')]);
    const avifMajor = fromHex('0000001c 66747970 61766966 00000000 61766966 6d696631 6d696166');
    const avifCompatible = fromHex('00000020 66747970 6d696631 00000000 6d696631 61766966 6d696166 4d413142');

    expect(sniffImageType(webp)).toBe('image/webp');
    expect(sniffImageType(avifMajor)).toBe('image/avif');
    expect(sniffImageType(avifCompatible)).toBe('image/avif');
  });

  it('rejects other formats', () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['text', fromText('hello, this is not an image')],
      ['svg', fromText('<svg xmlns="http://www.w3.org/2000/svg"></svg>')],
      ['gif', fromText('GIF89a\x01\x00\x01\x00')],
      ['heic', fromHex('00000018 66747970 68656963 00000000 6d696631 68656963')],
      ['riff wave', new Uint8Array([...fromText('RIFF'), 0x24, 0, 0, 0, ...fromText('WAVEfmt ')])],
      ['short jpeg', new Uint8Array([0xff, 0xd8])],
    ];
    for (const [name, bytes] of cases) expect(sniffImageType(bytes), name).toBeNull();
  });
});
