export {
  checkBackwardCompatibility,
  isBackwardCompatible,
  type CompatibilityIssue,
  type JsonSchema,
} from './compatibility.ts';
export {
  SchemaRegistry,
  IncompatibleSchemaError,
  toJsonSchema,
  dataSchemaUri,
  pinnedVersion,
  type SchemaVersion,
  type SchemaValidation,
} from './registry.ts';
export { builtInSchemaRegistry, SensorReadingV2Schema } from './catalog.ts';
