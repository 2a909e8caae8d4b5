export * from './tenants.js';
export * from './api-keys.js';
export * from './demo.js';
