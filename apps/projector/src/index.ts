export { startProjector } from './service.ts';
export { loadProjectorConfig, type ProjectorConfig } from './config.ts';
