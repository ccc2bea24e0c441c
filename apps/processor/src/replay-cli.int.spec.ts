import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, WindowResultData } from '@tideway/events';
import { sensorFixture, sensorPipelineFixture } from '@tideway/pipeline/internal';
import { createTestbed, derivedById, differences, repoRoot, type Testbed } from './testbed.ts';

const run = promisify(execFile);

/** `tideway process replay` (batch mode) over the range a live processor already handled. */
describe('tideway process replay', () => {
  let testbed: Testbed;
  let dir: string;
  let live: Map<string, string>;
  beforeAll(async () => {
    testbed = await createTestbed(sensorPipelineFixture);
    dir = await mkdtemp(join(tmpdir(), 'tideway-replay-'));
    await testbed.publish(sensorFixture({ scheme: testbed.scheme, devices: 10, readings: 200, seed: 31 }));
    const processor = await testbed.start();
    try {
      await testbed.caughtUp();
    } finally {
      await processor.close();
    }
    live = derivedById(await testbed.read('DERIVED'));
  });
  afterAll(async () => {
    await testbed?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, ['--import', 'tsx', `${repoRoot}apps/cli/src/main.ts`, 'process', ...args], { env: testbed.env, cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });

  it('writes the live run’s derived events plus the flushed windows, reports counts, and publishes only what is new', async () => {
    const out = join(dir, 'replay.ndjson');
    const { stdout } = await cli('replay', '--pipeline', 'sensor-readings', '--from', '1', '--out', out, '--publish');
    const report = JSON.parse(stdout) as { totals: { messages: number; windowResults: number }; range: { fromSeq: number; toSeq: number }; published: number; duplicates: number };
    const lines = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; event?: EventEnvelope; reason?: string });
    const derived = lines.flatMap((l) => (l.kind === 'derived' ? [l.event!] : []));
    const flushed = derived.filter((e) => (e.data as WindowResultData).trigger === 'end-of-stream');
    const ordinary = new Map(derived.filter((e) => !flushed.includes(e)).map((e) => [e.id, JSON.stringify(e)] as const));
    expect(differences(ordinary, live)).toEqual([]);
    expect(flushed.length).toBeGreaterThan(0);
    expect(report.totals.messages).toBe(report.range.toSeq);
    expect(report.totals.windowResults).toBe(derived.filter((e) => e.type === 'tideway.window.result').length);
    expect(lines.some((l) => l.kind === 'invalid' && l.reason === 'non-numeric-value')).toBe(true);
    // published like the live processor: what it stored already is a duplicate, only the flushed windows are new
    const sideOutputs = (await testbed.count('QUARANTINE')) + (await testbed.count('LATE'));
    expect(lines.length).toBe(live.size + flushed.length + sideOutputs);
    expect(report.duplicates).toBe(live.size + sideOutputs);
    expect(report.published).toBe(flushed.length);
    expect(await testbed.count('DERIVED')).toBe(live.size + flushed.length);
  });

  it('shows the checkpoint of every partition', async () => {
    const { stdout } = await cli('status');
    const rows = stdout.trim().split('\n');
    expect(rows).toHaveLength(8);
    expect(rows[0]).toMatch(/^sensor-readings\s+partition\s+0\s+checkpoint seq \d+/);
  });

  it('rejects an unknown pipeline and a bad range bound', async () => {
    await expect(cli('replay', '--pipeline', 'nope')).rejects.toThrow(/no pipeline named nope/);
    await expect(cli('replay', '--pipeline', 'sensor-readings', '--from', 'yesterday')).rejects.toThrow(/neither a stream sequence nor an RFC 3339 time/);
  });
});
