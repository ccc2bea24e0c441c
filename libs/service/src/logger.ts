import { pino, type Logger } from 'pino';

export type { Logger };

/** A structured JSON logger (one JSON object per line on stdout) named after the service. */
export function createLogger(service: string, level: string = 'info'): Logger {
  return pino({ name: service, level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime });
}
