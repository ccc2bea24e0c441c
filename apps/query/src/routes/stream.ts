import { createRoute, z } from '@hono/zod-openapi';
import { ErrorCode, EventTypeSchema, TenantSchema, TidewayError, eventFilter, type EventEnvelope, type SubjectScheme } from '@tideway/events';
import { matchesPredicate, type PayloadPredicate } from '@tideway/event-query';
import { tenantOf } from '../context.ts';
import type { QueryDeps } from '../deps.ts';
import type { LiveTailSource, TailSubscription } from '../live-tail.ts';
import { createApi, problemResponses } from '../openapi.ts';
import { predicatesOf, predicatesParameter, withPredicates } from './events.ts';

export interface LiveTailOptions {
  readonly heartbeatMs: number;
  /** Frames queued for one client at most. */
  readonly buffer: number;
  /** A client whose queue stays full this long is disconnected. */
  readonly slowClientMs: number;
  readonly maxClients: number;
}

const encoder = new TextEncoder();

/**
 * An SSE body fed from a subscription. Frames go through a queue of at most `buffer` frames: while it is full
 * the subscription is not read (NATS flow control holds the rest on the server), and a client that leaves it
 * full for `slowClientMs` is disconnected, so one slow reader never holds more than its buffer in memory.
 */
export function sseBody(
  subscription: TailSubscription,
  accept: (event: EventEnvelope) => boolean,
  options: LiveTailOptions,
  hooks: { onClose: (reason: string) => void; firstFrame: string },
): ReadableStream<Uint8Array> {
  let closed = false;
  let room: (() => void) | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const close = (reason: string, error?: boolean): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    room?.();
    void subscription.close().catch(() => {});
    hooks.onClose(reason);
    try {
      if (error) controller.error(new Error(reason));
      else controller.close();
    } catch {
      /* already cancelled */
    }
  };
  const waitForRoom = (): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        room = undefined;
        resolve(false);
      }, options.slowClientMs);
      room = () => {
        clearTimeout(timer);
        room = undefined;
        resolve(true);
      };
    });
  let lastWrite = Date.now();
  const send = (frame: string): void => {
    controller.enqueue(encoder.encode(frame));
    lastWrite = Date.now();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        send(hooks.firstFrame);
        heartbeat = setInterval(() => {
          if (!closed && Date.now() - lastWrite >= options.heartbeatMs / 2 && (controller.desiredSize ?? 0) > 0) send(`: heartbeat ${new Date().toISOString()}\n\n`);
        }, options.heartbeatMs);
        void (async () => {
          try {
            for await (const m of subscription.messages) {
              if (closed) return;
              let event: EventEnvelope;
              try {
                event = m.json() as EventEnvelope;
              } catch {
                continue;
              }
              if (!accept(event)) continue;
              if ((controller.desiredSize ?? 0) <= 0 && !(await waitForRoom())) {
                if (!closed) close('slow client: its buffer stayed full', true);
                return;
              }
              if (closed) return;
              send(`id: ${m.seq}\ndata: ${JSON.stringify({ seq: m.seq, event })}\n\n`);
            }
            close('subscription ended');
          } catch (error) {
            close(`subscription failed: ${(error as Error).message}`, true);
          }
        })();
      },
      pull() {
        room?.();
      },
      cancel() {
        close('client disconnected');
      },
    },
    new CountQueuingStrategy({ highWaterMark: options.buffer }),
  );
}

/** `GET /v1/stream`: the live tail as Server-Sent Events. */
export function streamRoutes(deps: QueryDeps, scheme: SubjectScheme, live: LiveTailSource | undefined, options: LiveTailOptions) {
  const { config } = deps;
  const api = createApi();
  let clients = 0;

  const route = createRoute({
    method: 'get',
    path: '/v1/stream',
    operationId: 'streamEvents',
    tags: ['events'],
    summary: 'Live tail (Server-Sent Events)',
    description:
      'New events as they are stored, as `text/event-stream`: one `data:` frame per event (`{"seq","event"}`) with `id:` = stream sequence, and comment heartbeats. Reconnect with `Last-Event-ID` (or `last_event_id`) to resume after the last event received, missing nothing. A client that stops reading is disconnected.',
    request: {
      query: withPredicates({
        tenant: TenantSchema.optional(),
        type: EventTypeSchema.optional().openapi({ description: 'Only this event type (a subject filter on the stream)' }),
        source: z.string().max(512).optional(),
        subject: z.string().max(512).optional(),
        last_event_id: z.coerce.number().int().min(0).optional().openapi({ type: 'integer', description: 'Resume after this stream sequence (as the Last-Event-ID header)' }),
      }),
      headers: z.object({
        'last-event-id': z.string().regex(/^\d{1,16}$/).optional().openapi({ description: 'Resume after this stream sequence' }),
      }),
    },
    parameters: [predicatesParameter],
    responses: {
      200: {
        description: 'An endless event stream',
        headers: z.object({ 'Tideway-Seq': z.string().openapi({ description: 'The stream’s last sequence when the tail started' }) }),
        content: { 'text/event-stream': { schema: z.string().openapi({ description: 'SSE frames' }) } },
      },
      ...problemResponses,
    },
  });

  api.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const h = c.req.valid('header');
    if (!live || !live.connected()) throw new TidewayError(ErrorCode.StoreUnavailable, 'the event log is not reachable', { retryAfterSeconds: 2 });
    if (clients >= options.maxClients) throw new TidewayError(ErrorCode.Overloaded, 'too many live-tail clients', { retryAfterSeconds: 5 });
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const predicates: readonly PayloadPredicate[] = predicatesOf(q) ?? [];
    const resumeAfter = h['last-event-id'] !== undefined ? Number(h['last-event-id']) : q.last_event_id;
    const last = await live.lastSeq();
    const subscription = await live.subscribe(eventFilter(scheme, { tenant, ...(q.type === undefined ? {} : { type: q.type }) }), resumeAfter === undefined ? undefined : resumeAfter + 1);
    clients++;
    const accept = (e: EventEnvelope): boolean =>
      e.tenant === tenant &&
      (q.source === undefined || e.source === q.source) &&
      (q.subject === undefined || e.subject === q.subject) &&
      predicates.every((p) => matchesPredicate(e.data, p));
    const body = sseBody(subscription, accept, options, {
      firstFrame: `retry: 2000\n: tideway live tail from ${resumeAfter === undefined ? `new events after ${last}` : `after ${resumeAfter}`}\n\n`,
      onClose: () => {
        clients--;
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'tideway-seq': String(last),
      },
    });
  });

  return { api, clients: () => clients };
}
