export * from './identity.ts';
export * from './label-map-png.ts';
export * from './landmarks.ts';
export * from './parsing.ts';
export * from './values.ts';
