import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postEvents, sensorEvents, startPlatform, type Platform } from './platform.ts';

const PROBLEM = 'https://tideway.dev/problems/';

/**
 * Batch semantics: a request that cannot be read as a whole (malformed JSON, a scalar, an empty batch, an oversized
 * body or event, a wrong media type) is refused with problem+json and nothing of it is stored. Inside a readable
 * request, each invalid item is quarantined (not stored on EVENTS) and reported per item; valid items are stored.
 * When every item was quarantined the answer is 422 `events-quarantined`.
 */
describe('bad input never reaches the EVENTS stream', () => {
  let platform: Platform;
  let before = 0;
  beforeAll(async () => {
    platform = await startPlatform({ projector: false });
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });
  beforeEach(async () => {
    before = await platform.streamMessages();
  });

  async function expectProblem(
    res: { status: number; headers: Headers; body: any },
    status: number,
    code: string,
  ): Promise<void> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.type).toBe(PROBLEM + code);
    expect(res.body.status).toBe(status);
    expect(typeof res.body.title).toBe('string');
    expect(await platform.streamMessages()).toBe(before);
  }

  it('malformed JSON', async () => {
    await expectProblem(await postEvents(platform, undefined, { raw: '{"specversion": "1.0", ' }), 400, 'invalid-body');
  });

  it('a JSON scalar instead of an event', async () => {
    await expectProblem(await postEvents(platform, 42), 400, 'invalid-body');
  });

  it('wrong types: the valid item is stored, each bad item and field is named and quarantined', async () => {
    const good = sensorEvents(3, 'wt');
    const batch = [good[0], { ...good[1], data: { device_id: 'x', reading_value: 'hot' } }, { ...good[2], time: 12 }];
    const res = await postEvents(platform, batch);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ accepted: 1, created: 1, quarantined: 2 });
    const [first, second, third] = res.body.results;
    expect(first).toMatchObject({ index: 0, status: 'created', id: 'wt-0' });
    expect(second).toMatchObject({
      index: 1,
      status: 'quarantined',
      reason: 'schema',
      issues: [expect.objectContaining({ index: 1, pointer: '/1/data/reading_value' })],
    });
    expect(third).toMatchObject({
      index: 2,
      status: 'quarantined',
      reason: 'envelope',
      issues: [expect.objectContaining({ index: 2, pointer: '/2/time' })],
    });
    expect(await platform.streamMessages()).toBe(before + 1);
  });

  it('missing required attributes: 422, every issue named, nothing on EVENTS', async () => {
    const res = await postEvents(platform, { id: 'x', data: {} });
    await expectProblem(res, 422, 'events-quarantined');
    const pointers = res.body.issues.map((i: { pointer: string }) => i.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/specversion', '/source', '/type']));
    expect(res.body.results[0]).toMatchObject({ status: 'quarantined', quarantine_id: expect.stringMatching(/^\d+$/) });
  });

  it('unknown attributes and bad subject tokens in the type', async () => {
    const [event] = sensorEvents(1);
    await expectProblem(await postEvents(platform, { ...event, colour: 'red' }), 422, 'events-quarantined');
    await expectProblem(await postEvents(platform, { ...event, type: 'iot.*.reading' }), 422, 'events-quarantined');
  });

  it('an oversized body', async () => {
    const huge = 'x'.repeat(9 * 1024 * 1024);
    await expectProblem(
      await postEvents(platform, undefined, { raw: JSON.stringify({ ...sensorEvents(1)[0], data: huge }) }),
      413,
      'body-too-large',
    );
  });

  it('an oversized event refuses the whole request', async () => {
    const [event, other] = sensorEvents(2, 'big');
    const res = await postEvents(platform, [other, { ...event, type: 'misc.blob', data: 'y'.repeat(300 * 1024) }]);
    await expectProblem(res, 413, 'event-too-large');
    expect(res.body.issues).toEqual([expect.objectContaining({ index: 1, pointer: '/1' })]);
  });

  it('an empty array', async () => {
    await expectProblem(await postEvents(platform, []), 400, 'empty-batch');
  });

  it('an unsupported media type', async () => {
    await expectProblem(
      await postEvents(platform, sensorEvents(1), { contentType: 'text/plain' }),
      415,
      'unsupported-media-type',
    );
  });
});
