import { loadProjectorConfig } from './config.ts';
import { startProjector } from './service.ts';

await startProjector(loadProjectorConfig(process.env));
