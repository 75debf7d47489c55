export * from './app.ts';
export * from './app-env.ts';
export * from './http-errors.ts';
export * from './job-service.ts';
export * from './job-view.ts';
export * from './read-body.ts';
export * from './upload-token.ts';
