import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/** One vitest project per npm workspace, named after its package, so `vitest run --project @tideway/x` works. */
const workspaces = ['libs', 'apps'].flatMap((group) =>
  readdirSync(group)
    .map((dir) => `${group}/${dir}`)
    .filter((dir) => existsSync(`${dir}/package.json`)),
);

export default defineConfig({
  test: {
    projects: workspaces.map((dir) => {
      const { name } = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { name: string };
      return {
        test: {
          name,
          root: dir,
          include: ['src/**/*.spec.ts'],
          globalSetup: ['../../ops/test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      };
    }),
  },
});
