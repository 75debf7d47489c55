/**
 * `npm start`: the API and one queue worker in one process, on 127.0.0.1:8787 by default, with jobs,
 * queue and objects under FACEPTOR_DATA_DIR (./.data). See `loadConfig` for every variable.
 */
import { createPipelineAnalyzer } from '@faceptor/gpu-worker';
import { runService } from '../embedded/run-service.ts';

await runService(createPipelineAnalyzer);
