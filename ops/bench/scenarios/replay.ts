/**
 * Scenario 5: bounded replay of a pre-filled stream through the windowing + anomaly pipeline, against the raw
 * ordered consumer on the same stream in the same run.
 */
import { existsSync } from 'node:fs';
import { Agent, repoRoot } from '../lib/children.ts';
import { repeat, skippedRow, type BenchContext, type ResultRow } from '../lib/measure.ts';
import { benchNamespace } from '../lib/platform.ts';

interface ReplayResult {
  events: number;
  seconds: number;
  rate: number;
  outputs: Record<string, number>;
}

export async function replay(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const natsUrl = ctx.env['NATS_URL']!;
  const total = ctx.quick ? 60_000 : 400_000;
  await using space = await benchNamespace(natsUrl);
  const filler = await Agent.start('raw-client', 'nats-raw');
  try {
    ctx.progress(`pre-filling ${space.stream} with ${total} sensor readings`);
    await filler.run({ op: 'publish', mode: 'core', natsUrl, scheme: space.scheme, idPrefix: 'replay', count: total, window: 4096 });
  } finally {
    await filler.stop();
  }
  const agent = await Agent.start('replay', 'replay');
  try {
    const processorAvailable = existsSync(`${repoRoot}libs/pipeline/src/replay.ts`) && existsSync(`${repoRoot}pipelines/sensor-readings.pipeline.json`);
    const modes = [
      { mode: 'ordered', id: 'replay.ordered', name: 'Raw ordered consumer over the same stream (reference)' },
      { mode: 'decode', id: 'replay.decode', name: 'Ordered consumer + decoding every envelope (UTF-8, JSON.parse), no operators: the floor under any pipeline' },
      { mode: 'processor', id: 'replay.pipeline', name: "Bounded replay through the processor's pipeline (replayPipeline: 1-min window stats + anomaly scores per device)" },
      { mode: 'operators', id: 'replay.operators', name: 'Window + anomaly operators composed directly over one ordered consumer' },
    ] as const;
    for (const m of modes) {
      if (m.mode === 'processor' && !processorAvailable) {
        rows.push(skippedRow(m.id, 'replay', m.name, 'events/s', 'not available: no apps/processor replay entry point (libs/pipeline) yet'));
        continue;
      }
      let outputs: Record<string, number> = {};
      const r = await repeat(ctx, `replay (${m.mode})`, () => [agent.proc], async (_i, hooks) => {
        const out = await agent.run<ReplayResult>({ mode: m.mode, natsUrl, stream: space.stream, scheme: space.scheme }, hooks);
        if (out.events !== total) throw new Error(`replay (${m.mode}) saw ${out.events} of ${total} events`);
        outputs = out.outputs;
        return { value: out.rate, seconds: out.seconds };
      });
      rows.push({ id: m.id, scenario: 'replay', name: m.name, unit: 'events/s', ...r, details: { events: total, outputs } });
    }
  } finally {
    await agent.stop();
  }
  return rows;
}
