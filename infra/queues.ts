// The work queue that feeds the GPU workers, and its dead-letter queue.
// maxReceiveCount and the visibility timeout match the embedded defaults in core/src/config.ts
// (FACEPTOR_MAX_RECEIVE_COUNT = 5, FACEPTOR_VISIBILITY_TIMEOUT_SEC = 120).
export const workDeadLetters = new sst.aws.Queue('WorkDeadLetters');

export const workQueue = new sst.aws.Queue('Work', {
  visibilityTimeout: '120 seconds',
  dlq: { queue: workDeadLetters.arn, retry: 5 },
});
