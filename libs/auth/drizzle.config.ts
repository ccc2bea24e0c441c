import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './libs/auth/src/schema.ts',
  out: './migrations/auth',
  migrations: { table: '__drizzle_migrations_auth' },
});
