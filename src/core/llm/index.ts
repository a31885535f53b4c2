/** The model-client layer: types, errors, the client, conversation formatters and presets. */
export * from './types';
export * from './errors';
export * from './client';
export * from './formatters';
export * from './presets';
export * from './check';
export * from './pool';
