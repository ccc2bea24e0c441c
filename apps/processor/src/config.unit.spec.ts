import { describe, expect, it } from 'vitest';
import { loadProcessorConfig } from './config.ts';

describe('processor configuration', () => {
  it('has defaults for everything', () => {
    const config = loadProcessorConfig({});
    expect(config.PROCESSOR_PORT).toBe(8083);
    expect(config.replicaIndex).toBe(0);
    expect(config.PROCESSOR_REPLICAS).toBe(1);
    expect(config.PROCESSOR_PIPELINES).toEqual([]);
    expect(config.PROCESSOR_WEBHOOK_URL).toBeUndefined();
  });

  it('takes the replica index from a StatefulSet hostname and the pipelines as a list', () => {
    const config = loadProcessorConfig({ PROCESSOR_REPLICA: 'processor-2', PROCESSOR_REPLICAS: '3', PROCESSOR_PIPELINES: 'a, b' });
    expect(config.replicaIndex).toBe(2);
    expect(config.PROCESSOR_PIPELINES).toEqual(['a', 'b']);
  });

  it('fails naming the variable', () => {
    expect(() => loadProcessorConfig({ PROCESSOR_REPLICA: 'processor-3', PROCESSOR_REPLICAS: '3' })).toThrow(/PROCESSOR_REPLICA: 3 is not below PROCESSOR_REPLICAS/);
    expect(() => loadProcessorConfig({ PROCESSOR_REPLICA: 'leader' })).toThrow(/PROCESSOR_REPLICA: "leader"/);
    expect(() => loadProcessorConfig({ PROCESSOR_WEBHOOK_URL: 'not a url' })).toThrow(/PROCESSOR_WEBHOOK_URL/);
    expect(() => loadProcessorConfig({ PROCESSOR_PORT: 'x' })).toThrow(/PROCESSOR_PORT/);
  });
});
