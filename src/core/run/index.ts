/** Run folders: output JSONL with resume, manifest.json, frozen config.json. See docs/engine.md. */
export * from './keySet';
export * from './output';
export * from './manifest';
export * from './config';
export * from './runFolder';
