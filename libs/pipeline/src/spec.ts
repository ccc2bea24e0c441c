/**
 * Pipelines as code: each pipeline is a JSON document (`pipelines/<name>.pipeline.json`) validated by one zod
 * schema, or the same object built in TypeScript. A pipeline reads one event type from the EVENTS stream, partition
 * by partition, and fans the validated events out to its stages: event-time window aggregations and/or anomaly
 * scoring with alerts.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EventTypeSchema, TenantSchema } from '@tideway/events';
import { CombinedDetector, DEFAULT_DETECTOR_OPTIONS, isOperatorError, type CombinedDetectorOptions } from '@tideway/operators';
import { PipelineError, PipelineErrorCode } from './errors.ts';

/** Pipeline and stage names: they appear in consumer names, KV keys, subjects and derived-event sources. */
export const PipelineNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,47}$/, 'names must be 1-48 chars of [a-z0-9-], starting with a letter or digit');

/** A dot path into the stored envelope: `partitionkey`, `subject`, `data.device_id`, `data.reading.value`. */
export const FieldPathSchema = z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'field paths are dot-separated names, e.g. "data.reading_value"');

const positiveMs = z.number().int().positive();
const nonNegativeMs = z.number().int().min(0);

/** Window shapes, as `tumbling(sizeMs)`, `hopping(sizeMs, slideMs)` and `session(gapMs)` of `@tideway/operators`. */
export const WindowShapeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tumbling'), sizeMs: positiveMs, offsetMs: z.number().int().default(0) }).strict(),
  z
    .object({ type: z.literal('hopping'), sizeMs: positiveMs, slideMs: positiveMs, offsetMs: z.number().int().default(0) })
    .strict()
    .refine((w) => w.slideMs <= w.sizeMs, 'slideMs must not exceed sizeMs'),
  z.object({ type: z.literal('session'), gapMs: positiveMs }).strict(),
]);

/** The aggregates a declared window stage can compute over the pipeline's numeric value. */
export const AggregateNameSchema = z.enum(['stats', 'count', 'sum', 'min', 'max', 'mean', 'variance', 'quantiles']);
export type AggregateName = z.infer<typeof AggregateNameSchema>;

/** One window aggregation: emits a `tideway.window.result` per key and window. */
export const WindowStageSchema = z
  .object({
    name: PipelineNameSchema,
    window: WindowShapeSchema,
    aggregate: AggregateNameSchema.default('stats'),
  })
  .strict();
export type WindowStage = z.infer<typeof WindowStageSchema>;

/** Anomaly scoring per key: `tideway.anomaly.detected` at or above `threshold`, `tideway.alert.raised` after a cooldown. */
export const AnomalyStageSchema = z
  .object({
    name: PipelineNameSchema.default('anomaly'),
    /** Score at or above which a point is an anomaly. */
    threshold: z.number().min(0).max(1).default(0.6),
    /** Overrides of the detector options (`CombinedDetectorOptions`), merged onto `DEFAULT_DETECTOR_OPTIONS`. */
    detector: z.record(z.string(), z.unknown()).optional(),
    /** Alerting; `false` for anomalies only. */
    alerts: z.union([z.literal(false), z.object({ cooldownMs: nonNegativeMs.default(600_000) }).strict()]).default({ cooldownMs: 600_000 }),
  })
  .strict();
export type AnomalyStage = z.infer<typeof AnomalyStageSchema>;

/** Event-time rules shared by every stage of a pipeline. */
export const TimeRulesSchema = z
  .object({
    /** The watermark trails the largest event time of the partition by this much. */
    maxOutOfOrdernessMs: nonNegativeMs.default(5_000),
    /** Windows accept late events (as updates) until the watermark passes their end by this much. */
    allowedLatenessMs: nonNegativeMs.default(0),
    /** Inputs whose event time lies this far after the time JetStream stored them are invalid (`future-event-time`). */
    maxFutureMs: positiveMs.default(86_400_000),
  })
  .strict();

/** A declared pipeline. */
export const PipelineSpecSchema = z
  .object({
    name: PipelineNameSchema,
    description: z.string().max(1000).optional(),
    source: z
      .object({
        /** The input event type; the pipeline's consumers filter `<root>.evt.<tenant|*>.<partition>.<type>`. */
        type: EventTypeSchema,
        /** Only this tenant's events (default: every tenant; keys are always kept apart per tenant). */
        tenant: TenantSchema.optional(),
        /**
         * Accepted `dataschema` values. An input carrying any other one is invalid (`unexpected-schema-version`);
         * inputs without the attribute are accepted. Default: any.
         */
        dataschemas: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict(),
    /**
     * The grouping key. It must be determined by the partition key (e.g. the partition key itself, or a payload
     * field the producer also uses as partition key), because each partition is processed on its own: a key whose
     * events land in several partitions would be aggregated once per partition.
     */
    key: FieldPathSchema.default('partitionkey'),
    /** The numeric value aggregated and scored. */
    value: FieldPathSchema,
    time: TimeRulesSchema.default({ maxOutOfOrdernessMs: 5_000, allowedLatenessMs: 0, maxFutureMs: 86_400_000 }),
    /** Drop inputs whose (tenant, source, id) was seen among the partition's last `maxIds` inputs; `false` (default) keeps all. */
    dedupe: z.union([z.literal(false), z.object({ maxIds: z.number().int().min(1).max(100_000) }).strict()]).default(false),
    windows: z.array(WindowStageSchema).default([]),
    anomaly: AnomalyStageSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.windows.length === 0 && spec.anomaly === undefined) ctx.addIssue({ code: 'custom', message: 'a pipeline needs at least one window or an anomaly stage' });
    const names = [...spec.windows.map((w) => w.name), ...(spec.anomaly ? [spec.anomaly.name] : [])];
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) ctx.addIssue({ code: 'custom', message: `stage name ${dup} is used twice`, path: ['windows'] });
  });

/** A pipeline definition as written (defaults optional). */
export type PipelineSpecInput = z.input<typeof PipelineSpecSchema>;
/** A validated pipeline definition with every default filled in. */
export type PipelineSpec = z.output<typeof PipelineSpecSchema>;

/**
 * Validates a pipeline definition, fills in defaults and checks the detector options by building a detector.
 * Throws a {@link PipelineError} (`invalid-pipeline`) naming every bad field and the origin.
 */
export function parsePipelineSpec(input: unknown, origin = 'pipeline definition'): PipelineSpec {
  const parsed = PipelineSpecSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new PipelineError(PipelineErrorCode.InvalidPipeline, `${origin} is invalid:\n${lines.join('\n')}`);
  }
  if (parsed.data.anomaly) detectorOptions(parsed.data.anomaly, origin);
  return parsed.data;
}

/** The detector options of an anomaly stage: its overrides on top of `DEFAULT_DETECTOR_OPTIONS`. */
export function detectorOptions(stage: AnomalyStage, origin = 'pipeline definition'): CombinedDetectorOptions {
  const options = { ...DEFAULT_DETECTOR_OPTIONS, ...(stage.detector ?? {}) };
  try {
    new CombinedDetector(options);
  } catch (error) {
    if (isOperatorError(error)) throw new PipelineError(PipelineErrorCode.InvalidPipeline, `${origin}: anomaly.detector: ${error.message}`, { cause: error });
    throw error;
  }
  return options;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * A digest of everything in a pipeline definition that shapes its results and state (all but `description`).
 * A checkpoint remembers it: state written under one definition is never restored into another.
 */
export function specHash(spec: PipelineSpec): string {
  const { description: _description, ...shape } = spec;
  return createHash('sha256').update(JSON.stringify(canonical(shape))).digest('base64url').slice(0, 22);
}

/** File name suffix of pipeline definitions. */
export const PIPELINE_FILE_SUFFIX = '.pipeline.json';

/**
 * Reads every `*.pipeline.json` in `dir` (sorted by file name), validates each and checks that names are unique.
 *
 * @example
 * const pipelines = await loadPipelineSpecs('pipelines');
 */
export async function loadPipelineSpecs(dir: string): Promise<PipelineSpec[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(PIPELINE_FILE_SUFFIX)).sort();
  const specs: PipelineSpec[] = [];
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(join(dir, file), 'utf8'));
    } catch (cause) {
      throw new PipelineError(PipelineErrorCode.InvalidPipeline, `${join(dir, file)} is not JSON`, { cause });
    }
    const spec = parsePipelineSpec(json, join(dir, file));
    if (specs.some((s) => s.name === spec.name)) throw new PipelineError(PipelineErrorCode.InvalidPipeline, `pipeline ${spec.name} is declared twice (${file})`);
    specs.push(spec);
  }
  return specs;
}

/** Picks pipelines by name (all when `names` is empty); an unknown name is an error. */
export function selectPipelines(specs: readonly PipelineSpec[], names: readonly string[]): PipelineSpec[] {
  if (names.length === 0) return [...specs];
  return names.map((name) => {
    const spec = specs.find((s) => s.name === name);
    if (!spec) throw new PipelineError(PipelineErrorCode.UnknownPipeline, `no pipeline named ${name} (declared: ${specs.map((s) => s.name).join(', ') || 'none'})`);
    return spec;
  });
}
