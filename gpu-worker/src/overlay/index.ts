export { parsingColor, renderOverlay, type OverlayFace, type OverlayOptions } from './render-overlay.ts';
