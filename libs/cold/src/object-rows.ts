import { ErrorCode, TidewayError } from '@tideway/events';
import type { ResolvedArchive } from './archive.ts';
import type { ManifestEntry } from './manifest.ts';
import { getObjectBytes, sha256Hex } from './objects.ts';
import { decodeParquet, decodeSeqs, type ColdRow } from './parquet.ts';

/**
 * Whether an object can still change: a projection object whose window the checkpoint has not passed is
 * rewritten in place as its window fills (and a write that crashed before its commit may have left rows
 * beyond the manifest's `seq_max` in it). Every other object is immutable.
 */
export function isGrowing(entry: ManifestEntry, checkpoint: number): boolean {
  return entry.origin === 'projection' && entry.windowEnd !== null && entry.windowEnd > checkpoint;
}

async function fetchVerified(archive: ResolvedArchive, entry: ManifestEntry, checkpoint: number): Promise<{ bytes: Buffer; exact: boolean }> {
  let bytes: Buffer;
  try {
    bytes = await getObjectBytes(archive.store.s3, archive.store.bucket, entry.key);
  } catch (cause) {
    throw new TidewayError(ErrorCode.ArchiveIntegrity, `cold object ${entry.key} of the manifest cannot be read`, { key: entry.key }, { cause });
  }
  const exact = sha256Hex(bytes) === entry.sha256;
  if (!exact && !isGrowing(entry, checkpoint)) {
    throw new TidewayError(ErrorCode.ArchiveIntegrity, `cold object ${entry.key} does not match the SHA-256 of its manifest row`, { key: entry.key });
  }
  return { bytes, exact };
}

function checkCount(entry: ManifestEntry, count: number): void {
  if (count !== entry.rowCount) {
    throw new TidewayError(ErrorCode.ArchiveIntegrity, `cold object ${entry.key} holds ${count} rows in its manifest range, the manifest says ${entry.rowCount}`, {
      key: entry.key,
    });
  }
}

/**
 * Reads the rows an object holds as of its manifest row, verified: an immutable object must match its
 * SHA-256; a growing one (see {@link isGrowing}) must hold exactly the manifest's row count within the
 * manifest's sequence range, and rows beyond it are dropped.
 */
export async function readObjectRows(archive: ResolvedArchive, entry: ManifestEntry, checkpoint: number): Promise<ColdRow[]> {
  const { bytes, exact } = await fetchVerified(archive, entry, checkpoint);
  const rows = await decodeParquet(bytes);
  const committed = exact ? rows : rows.filter((r) => r.seq >= entry.seqMin && r.seq <= entry.seqMax);
  checkCount(entry, committed.length);
  return committed;
}

/** The sequences an object holds as of its manifest row, verified as by {@link readObjectRows}. */
export async function readObjectSeqs(archive: ResolvedArchive, entry: ManifestEntry, checkpoint: number): Promise<number[]> {
  const { bytes, exact } = await fetchVerified(archive, entry, checkpoint);
  const seqs = await decodeSeqs(bytes);
  const committed = exact ? seqs : seqs.filter((s) => s >= entry.seqMin && s <= entry.seqMax);
  checkCount(entry, committed.length);
  return committed;
}
