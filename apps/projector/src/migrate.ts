/** `npm run migrate`: applies the warm store's SQL migrations and exits. */
import { migrateWarmStore, openWarmStore } from '@tideway/warm';
import { loadProjectorConfig } from './config.ts';

const config = loadProjectorConfig(process.env);
const store = openWarmStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 1 });
await migrateWarmStore(store, config.MIGRATIONS_DIR);
await store.close();
console.log(`migrations in ${config.MIGRATIONS_DIR} applied to schema ${config.DATABASE_SCHEMA}`);
