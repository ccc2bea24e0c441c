import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './libs/warm/src/schema.ts',
  out: './migrations',
});
