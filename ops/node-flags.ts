/**
 * Node.js flags every Tideway service runs with (`npm start`, the benchmark's app processes; compose.yaml and the
 * Dockerfile spell out the same).
 *
 * `--max-semi-space-size=64` (MiB; Node 20's default is 16): the services allocate a few KiB per event and keep
 * each request's objects for the milliseconds until JetStream or PostgreSQL answers. With the default young
 * generation, a scavenge comes every few hundred requests, finds those objects alive and promotes them, and the
 * old generation fills with garbage only a full collection frees. Measured (docs/benchmarks.md): HTTP ingest in
 * batches of 100 about 12% more events per second with less CPU, batches of 1,000 about 20%, the warm drain 4%;
 * each service's resident memory grows by some 50–100 MiB.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
