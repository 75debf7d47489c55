import { describe, expect, it } from 'vitest';
import { MessageNotInFlightError } from '../errors.ts';
import { newJobId, type WorkMessage } from '../job.ts';
import type { WorkQueue } from '../ports.ts';

/** A queue under test, its dead-letter queue, and a function that removes both. */
export interface WorkQueueFixture {
  queue: WorkQueue;
  /** The dead-letter queue, read with the same WorkQueue operations. */
  deadLetters: WorkQueue;
  cleanup(): Promise<void>;
}

/** Settings the suite creates its queues with; the timing checks depend on them. */
export interface WorkQueueContractSettings {
  visibilityTimeoutSec: 1;
  maxReceiveCount: 2;
}

const settings: WorkQueueContractSettings = { visibilityTimeoutSec: 1, maxReceiveCount: 2 };

function workMessage(): WorkMessage {
  const jobId = newJobId();
  return { v: 1, jobId, tenant: 'tenant-a', tasks: ['age'], inputKey: `jobs/${jobId}/input`, enqueuedAt: new Date().toISOString() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Defines the WorkQueue contract suite (SQS semantics). The factory must return empty queues created
 * with a 1 s visibility timeout and a maximum receive count of 2; the suite waits in real time.
 */
export function describeWorkQueueContract(name: string, createFixture: (options: WorkQueueContractSettings) => Promise<WorkQueueFixture>): void {
  // Each test has its own queues, so the tests run concurrently and the suite waits about 2 s instead of 12 s.
  describe.concurrent(`WorkQueue contract: ${name}`, () => {
    async function withQueues(test: (fixture: WorkQueueFixture) => Promise<void>): Promise<void> {
      const fixture = await createFixture(settings);
      try {
        await test(fixture);
      } finally {
        await fixture.cleanup();
      }
    }

    it('send then receive returns the body once', () =>
      withQueues(async ({ queue }) => {
        const body = workMessage();
        const messageId = await queue.send(body);

        const [message, ...rest] = await queue.receive(10, 2000);

        expect(rest).toEqual([]);
        expect(message?.messageId).toBe(messageId);
        expect(message?.body).toEqual(body);
        expect(message?.receiveCount).toBe(1);
        expect(await queue.receive(10, 0)).toEqual([]);
      }));

    it('receive returns at most maxMessages', () =>
      withQueues(async ({ queue }) => {
        for (let i = 0; i < 5; i += 1) await queue.send(workMessage());

        const first = await queue.receive(3, 2000);
        const second = await queue.receive(10, 2000);

        expect(first.length).toBeLessThanOrEqual(3);
        expect(first.length + second.length).toBeLessThanOrEqual(5);
        expect(new Set([...first, ...second].map((message) => message.messageId)).size).toBe(first.length + second.length);
      }));

    it('redelivers after the visibility timeout', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [first] = await queue.receive(1, 2000);

        expect(await queue.receive(1, 0)).toEqual([]);
        await sleep(settings.visibilityTimeoutSec * 1000 + 200);
        const [second] = await queue.receive(1, 2000);

        expect(second?.messageId).toBe(first?.messageId);
        expect(second?.receiveCount).toBe(2);
        expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
      }));

    it('delete removes a received message', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [message] = await queue.receive(1, 2000);
        await queue.delete(message!.receiptHandle);
        await sleep(settings.visibilityTimeoutSec * 1000 + 200);

        expect(await queue.receive(1, 0)).toEqual([]);
      }));

    it('delete with a stale handle does not throw', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [first] = await queue.receive(1, 2000);
        await sleep(settings.visibilityTimeoutSec * 1000 + 200);
        const [second] = await queue.receive(1, 2000);

        await expect(queue.delete(first!.receiptHandle)).resolves.toBeUndefined();
        await queue.delete(second!.receiptHandle);
      }));

    it('release makes a message visible again', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [first] = await queue.receive(1, 2000);
        await queue.release(first!.receiptHandle);

        const [second] = await queue.receive(1, 2000);

        expect(second?.messageId).toBe(first?.messageId);
        expect(second?.receiveCount).toBe(2);
      }));

    it('release with a delay hides the message', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [first] = await queue.receive(1, 2000);
        await queue.release(first!.receiptHandle, 2);

        expect(await queue.receive(1, 500)).toEqual([]);
        const [second] = await queue.receive(1, 3000);
        expect(second?.messageId).toBe(first?.messageId);
      }));

    it('extendVisibility keeps a message hidden', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [message] = await queue.receive(1, 2000);
        await queue.extendVisibility(message!.receiptHandle, 3);

        await sleep(settings.visibilityTimeoutSec * 1000 + 300);
        expect(await queue.receive(1, 0)).toEqual([]);
      }));

    it('extendVisibility with a stale handle fails', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage());
        const [first] = await queue.receive(1, 2000);
        await sleep(settings.visibilityTimeoutSec * 1000 + 200);
        const [second] = await queue.receive(1, 2000);

        await expect(queue.extendVisibility(first!.receiptHandle, 5)).rejects.toBeInstanceOf(MessageNotInFlightError);
        await queue.extendVisibility(second!.receiptHandle, 5);
      }));

    it('send with a delay hides the message', () =>
      withQueues(async ({ queue }) => {
        await queue.send(workMessage(), { delaySec: 2 });

        expect(await queue.receive(1, 500)).toEqual([]);
        expect(await queue.receive(1, 3000)).toHaveLength(1);
      }));

    it('long poll returns a message sent during the wait', () =>
      withQueues(async ({ queue }) => {
        const started = Date.now();
        const receiving = queue.receive(1, 5000);
        await sleep(300);
        await queue.send(workMessage());

        const messages = await receiving;

        expect(messages).toHaveLength(1);
        expect(Date.now() - started).toBeLessThan(4000);
      }));

    it('long poll on an empty queue waits and returns nothing', () =>
      withQueues(async ({ queue }) => {
        const started = Date.now();
        const messages = await queue.receive(1, 600);
        const elapsed = Date.now() - started;

        expect(messages).toEqual([]);
        expect(elapsed).toBeGreaterThanOrEqual(500);
        expect(elapsed).toBeLessThan(3000);
      }));

    it('abort ends a long poll early', () =>
      withQueues(async ({ queue }) => {
        const controller = new AbortController();
        const started = Date.now();
        setTimeout(() => controller.abort(), 200);

        const messages = await queue.receive(1, 10_000, controller.signal);

        expect(messages).toEqual([]);
        expect(Date.now() - started).toBeLessThan(3000);
      }));

    it('dead-letters after maxReceiveCount receives', () =>
      withQueues(async ({ queue, deadLetters }) => {
        const body = workMessage();
        const messageId = await queue.send(body);
        for (let receive = 1; receive <= settings.maxReceiveCount; receive += 1) {
          const [message] = await queue.receive(1, 2000);
          expect(message?.receiveCount).toBe(receive);
          await queue.release(message!.receiptHandle);
        }

        expect(await queue.receive(1, 300)).toEqual([]);
        const [dead] = await deadLetters.receive(1, 2000);
        expect(dead?.messageId).toBe(messageId);
        expect(dead?.body).toEqual(body);
      }));
  });
}
