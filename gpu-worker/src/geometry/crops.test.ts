import { describe, expect, it } from 'vitest';
import { applyAffine, composeAffine, invertAffine, type Affine, type FivePoints, type Point } from './affine.ts';
import {
  arcfaceCrop,
  boxCrop,
  buildParsingCrop,
  cropPointToImage,
  ffhqCrop,
  fivePointsFromBox,
  imagePointToCrop,
  lapaTanhCrop,
  type CropSpec,
  type ParsingCropConfig,
} from './crops.ts';
import { tanhWarpForward, tanhWarpInverse, tanhWarpReach } from './tanh-warp.ts';

// Test data shaped like a manifest's crops section (docs/model-format.md), not read by the code under test.
const template: FivePoints = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];
const templateUnit: FivePoints = [
  [0.3828125, 0.44140625],
  [0.6171875, 0.44140625],
  [0.5, 0.55859375],
  [0.4296875, 0.70390625],
  [0.5703125, 0.70390625],
];

function similarity(scale: number, angle: number, tx: number, ty: number): Affine {
  const cos = scale * Math.cos(angle);
  const sin = scale * Math.sin(angle);
  return [cos, -sin, tx, sin, cos, ty];
}

function transformPoints(matrix: Affine, points: FivePoints): FivePoints {
  const [a, b, c, d, e] = points;
  return [applyAffine(matrix, a), applyAffine(matrix, b), applyAffine(matrix, c), applyAffine(matrix, d), applyAffine(matrix, e)];
}

function expectPointClose(actual: Point, expected: Point, tolerance: number): void {
  expect(Math.abs(actual[0] - expected[0]), `x: ${actual[0]} vs ${expected[0]}`).toBeLessThanOrEqual(tolerance);
  expect(Math.abs(actual[1] - expected[1]), `y: ${actual[1]} vs ${expected[1]}`).toBeLessThanOrEqual(tolerance);
}

// A face in a 1280x926 photo: the template moved by a rotation of 0.3 rad, scaled 2.1x and shifted.
const faceFromTemplate = similarity(2.1, 0.3, 600, 180);
const facePoints = transformPoints(faceFromTemplate, template);

describe('boxCrop', () => {
  it('maps the box square, then scales it', () => {
    const crop = boxCrop({ x: 100, y: 50, width: 200, height: 200 }, 512, 1);
    expectPointClose(applyAffine(crop.matrix, [100, 50]), [-0.5, -0.5], 1e-12);
    expectPointClose(applyAffine(crop.matrix, [300, 250]), [511.5, 511.5], 1e-12);

    const scaled = boxCrop({ x: 100, y: 50, width: 200, height: 200 }, 512, 0.8);
    expectPointClose(applyAffine(scaled.matrix, [200, 150]), [255.5, 255.5], 1e-12);
    expectPointClose(applyAffine(scaled.matrix, [100, 50]), [255.5 - 0.8 * 256, 255.5 - 0.8 * 256], 1e-12);
    expect(scaled.tanhWarpFactor).toBe(0);
  });

  it('uses a square of the longer side about the box center', () => {
    const crop = boxCrop({ x: 100, y: 50, width: 100, height: 200 }, 256, 1);
    expectPointClose(applyAffine(crop.matrix, [50, 50]), [-0.5, -0.5], 1e-12);
    expectPointClose(applyAffine(crop.matrix, [250, 250]), [255.5, 255.5], 1e-12);
  });

  it('rejects bad sizes, scales and boxes', () => {
    expect(() => boxCrop({ x: 0, y: 0, width: 10, height: 10 }, 0, 0.8)).toThrow(/crop size must be a positive integer, got 0/);
    expect(() => boxCrop({ x: 0, y: 0, width: 10, height: 10 }, 512, -1)).toThrow(/scale must be a positive number, got -1/);
    expect(() => boxCrop({ x: 0, y: 0, width: 0, height: 10 }, 512, 0.8)).toThrow(RangeError);
    expect(() => boxCrop({ x: Number.NaN, y: 0, width: 5, height: 10 }, 512, 0.8)).toThrow(/face box/);
  });
});

describe('arcfaceCrop', () => {
  it('maps the five points onto the template', () => {
    const crop = arcfaceCrop(facePoints, template, 112, 112);
    facePoints.forEach((point, i) => expectPointClose(applyAffine(crop.matrix, point), template[i]!, 1e-9));
  });

  it('rescales the template for another crop size', () => {
    const crop = arcfaceCrop(facePoints, template, 112, 224);
    facePoints.forEach((point, i) => {
      const [tx, ty] = template[i]!;
      expectPointClose(applyAffine(crop.matrix, point), [(tx + 0.5) * 2 - 0.5, (ty + 0.5) * 2 - 0.5], 1e-9);
    });
  });
});

describe('lapaTanhCrop', () => {
  it('maps the points onto the scaled template', () => {
    // Points that are an exact similarity image of the LaPa template, so the fit has zero residual.
    const templatePixels = transformPoints([511, 0, 0, 0, 511, 0], templateUnit);
    const points = transformPoints(invertAffine(similarity(0.9, -0.2, 40, 25)), templatePixels);
    const crop = lapaTanhCrop(points, templateUnit, 512, 0.8);
    expect(crop.tanhWarpFactor).toBe(0.8);
    points.forEach((point, i) => {
      const [u, v] = templateUnit[i]!;
      expectPointClose(applyAffine(crop.matrix, point), [u * 511, v * 511], 1e-9);
    });
  });

  it('rejects a warp factor outside [0, 1]', () => {
    expect(() => lapaTanhCrop(facePoints, templateUnit, 512, 1.5)).toThrow(/warpFactor must be in \[0, 1\], got 1.5/);
  });
});

describe('ffhqCrop', () => {
  // Upright face: eyes at (-20, 0) and (20, 0), mouth corners at (-15, 40) and (15, 40).
  // eyeToEye = (40, 0), eyeToMouth = (0, 40), x = (40 + 40, 0) scaled to max(80, 72) = 80,
  // y = (0, 80), center = (0, 4). The quad is the square [-80, 80] x [-76, 84].
  const upright: FivePoints = [
    [-20, 0],
    [20, 0],
    [0, 20],
    [-15, 40],
    [15, 40],
  ];

  it('maps the quad corners to the crop corners', () => {
    const crop = ffhqCrop(upright, 512);
    expectPointClose(applyAffine(crop.matrix, [-80, -76]), [-0.5, -0.5], 1e-9);
    expectPointClose(applyAffine(crop.matrix, [80, -76]), [511.5, -0.5], 1e-9);
    expectPointClose(applyAffine(crop.matrix, [80, 84]), [511.5, 511.5], 1e-9);
    expectPointClose(applyAffine(crop.matrix, [-80, 84]), [-0.5, 511.5], 1e-9);
  });

  it('uses the eye-to-mouth distance when it dominates', () => {
    // eyeToEye = (10, 0), eyeToMouth = (0, 50): half side max(20, 90) = 90, x = (10 + 50, 0), center (0, 5).
    const narrow: FivePoints = [
      [-5, 0],
      [5, 0],
      [0, 25],
      [-8, 50],
      [8, 50],
    ];
    const crop = ffhqCrop(narrow, 256);
    expectPointClose(applyAffine(crop.matrix, [-90, -85]), [-0.5, -0.5], 1e-9);
    expectPointClose(applyAffine(crop.matrix, [90, 95]), [255.5, 255.5], 1e-9);
  });

  it('moves with the face under a similarity', () => {
    const motion = similarity(1.7, -0.6, 300, 220);
    const reference = ffhqCrop(upright, 512);
    const moved = ffhqCrop(transformPoints(motion, upright), 512);
    const expected = composeAffine(reference.matrix, invertAffine(motion));
    moved.matrix.forEach((value, k) => expect(value).toBeCloseTo(expected[k]!, 9));
  });

  it('rejects points where eyes and mouth coincide', () => {
    const collapsed: FivePoints = [
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 1],
    ];
    expect(() => ffhqCrop(collapsed, 512)).toThrow(/eyes and the mouth coincide/);
  });
});

describe('fivePointsFromBox', () => {
  it('returns the template when the box is the template crop', () => {
    const points = fivePointsFromBox({ x: -0.5, y: -0.5, width: 112, height: 112 }, template, 112);
    points.forEach((point, i) => expectPointClose(point, template[i]!, 1e-12));
  });

  it('gives an ArcFace crop equal to a plain crop of the square box', () => {
    const box = { x: 400, y: 300, width: 180, height: 224 };
    const crop = arcfaceCrop(fivePointsFromBox(box, template, 112), template, 112, 112);
    const plain = boxCrop(box, 112, 1);
    crop.matrix.forEach((value, k) => expect(value).toBeCloseTo(plain.matrix[k]!, 9));
  });
});

describe('buildParsingCrop', () => {
  it('dispatches on the manifest kind', () => {
    expect(buildParsingCrop({ kind: 'lapa-tanh', warp_factor: 0.8, template_unit: templateUnit }, facePoints, 512).tanhWarpFactor).toBe(0.8);
    expect(buildParsingCrop({ kind: 'celebamask-ffhq' }, facePoints, 512).tanhWarpFactor).toBe(0);
  });

  it('rejects an unknown kind', () => {
    const config = { kind: 'lapa' } as unknown as ParsingCropConfig;
    expect(() => buildParsingCrop(config, facePoints, 512)).toThrow(/unknown parsing crop kind "lapa"; expected "lapa-tanh" or "celebamask-ffhq"/);
  });
});

describe('tanh warp', () => {
  it('is linear in the central band and compresses outside it', () => {
    expect(tanhWarpForward(256, 512, 0.8)).toBe(256);
    expect(tanhWarpForward(300, 512, 0.8)).toBe(300);
    // n = 0.5: n_w = 0.2 + 0.8 * tanh(0.3 / 0.8).
    expect(tanhWarpForward(384, 512, 0.8)).toBeCloseTo(((0.2 + 0.8 * Math.tanh(0.375) + 1) / 2) * 512, 12);
    expect(tanhWarpForward(2000, 512, 0.8)).toBeLessThan(512);
    expect(tanhWarpForward(-1500, 512, 0.8)).toBeGreaterThan(0);
  });

  it('inverts the forward warp and saturates at the reach', () => {
    for (const a of [-400, -100, 0, 50, 255.5, 400, 700]) {
      expect(tanhWarpInverse(tanhWarpForward(a, 512, 0.8), 512, 0.8)).toBeCloseTo(a, 9);
    }
    const reach = tanhWarpReach(0.8);
    expect(tanhWarpInverse(512, 512, 0.8)).toBeCloseTo(((reach + 1) / 2) * 512, 9);
    expect(tanhWarpInverse(0, 512, 0.8)).toBeCloseTo(((1 - reach) / 2) * 512, 9);
  });
});

describe('crop round trips', () => {
  const crops: Record<string, CropSpec> = {
    box: boxCrop({ x: 500, y: 120, width: 260, height: 300 }, 512, 0.8),
    arcface: arcfaceCrop(facePoints, template, 112, 112),
    'lapa-tanh': lapaTanhCrop(facePoints, templateUnit, 512, 0.8),
    'celebamask-ffhq': ffhqCrop(facePoints, 512),
  };

  for (const [kind, crop] of Object.entries(crops)) {
    it(`${kind} crop maps crop -> image -> crop within 1e-6`, () => {
      // Crop points within 0.2 px of the outer edge saturate in the inverse tanh warp, so stay inside [0.5, size - 1].
      const steps = [0.5, 0.31 * crop.size, (crop.size - 1) / 2, 0.77 * crop.size, crop.size - 1];
      for (const x of steps) {
        for (const y of steps) {
          const back = imagePointToCrop(crop, cropPointToImage(crop, [x, y]));
          expectPointClose(back, [x, y], 1e-6);
        }
      }
    });

    it(`${kind} crop maps image -> crop -> image within 1e-6`, () => {
      for (const point of [...facePoints, [610, 200] as Point, [700.25, 410.75] as Point]) {
        const back = cropPointToImage(crop, imagePointToCrop(crop, point));
        expectPointClose(back, point, 1e-6);
      }
    });
  }
});
