import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postEvents, sensorEvents, startPlatform, type Platform } from './platform.ts';

const PROBLEM = 'https://tideway.dev/problems/';

describe('bad input is refused with problem+json and nothing is stored', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform({ projector: false });
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  async function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, code: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.type).toBe(PROBLEM + code);
    expect(res.body.status).toBe(status);
    expect(typeof res.body.title).toBe('string');
    expect(await platform.streamMessages()).toBe(0);
  }

  it('malformed JSON', async () => {
    await expectProblem(await postEvents(platform, undefined, { raw: '{"specversion": "1.0", ' }), 400, 'invalid-body');
  });

  it('a JSON scalar instead of an event', async () => {
    await expectProblem(await postEvents(platform, 42), 400, 'invalid-body');
  });

  it('wrong types, naming each bad item and field', async () => {
    const good = sensorEvents(3);
    const batch = [good[0], { ...good[1], data: { device_id: 'x', reading_value: 'hot' } }, { ...good[2], time: 12 }];
    const res = await postEvents(platform, batch);
    await expectProblem(res, 400, 'invalid-event');
    expect(res.body.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ index: 1, pointer: '/1/data/reading_value' }),
        expect.objectContaining({ index: 2, pointer: '/2/time' }),
      ]),
    );
    expect(res.body.issues.some((i: { index: number }) => i.index === 0)).toBe(false);
  });

  it('missing required attributes', async () => {
    const res = await postEvents(platform, { id: 'x', data: {} });
    await expectProblem(res, 400, 'invalid-event');
    const pointers = res.body.issues.map((i: { pointer: string }) => i.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/specversion', '/source', '/type']));
  });

  it('unknown attributes and bad subject tokens in the type', async () => {
    const [event] = sensorEvents(1);
    await expectProblem(await postEvents(platform, { ...event, colour: 'red' }), 400, 'invalid-event');
    await expectProblem(await postEvents(platform, { ...event, type: 'iot.*.reading' }), 400, 'invalid-event');
  });

  it('an oversized body', async () => {
    const huge = 'x'.repeat(9 * 1024 * 1024);
    await expectProblem(await postEvents(platform, undefined, { raw: JSON.stringify({ ...sensorEvents(1)[0], data: huge }) }), 413, 'body-too-large');
  });

  it('an oversized event', async () => {
    const [event] = sensorEvents(1);
    const res = await postEvents(platform, { ...event, type: 'misc.blob', data: 'y'.repeat(300 * 1024) });
    await expectProblem(res, 400, 'invalid-event');
  });

  it('an empty array', async () => {
    await expectProblem(await postEvents(platform, []), 400, 'empty-batch');
  });

  it('an unsupported media type', async () => {
    await expectProblem(await postEvents(platform, sensorEvents(1), { contentType: 'text/plain' }), 415, 'unsupported-media-type');
  });
});
