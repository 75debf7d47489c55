export { alphaBackground, decodeImage, type DecodedImage, type DecodeOptions } from './decode-image.ts';
export { acceptedImageFormats, sniffImageFormat, type AcceptedImageFormat, type SniffedFormat } from './sniff.ts';
