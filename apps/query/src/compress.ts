import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { MiddlewareHandler } from 'hono';

/** Types worth compressing; event streams are excluded (compression buffers frames and delays them). */
const COMPRESSIBLE = /^(text\/(?!event-stream)|application\/(json|problem\+json|x-ndjson|javascript)|text\/csv)/i;
const MIN_BYTES = 1024;
const BROTLI = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } };
const GZIP = { level: 6 };
const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

function setEncoding(headers: Headers, encoding: string): void {
  headers.set('content-encoding', encoding);
  if (!/accept-encoding/i.test(headers.get('vary') ?? '')) headers.append('vary', 'Accept-Encoding');
}

function preferred(acceptEncoding: string | undefined): 'br' | 'gzip' | undefined {
  const accepted = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
    accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const br = accepted.get('br') ?? 0;
  const gzip = accepted.get('gzip') ?? accepted.get('*') ?? 0;
  if (br > 0 && br >= gzip) return 'br';
  if (gzip > 0) return 'gzip';
  return undefined;
}

/**
 * Response compression with `br` (preferred when the client accepts it) or `gzip`, for JSON, CSV, NDJSON and
 * text bodies; streamed bodies are compressed as they stream. Hono's own `compress()` has no Brotli.
 */
export function compression(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const res = c.res;
    const encoding = preferred(c.req.header('accept-encoding'));
    const type = res.headers.get('content-type') ?? '';
    const length = res.headers.get('content-length');
    if (!encoding || !res.body || c.req.method === 'HEAD' || res.headers.has('content-encoding') || !COMPRESSIBLE.test(type) || (length !== null && Number(length) < MIN_BYTES)) {
      return;
    }
    // JSON is built in memory anyway: compress it in one go (and leave small answers alone). Exports stream.
    if (/json|javascript/i.test(type) && !/x-ndjson/i.test(type)) {
      const bytes = Buffer.from(await res.arrayBuffer());
      res.headers.delete('content-length');
      if (bytes.length < MIN_BYTES) {
        c.res = new Response(bytes, { status: res.status, headers: res.headers });
        return;
      }
      const packed = encoding === 'br' ? await brotli(bytes, BROTLI) : await gzip(bytes, GZIP);
      setEncoding(res.headers, encoding);
      c.res = new Response(packed, { status: res.status, headers: res.headers });
      return;
    }
    const compressor = encoding === 'br' ? zlib.createBrotliCompress(BROTLI) : zlib.createGzip(GZIP);
    const body = Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>).pipe(compressor);
    // Hono copies the previous response's headers onto a new one, so edit them in place.
    res.headers.delete('content-length');
    setEncoding(res.headers, encoding);
    c.res = new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, { status: res.status, headers: res.headers });
  };
}
