/**
 * Which partitions a processor replica runs. Partition p belongs to replica `p mod replicas`: a pure function of
 * the configuration, so every replica agrees without talking to the others, and since each partition's results
 * depend only on its own events, any replica count yields the same derived events.
 */
import { PipelineError, PipelineErrorCode } from './errors.ts';

/** The partitions replica `replica` (0-based) of `replicas` owns. */
export function partitionsOf(replica: number, replicas: number, partitions: number): number[] {
  if (!Number.isInteger(replicas) || replicas < 1) throw new PipelineError(PipelineErrorCode.InvalidPipeline, `replicas must be a positive integer, got ${replicas}`);
  if (!Number.isInteger(replica) || replica < 0 || replica >= replicas) {
    throw new PipelineError(PipelineErrorCode.InvalidPipeline, `replica index must be an integer in [0, ${replicas - 1}], got ${replica}`);
  }
  const owned: number[] = [];
  for (let p = replica; p < partitions; p += replicas) owned.push(p);
  return owned;
}

/**
 * A replica index from configuration: a number (`2`), or a name ending in `-<ordinal>` as a Kubernetes
 * StatefulSet gives its pods (`processor-2` → 2), so `PROCESSOR_REPLICA=$(HOSTNAME)` works unchanged. Undefined
 * when the value is neither.
 */
export function replicaIndexOf(value: string): number | undefined {
  const match = /^(?:.*-)?(\d+)$/.exec(value.trim());
  return match ? Number(match[1]) : undefined;
}
