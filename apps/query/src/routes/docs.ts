import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';

/**
 * The Scalar bundle, read from node_modules once: the reference page must work offline, so the page loads it from
 * this service instead of a CDN.
 */
function scalarBundle(): Buffer {
  const entry = createRequire(import.meta.url).resolve('@scalar/api-reference');
  return readFileSync(path.join(path.dirname(entry), 'browser', 'standalone.js'));
}

/** `/docs`: an interactive API reference (Scalar) over `/openapi.json`, with no request leaving the service. */
export function docsRoutes(): Hono {
  const app = new Hono();
  let bundle: Buffer | undefined;
  app.get('/docs/scalar.js', (c) => {
    bundle ??= scalarBundle();
    return c.body(new Uint8Array(bundle), 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
    });
  });
  app.get(
    '/docs',
    Scalar({
      url: '/openapi.json',
      cdn: '/docs/scalar.js',
      pageTitle: 'Tideway query API',
      withDefaultFonts: false,
      telemetry: false,
    }),
  );
  return app;
}
