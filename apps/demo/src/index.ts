export { startDemoProducer, type DemoProducerOptions } from './producer.ts';
export { SensorFleet, OrderBatches, prng } from './workload.ts';
