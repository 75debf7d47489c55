export * from './local-service.ts';
export * from './run-service.ts';
