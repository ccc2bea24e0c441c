import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sensorFixture, sensorPipelineFixture, type FixtureMessage } from '@tideway/pipeline/internal';
import { waitFor } from '@tideway/testing';
import { createTestbed, derivedById, differences, sideOutputs, type Testbed } from './testbed.ts';

/**
 * Crash safety against real NATS: processors killed with SIGKILL at random points while the input is still
 * arriving, restarted (or replaced by a standby), end with exactly the derived events, quarantined and late inputs
 * of an uninterrupted run — nothing missing, nothing twice, nothing different.
 */
describe('processor crash safety', () => {
  let reference: Testbed;
  let fixture: FixtureMessage[];
  let expected: Map<string, string>;
  let expectedQuarantine: string[];
  let expectedLate: string[];

  beforeAll(async () => {
    reference = await createTestbed(sensorPipelineFixture);
    fixture = sensorFixture({ scheme: reference.scheme, devices: 16, readings: 300, seed: 23 });
    await reference.publish(fixture);
    const processor = await reference.start();
    try {
      await reference.caughtUp();
    } finally {
      await processor.close();
    }
    expected = derivedById(await reference.read('DERIVED'));
    expectedQuarantine = sideOutputs(await reference.read('QUARANTINE'));
    expectedLate = sideOutputs(await reference.read('LATE'));
    expect(expected.size).toBeGreaterThan(300);
  });
  afterAll(async () => {
    await reference?.[Symbol.asyncDispose]();
  });

  /** Publishes the fixture in chunks with pauses, so processors work on a stream that is still growing. */
  async function trickle(testbed: Testbed, chunks = 24, pauseMs = 120): Promise<void> {
    const size = Math.ceil(fixture.length / chunks);
    for (let i = 0; i < fixture.length; i += size) {
      await testbed.publish(fixture.slice(i, i + size));
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  async function kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async function expectSameAsReference(testbed: Testbed): Promise<void> {
    const stored = await testbed.read('DERIVED');
    const byId = derivedById(stored);
    expect(byId.size).toBe(stored.length); // no derived event stored twice
    expect(differences(byId, expected)).toEqual([]);
    expect(sideOutputs(await testbed.read('QUARANTINE'))).toEqual(expectedQuarantine);
    expect(sideOutputs(await testbed.read('LATE'))).toEqual(expectedLate);
  }

  it('a processor SIGKILLed at random points and restarted publishes exactly what an uninterrupted run did', async () => {
    await using testbed = await createTestbed(sensorPipelineFixture);
    const input = trickle(testbed, 40, 150);
    const overrides = { PROCESSOR_BATCH: '5', PROCESSOR_MAX_WAIT_MS: '5' };
    const killedAt: number[] = [];
    for (let round = 0; round < 4; round++) {
      const child = testbed.spawn(overrides);
      const before = await testbed.count('DERIVED');
      // spread the kills over the stream: around 1/5, 2/5, 3/5 and 4/5 of the derived events
      const target = Math.max(before + 5, Math.floor((expected.size * (round + 1)) / 5) + Math.floor(Math.random() * 20));
      await waitFor(async () => (await testbed.count('DERIVED')) >= target || child.exitCode !== null, { timeoutMs: 60_000, intervalMs: 5 });
      // anywhere in the batch cycle: processing, publishing, checkpointing or acknowledging
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 30)));
      expect(child.exitCode).toBeNull();
      await kill(child);
      killedAt.push(await testbed.count('DERIVED'));
    }
    await input;
    const last = testbed.spawn(overrides);
    await testbed.caughtUp(90_000);
    const exited = once(last, 'exit');
    last.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0); // graceful shutdown drains and exits cleanly

    expect(killedAt.length).toBe(4);
    expect(killedAt.every((n) => n < expected.size)).toBe(true); // every kill landed mid-stream
    await expectSameAsReference(testbed);
  }, 240_000);

  it('a standby replica takes over the partitions of a killed one, and the results stay identical', async () => {
    await using testbed = await createTestbed(sensorPipelineFixture);
    const input = trickle(testbed);
    const active = testbed.spawn({ PROCESSOR_BATCH: '5', PROCESSOR_MAX_WAIT_MS: '5' });
    await waitFor(async () => (await testbed.count('DERIVED')) > 20, { timeoutMs: 60_000, intervalMs: 10 });
    const standby = await testbed.start({ PROCESSOR_BATCH: '5', PROCESSOR_MAX_WAIT_MS: '5' });
    try {
      const states = (): string[] => standby.runners.map((r) => r.status().state);
      expect(states().every((s) => s === 'standby')).toBe(true);
      await waitFor(async () => (await testbed.count('DERIVED')) > expected.size / 3, { timeoutMs: 60_000, intervalMs: 5 });
      await kill(active);
      await waitFor(() => states().every((s) => s === 'running'), { timeoutMs: 30_000, intervalMs: 50, description: 'standby took over every partition' });
      await input;
      await testbed.caughtUp(90_000);
    } finally {
      await standby.close();
    }
    await expectSameAsReference(testbed);
  }, 240_000);
});
