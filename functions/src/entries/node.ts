/**
 * The API alone as a Node server over the local adapters, without a worker: jobs it queues wait for a
 * worker process that shares its data folder.
 */
import { runService } from '../embedded/run-service.ts';

await runService(null);
