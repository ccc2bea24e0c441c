import { Client } from 'minio';

export interface S3Settings {
  /** e.g. `http://127.0.0.1:9000` or `https://s3.eu-west-1.amazonaws.com`. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** Multipart part size; leave unset for real S3/MinIO (the client's default). */
  readonly partSize?: number;
}

/** A path-style `minio` client for any S3-compatible endpoint (AWS S3, MinIO, s3rver). */
export function s3Client(settings: S3Settings): Client {
  const url = new URL(settings.endpoint);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname,
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    region: settings.region,
    pathStyle: true,
    ...(settings.partSize ? { partSize: settings.partSize } : {}),
  });
}
