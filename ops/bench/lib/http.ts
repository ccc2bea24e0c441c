/** A minimal keep-alive HTTP POST for load generators (node:http: less client CPU than fetch). */
import type http from 'node:http';
import { request } from 'node:http';

export interface Reply {
  readonly status: number;
  readonly body: string;
}

export function post(agent: http.Agent, url: URL, contentType: string, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

