#!/usr/bin/env node
/**
 * `tideway` — the operator's command line.
 *
 *   tideway streams apply     create or update the streams and consumers in streams/ (reports drift)
 *   tideway streams status    show each stream's messages and each consumer's lag
 *   tideway migrate           apply the warm store's SQL migrations
 *   tideway replay …          rebuild projections from the log (shadow + atomic swap)
 *   tideway jobs …            scheduled batch jobs and their runs
 *   tideway ingest <file>     load a CSV/NDJSON/JSON/Parquet file through the gateway
 *   tideway keys …            create, list and revoke API keys
 *   tideway quarantine …      list, show, resubmit and reject quarantined items
 *   tideway process …         bounded replay of a stream-processing pipeline; pipeline checkpoints
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { applyDefinitions, connectNats, inNamespace, loadDefinitions } from '@tideway/nats';
import { commonEnv, parseEnv } from '@tideway/service';
import { migrateWarmStore, openWarmStore } from '@tideway/warm';
import { ingestCommand } from './commands/ingest.ts';
import { jobsCommand } from './commands/jobs.ts';
import { keysCommand } from './commands/keys.ts';
import { processCommand } from './commands/process.ts';
import { quarantineCommand } from './commands/quarantine.ts';
import { replayCommand } from './commands/replay-command.ts';

const USAGE = `usage: tideway <command>

  streams apply     create or update the streams and consumers defined in streams/ (reports drift)
  streams status    messages per stream, pending per consumer
  migrate           apply the warm store's SQL migrations
  replay --projection <warm|hot|cold|all> [--from <seq|time>] [--to <seq|time>] [--drop-replaced]
                    rebuild a projection from the log into a shadow, then swap it in
  jobs list|runs|run <name>|rerun <id>
                    scheduled batch jobs (bounded replays) and their recorded runs
  ingest <file> --type <t> [--subject c] [--time c] [--id c] [--cast c:type] …
                    load a CSV, NDJSON, JSON or Parquet file through the gateway (tideway ingest --help)
  keys create|list|revoke
                    API keys (tenant + scopes ingest/query/admin), straight in PostgreSQL
  quarantine list|show|resubmit|reject
                    quarantined items, through the gateway's API
  process replay --pipeline <name> [--from <seq|time>] [--to <seq|time>] [--out f] [--publish]
                    run a stream-processing pipeline over a range of the log (batch mode; tideway process --help)
  process status    pipeline checkpoints per partition

Connection settings come from the environment (NATS_URL, DATABASE_URL, ...; see the README).`;

async function main(argv: string[]): Promise<number> {
  const config = parseEnv(commonEnv, process.env);
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const [command, sub] = argv;
  if (command === 'streams' && (sub === 'apply' || sub === 'status')) {
    const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-cli' });
    try {
      const jsm = await jetstreamManager(nats.nc);
      const defs = inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace);
      if (sub === 'apply') {
        for (const r of await applyDefinitions(jsm, defs)) {
          console.log(`${r.kind.padEnd(8)} ${r.name.padEnd(40)} ${r.action}`);
          for (const d of r.drift) console.log(`         drift: ${d.field} was ${JSON.stringify(d.actual)}, now ${JSON.stringify(d.expected)}`);
        }
      } else {
        for (const s of defs.streams) {
          const info = await jsm.streams.info(s.config.name).catch(() => undefined);
          console.log(`stream   ${s.config.name.padEnd(40)} ${info ? `${info.state.messages} messages, seq ${info.state.first_seq}..${info.state.last_seq}` : 'missing'}`);
        }
        for (const c of defs.consumers) {
          const info = await jsm.consumers.info(c.stream, c.config.durable_name).catch(() => undefined);
          console.log(`consumer ${`${c.stream}/${c.config.durable_name}`.padEnd(40)} ${info ? `${info.num_pending} pending, ${info.num_ack_pending} unacked, ack floor ${info.ack_floor.stream_seq}` : 'missing'}`);
        }
      }
    } finally {
      await nats.nc.close();
    }
    return 0;
  }
  if (command === 'replay') return replayCommand(argv.slice(1), config);
  if (command === 'jobs') return jobsCommand(argv.slice(1), config);
  if (command === 'ingest') return ingestCommand(argv.slice(1), process.env);
  if (command === 'keys') return keysCommand(argv.slice(1), config);
  if (command === 'quarantine') return quarantineCommand(argv.slice(1), process.env);
  if (command === 'process') return processCommand(argv.slice(1), process.env);
  if (command === 'migrate') {
    const store = openWarmStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 1 });
    try {
      await migrateWarmStore(store, config.MIGRATIONS_DIR);
      console.log(`migrations applied to schema ${config.DATABASE_SCHEMA}`);
    } finally {
      await store.close();
    }
    return 0;
  }
  console.error(USAGE);
  return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
}

process.exitCode = await main(process.argv.slice(2));
