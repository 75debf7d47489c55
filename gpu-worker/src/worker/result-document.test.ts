import { describe, expect, it } from 'vitest';
import { attachMaskKeys } from './result-document.ts';

describe('attachMaskKeys', () => {
  it('points faces with masks at their keys', () => {
    const result = { schema: 'faceptor.result/v1', faces: [{ parsing: { scheme: 'lapa-11' } }, { parsing: { scheme: 'lapa-11' } }, { age: { years: 3 } }] };

    const updated = attachMaskKeys(result, 'abc', [{ faceIndex: 1, png: new Uint8Array() }]) as { faces: unknown[] };

    expect(updated.faces[0]).toEqual({ parsing: { scheme: 'lapa-11' } });
    expect(updated.faces[1]).toEqual({ parsing: { scheme: 'lapa-11', mask: 'jobs/abc/parsing-1.png' } });
    expect(updated.faces[2]).toEqual({ age: { years: 3 } });
    expect(result.faces[1]).toEqual({ parsing: { scheme: 'lapa-11' } });
  });

  it('leaves other documents unchanged', () => {
    const masks = [{ faceIndex: 0, png: new Uint8Array() }];

    expect(attachMaskKeys(null, 'abc', masks)).toBeNull();
    expect(attachMaskKeys({ faces: 'none' }, 'abc', masks)).toEqual({ faces: 'none' });
  });
});
