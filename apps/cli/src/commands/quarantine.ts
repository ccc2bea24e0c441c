import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

export const QUARANTINE_USAGE = `usage: tideway quarantine <list | show <id> | resubmit <id> [--file <corrected.json>] | reject <id> --reason <text>>

  list      quarantined items of the key's tenant: [--status open|resubmitted|rejected] [--reason r] [--limit n] [--after id]
  show      one item: the payload as sent, the request headers, the schema version and the issues
  resubmit  publishes the corrected event (--file, a CloudEvent JSON) — or the original as it is, e.g. after a schema
            change — linked to the item (NATS header Tw-Corrects); an item is resolved once
  reject    closes the item with a reason

Uses the gateway's API: --url (default $TIDEWAY_INGEST_URL or http://127.0.0.1:8080), --key (default $TIDEWAY_API_KEY).`;

/** What the CLI reads of the quarantine API's answers. */
interface ItemView {
  readonly id: string;
  readonly status: string;
  readonly reason: string;
  readonly channel: string;
  readonly received_at: string;
  readonly issues?: readonly { readonly pointer: string; readonly message: string }[];
}
interface ApiBody {
  readonly detail?: string;
  readonly items?: readonly ItemView[];
  readonly next_after?: string | null;
  readonly resolution?: { readonly event: { readonly id: string; readonly seq: number; readonly duplicate: boolean } };
}

/** `tideway quarantine …`. */
export async function quarantineCommand(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      status: { type: 'string' },
      reason: { type: 'string' },
      limit: { type: 'string' },
      after: { type: 'string' },
      file: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (!sub || !['list', 'show', 'resubmit', 'reject'].includes(sub)) {
    console.error(QUARANTINE_USAGE);
    return 2;
  }
  const base = (values.url ?? env['TIDEWAY_INGEST_URL'] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const key = values.key ?? env['TIDEWAY_API_KEY'];
  const call = async (
    method: string,
    path: string,
    body?: string,
  ): Promise<{ status: number; body: ApiBody | undefined }> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as ApiBody) : undefined };
  };
  const fail = (res: { status: number; body: ApiBody | undefined }): number => {
    console.error(`tideway quarantine: ${res.status} ${res.body?.detail ?? JSON.stringify(res.body)}`);
    return 1;
  };

  if (sub === 'list') {
    const params = new URLSearchParams();
    for (const name of ['status', 'reason', 'limit', 'after'] as const)
      if (values[name]) params.set(name, values[name]);
    const res = await call('GET', `/v1/quarantine?${params.toString()}`);
    if (res.status !== 200) return fail(res);
    if (values.json) console.log(JSON.stringify(res.body, null, 2));
    else {
      for (const item of res.body?.items ?? []) {
        const issue = item.issues?.[0] ? `${item.issues[0].pointer} ${item.issues[0].message}` : '';
        console.log(
          `${String(item.id).padEnd(8)} ${String(item.status).padEnd(12)} ${String(item.reason).padEnd(12)} ${String(item.channel).padEnd(8)} ${item.received_at}  ${issue}`,
        );
      }
      if (res.body?.next_after) console.error(`more: --after ${res.body.next_after}`);
    }
    return 0;
  }
  const [id] = positionals;
  if (!id) {
    console.error(QUARANTINE_USAGE);
    return 2;
  }
  if (sub === 'show') {
    const res = await call('GET', `/v1/quarantine/${encodeURIComponent(id)}`);
    if (res.status !== 200) return fail(res);
    console.log(JSON.stringify(res.body, null, 2));
    return 0;
  }
  if (sub === 'resubmit') {
    const body = values.file ? await readFile(values.file, 'utf8') : '';
    const res = await call('POST', `/v1/quarantine/${encodeURIComponent(id)}/resubmit`, body);
    if (res.status !== 200) return fail(res);
    const event = res.body?.resolution?.event;
    if (event === undefined) return fail(res);
    console.log(
      `resubmitted ${id} as event ${event.id} (seq ${event.seq}${event.duplicate ? ', already stored' : ''})`,
    );
    return 0;
  }
  if (!values.reason) {
    console.error('tideway quarantine reject: --reason is required');
    return 2;
  }
  const res = await call(
    'POST',
    `/v1/quarantine/${encodeURIComponent(id)}/reject`,
    JSON.stringify({ reason: values.reason }),
  );
  if (res.status !== 200) return fail(res);
  console.log(`rejected ${id}: ${values.reason}`);
  return 0;
}
