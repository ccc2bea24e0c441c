export { startProcessor, ALERT_NOTIFIER_CONSUMER, type RunningProcessor, type StartProcessorOptions } from './service.ts';
export { loadProcessorConfig, processorEnv, type ProcessorConfig } from './config.ts';
export { AlertNotifier, type AlertNotifierOptions, type NotifyOutcome } from './notifier.ts';
