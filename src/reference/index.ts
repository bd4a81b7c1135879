// The reference alerting API that ships with dualread: the demo's two stores and the sync tests' fixture.
export { startReferenceApi, type ReferenceApi, type ReferenceApiOptions } from './server.ts'
export { ReferenceStore, type StoredObject, type View, type WriteOptions, type ListOptions, type Page } from './store.ts'
export { PLAIN_FLAVOUR, type Flavour } from './flavours.ts'
export { seedStore, seededId, type SeedOptions } from './seed.ts'
export { COLLECTIONS, RESOURCE_TYPES, type ResourceType } from './resource-types.ts'
