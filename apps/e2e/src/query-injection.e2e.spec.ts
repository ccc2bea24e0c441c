import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from './platform.ts';
import { post, projected, readings, seedDerived } from './query-fixtures.ts';

/** Classic and not-so-classic SQL injection payloads, plus characters that break naive quoting. */
const HOSTILE = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "'; DROP TABLE events; --",
  '"; DROP TABLE events; --',
  "x') OR ('a'='a",
  '1; SELECT pg_sleep(5)',
  "') UNION SELECT seq, tenant, attributes, data FROM events --",
  '$1',
  '%',
  '_',
  '*',
  '\\',
  "\\'",
  '\u0000',
  '../../etc/passwd',
  'data.x::text',
  'current_setting(\'search_path\')',
  '(select 1)',
  "a' collate \"C\" > '",
  'tenant',
];

const SEED_EVENTS = 150;

describe('injection attempts in every filter parameter are harmless', () => {
  let platform: Platform;
  let seq: number;
  const T0 = Date.UTC(2026, 4, 1);
  const from = new Date(T0).toISOString();
  const to = new Date(T0 + 86_400_000).toISOString();

  beforeAll(async () => {
    platform = await startPlatform({ env: { TIDEWAY_AUTH: 'off', PROJECTIONS: 'warm' } });
    seq = await post(platform, readings(SEED_EVENTS, 'inj', T0));
    await projected(platform, seq);
    // another tenant's data must never leak into the default tenant's answers
    await platform.store.sql`insert into events (seq, tenant, id, source, type, subject, time, recorded_time, partition_key, attributes, data)
      select seq + 100000, 'other', id, source, type, subject, time, recorded_time, partition_key, jsonb_set(attributes, '{tenant}', '"other"'), data from events where tenant = 'default'`;
    await seedDerived(platform);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  /** Every (path, parameter) a caller controls, with a base query that is otherwise valid. */
  const TARGETS: { path: string; base: Record<string, string>; params: string[] }[] = [
    { path: '/v1/events', base: { from, to, limit: '1000' }, params: ['type', 'source', 'subject', 'from', 'to', 'order', 'limit', 'cursor', 'tenant', 'min_seq', 'data.sensor_id', 'data.name'] },
    { path: '/v1/events/{x}', base: {}, params: ['source', 'tenant'] },
    { path: '/v1/entities/device/{x}', base: {}, params: ['tenant'] },
    { path: '/v1/entities/{x}/inj-d1/history', base: {}, params: ['from', 'to', 'cursor', 'order'] },
    { path: '/v1/aggregates', base: { from, to, fn: 'count,avg', value: 'data.reading_value' }, params: ['bucket', 'fn', 'value', 'group_by', 'type', 'subject', 'data.name'] },
    { path: '/v1/aggregates/windows', base: { pipeline: 'sensor-stats' }, params: ['pipeline', 'stage', 'key', 'from', 'to', 'final', 'cursor'] },
    { path: '/v1/anomalies', base: {}, params: ['pipeline', 'key', 'from', 'to', 'min_score', 'cursor'] },
    { path: '/v1/alerts', base: {}, params: ['pipeline', 'key', 'status', 'cursor'] },
    { path: '/v1/exports/events', base: { from, to }, params: ['type', 'subject', 'format', 'data.name'] },
    { path: '/v1/catalog/event-types/{x}', base: {}, params: ['tenant'] },
  ];

  async function probe(path: string, query: Record<string, string>, extraKey?: string): Promise<{ status: number; type: string; body: string }> {
    const search = new URLSearchParams(query);
    const res = await fetch(`${platform.queryUrl}${path}?${search.toString()}${extraKey ? `&${extraKey}` : ''}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  }

  function harmless(r: { status: number; type: string; body: string }, where: string): void {
    // rejected with a problem, or answered; never a server error, never another tenant's rows
    expect([200, 400, 404], where).toContain(r.status);
    if (r.status !== 200) expect(r.type, where).toContain('application/problem+json');
    expect(r.body, where).not.toContain('"tenant":"other"');
  }

  it('in every parameter of every endpoint, and in path segments', async () => {
    for (const target of TARGETS) {
      for (const hostile of HOSTILE) {
        const path = target.path.replace('{x}', encodeURIComponent(hostile));
        for (const param of target.params) {
          const r = await probe(path.includes('{') ? target.path : path, { ...target.base, [param]: hostile });
          harmless(r, `${path} ${param}=${JSON.stringify(hostile)}`);
          if (r.status === 200 && param === 'subject' && target.path === '/v1/events') {
            expect(JSON.parse(r.body).items, 'matched literally: no subject is spelled like that').toEqual([]);
          }
        }
        // hostile payload predicate: in the field name and in the operand of every operator
        if (target.params.some((p) => p.startsWith('data.'))) {
          harmless(await probe(path, target.base, `${encodeURIComponent(`data.${hostile}`)}=eq.1`), `${path} data.${hostile}`);
          for (const op of ['eq', 'neq', 'gt', 'lt', 'like', 'in']) {
            const r = await probe(path, { ...target.base, 'data.name': `${op}.${hostile}` });
            harmless(r, `${path} data.name=${op}.${hostile}`);
          }
        }
      }
    }
    // the store is intact and the tenant still sees exactly its own events
    const [row] = await platform.store.sql<{ n: number }[]>`select count(*)::int as n from events where tenant = 'default'`;
    expect(row!.n).toBe(SEED_EVENTS);
    const all = JSON.parse((await probe('/v1/events', { from, to, limit: '1000' })).body) as { items: unknown[] };
    expect(all.items).toHaveLength(SEED_EVENTS);
  }, 180_000);

  it('matches hostile text literally: a subject or payload value that is an injection string is found as written', async () => {
    const nasty = "o'brien\"; DROP TABLE events; --%_*\\";
    const s = await post(platform, [{ ...readings(1, 'lit', T0 + 3600_000)[0]!, subject: nasty, data: { name: nasty, device_id: 'lit', reading_value: 1 } }]);
    await projected(platform, s);
    const bySubject = JSON.parse((await probe('/v1/events', { from, to, subject: nasty })).body) as { items: { event: { id: string } }[] };
    expect(bySubject.items.map((i) => i.event.id)).toEqual(['lit-0']);
    const byPayload = JSON.parse((await probe('/v1/events', { from, to, 'data.name': `eq.${nasty}` })).body) as { items: { event: { id: string } }[] };
    expect(byPayload.items.map((i) => i.event.id)).toEqual(['lit-0']);
    const like = JSON.parse((await probe('/v1/events', { from, to, 'data.name': 'like.o\'brien"; DROP*' })).body) as { items: { event: { id: string } }[] };
    expect(like.items.map((i) => i.event.id)).toEqual(['lit-0']);
  });

  it('survives random strings in every parameter (property)', async () => {
    const params = ['type', 'source', 'subject', 'from', 'to', 'order', 'limit', 'cursor', 'tenant', 'min_seq', 'data.x', 'data.name', 'bucket', 'group_by'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v1/events', '/v1/aggregates', '/v1/exports/events'), fc.constantFrom(...params), fc.string({ unit: 'binary', maxLength: 40 }), async (path, param, value) => {
        const r = await probe(path, { from, to, [param]: value });
        harmless(r, `${path} ${param}=${JSON.stringify(value)}`);
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});
