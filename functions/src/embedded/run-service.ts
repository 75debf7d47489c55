import { ConfigError, createLogger, errorFields, LogEvents, loadConfig, type Config } from '@faceptor/core';
import { startLocalService, type AnalyzerFactory } from './local-service.ts';

/**
 * Runs a local service as the main program: reads the configuration, starts the service, and stops
 * it on SIGTERM or SIGINT. Exit codes: 0 after a graceful stop, 1 when startup or model loading
 * fails or a stop overruns its deadline, 2 for an invalid configuration.
 */
export async function runService(createAnalyzer: AnalyzerFactory | null): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }

  const logger = createLogger({ level: config.logLevel, component: createAnalyzer ? 'embedded' : 'api' });
  let service;
  try {
    service = await startLocalService({ config, createAnalyzer, logger });
  } catch (error) {
    logger.fatal({ event: LogEvents.serverFailed, ...errorFields(error) }, 'service failed to start');
    process.exit(1);
  }

  let stopping = false;
  const stop = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: LogEvents.serverStopping, reason }, `stopping on ${reason}`);
    // A stop must end even if a step hangs: the worker waits at most shutdownTimeoutMs and the server 5 s.
    setTimeout(() => {
      logger.error({ event: LogEvents.serverFailed, reason }, 'stop overran its deadline; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 10_000).unref();
    await service.close();
    process.exit(exitCode);
  };

  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  service.ready.catch((error: unknown) => {
    logger.fatal({ event: LogEvents.serverFailed, ...errorFields(error) }, 'loading the models failed');
    void stop('startup failure', 1);
  });
}
