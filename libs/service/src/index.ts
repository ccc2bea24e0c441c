export { createServiceApp, listen, type ServiceAppOptions, type ReadinessCheck, type RunningService } from './service.ts';
export { problemOf, problemResponse, PROBLEM_TYPE_BASE, type ProblemDetails } from './problem.ts';
export { createLogger, type Logger } from './logger.ts';
export { createMetricsRegistry, Counter, Gauge, Histogram, Registry } from './metrics.ts';
export { parseEnv, commonEnv, portEnv } from './config.ts';
