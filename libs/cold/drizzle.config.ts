import { defineConfig } from 'drizzle-kit';

/** The cold store's own migrations: `npx drizzle-kit generate --config libs/cold/drizzle.config.ts`. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './libs/cold/src/schema.ts',
  out: './migrations/cold',
});
