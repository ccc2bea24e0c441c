import { createHash } from 'node:crypto';
import type { Client as MinioClient } from 'minio';
import { ErrorCode, TidewayError } from '@tideway/events';

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Puts an object in one request with its size known and waits for the server's answer, which is the
 * confirmation that the object is durably written (S3 is read-after-write consistent). When the ETag is a
 * plain MD5 (a single-part upload), it must match the bytes sent; the request itself is signed over the
 * payload's SHA-256, so the server has already rejected a body damaged on the way.
 */
export async function putObjectConfirmed(s3: MinioClient, bucket: string, key: string, bytes: Uint8Array, sha256: string): Promise<void> {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info = await s3.putObject(bucket, key, body, body.length, {
    'Content-Type': 'application/vnd.apache.parquet',
    'X-Amz-Meta-Sha256': sha256,
  });
  const etag = info.etag.replaceAll('"', '');
  if (/^[0-9a-f]{32}$/i.test(etag)) {
    const md5 = createHash('md5').update(body).digest('hex');
    if (md5 !== etag.toLowerCase()) {
      throw new TidewayError(ErrorCode.ArchiveIntegrity, `object ${key} was stored with ETag ${etag}, expected MD5 ${md5}`, { key });
    }
  }
}

/** Reads a whole object into memory (cold objects are bounded by the archive's `maxObjectBytes`). */
export async function getObjectBytes(s3: MinioClient, bucket: string, key: string): Promise<Buffer> {
  const stream = await s3.getObject(bucket, key);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
