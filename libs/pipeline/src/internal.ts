/** Test support for pipelines: reproducible inputs and the demo pipeline's shape. Not part of the public API. */
export { seededRandom, sensorFixture, sensorPipelineFixture, type FixtureMessage, type SensorFixtureOptions } from './fixtures.ts';
