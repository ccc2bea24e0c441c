import { ErrorCode, TidewayError } from '@tideway/events';
import { bodyText, isJsonMediaType, parseJsonText, parseMediaType } from './request.ts';

/**
 * How an event's `data` is represented, decided by its `datacontenttype` alone:
 *
 * - `json`: JSON media types (`application/json`, `text/json`, `*+json`) and an absent content type — `data` is the
 *   parsed JSON value;
 * - `text`: `text/*` and XML media types in UTF-8 — `data` is the text;
 * - `base64`: everything else (`application/octet-stream`, `image/png`, `application/protobuf`, …) — `data` is the
 *   standard base64 of the bytes, the counterpart of CloudEvents' `data_base64`.
 *
 * The envelope is strict and has no `data_base64` attribute, so this rule replaces it: a consumer that needs the
 * bytes calls `dataEncodingOf(event.datacontenttype)` and decodes base64 when it says so.
 */
export type DataEncoding = 'json' | 'text' | 'base64';

/** The representation of `data` for a content type (see {@link DataEncoding}). */
export function dataEncodingOf(contentType: string | undefined): DataEncoding {
  const media = parseMediaType(contentType);
  if (media === undefined || isJsonMediaType(media.type)) return 'json';
  const charset = media.params['charset']?.toLowerCase();
  const utf8 = charset === undefined || charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii';
  const textual = media.type.startsWith('text/') || media.type === 'application/xml' || media.type.endsWith('+xml');
  return textual && utf8 ? 'text' : 'base64';
}

/**
 * Turns raw payload bytes into `data` for a content type, following {@link dataEncodingOf}.
 *
 * @throws TidewayError `invalid-body` when a JSON payload is not JSON, or a text payload not UTF-8.
 */
export function decodeData(
  bytes: Uint8Array | string,
  contentType: string | undefined,
  what = 'request body',
): unknown {
  switch (dataEncodingOf(contentType)) {
    case 'json': {
      const text = bodyText(bytes);
      if (text === undefined) throw new TidewayError(ErrorCode.InvalidBody, `${what} is not valid UTF-8`);
      try {
        return parseJsonText(text);
      } catch (error) {
        throw new TidewayError(
          ErrorCode.InvalidBody,
          `${what} is not valid JSON (content type ${contentType ?? 'absent'}): ${(error as Error).message}`,
          {},
          { cause: error },
        );
      }
    }
    case 'text': {
      const text = bodyText(bytes);
      if (text === undefined)
        throw new TidewayError(ErrorCode.InvalidBody, `${what} is not valid UTF-8 (content type ${contentType})`);
      return text;
    }
    case 'base64':
      return Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('base64');
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether a string is canonical, padded standard base64. */
export function isBase64(value: string): boolean {
  return BASE64.test(value);
}
