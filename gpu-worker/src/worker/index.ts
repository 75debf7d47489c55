export * from './ack-policy.ts';
export * from './dead-letters.ts';
export * from './job-processor.ts';
export * from './queue-worker.ts';
export * from './result-document.ts';
