export * from './affine.ts';
export * from './crops.ts';
export * from './parsing-to-image.ts';
export * from './sample-crop.ts';
export * from './similarity.ts';
export * from './tanh-warp.ts';
