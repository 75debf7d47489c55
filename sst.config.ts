/// <reference path="./.sst/platform/config.d.ts" />

// Wiring only: each infra/ file owns one concern and exports its resources.
// NOTE: only storage and queues exist so far. The API functions, the upload-event handler, the GPU fleet
// and monitoring are not written yet, so this app cannot serve jobs on AWS (infra/README.md).
export default $config({
  app(input) {
    return {
      name: 'faceptor',
      home: 'aws',
      removal: input?.stage === 'production' ? 'retain' : 'remove',
    };
  },
  async run() {
    const storage = await import('./infra/storage');
    const queues = await import('./infra/queues');
    return {
      bucket: storage.jobsBucket.name,
      workQueue: queues.workQueue.url,
      workDeadLetters: queues.workDeadLetters.url,
    };
  },
});
