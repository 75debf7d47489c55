import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { photosDir } from '../../../test/support/requirements.ts';
import { matchBoxes, readDlibXml, readVispDetections } from './reference-boxes.ts';

describe('readDlibXml', () => {
  it('reads the 18 training and 25 testing faces', async () => {
    const training = await readDlibXml(path.join(photosDir, 'dlib-examples', 'training_with_face_landmarks.xml'));
    const testing = await readDlibXml(path.join(photosDir, 'dlib-examples', 'testing_with_face_landmarks.xml'));
    expect(training.reduce((n, image) => n + image.boxes.length, 0)).toBe(18);
    expect(testing.reduce((n, image) => n + image.boxes.length, 0)).toBe(25);
    expect(training[0]).toEqual({
      file: path.join(photosDir, 'dlib-examples', '2007_007763.jpg'),
      boxes: expect.arrayContaining([{ x: 193.5, y: 89.5, width: 37, height: 37 }]),
    });
  });
});

describe('readVispDetections', () => {
  it('reads 30 boxes from corner blocks', async () => {
    const boxes = await readVispDetections(path.join(photosDir, 'solvay-1927', 'ground_truth_detection.txt'));
    expect(boxes).toHaveLength(30);
    // detection_0: rows 376-454, columns 35-114.
    expect(boxes[0]).toEqual({ x: 35, y: 376, width: 79, height: 78 });
  });
});

describe('matchBoxes', () => {
  it('matches one to one by descending IoU', () => {
    const references = [
      { x: 0, y: 0, width: 10, height: 10 },
      { x: 100, y: 0, width: 10, height: 10 },
    ];
    const detections = [
      { x: 1, y: 0, width: 10, height: 10 },
      { x: 0, y: 0, width: 10, height: 10 },
      { x: 50, y: 50, width: 10, height: 10 },
    ];
    const result = matchBoxes(references, detections, 0.4);
    expect(result.referenceToDetection).toEqual([1, -1]);
    expect(result.iou).toEqual([1, 0]);
    expect(result.matched).toBe(1);
    expect(result.unmatchedDetections).toEqual([0, 2]);
  });
});
