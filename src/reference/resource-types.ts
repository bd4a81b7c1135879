// The resource types the reference alerting API serves, and the collection each lives under
// (`/api/v1/tenants/:tenant/<collection>`), as in policies/reference.yaml.
export const COLLECTIONS = {
  'alert-rule': 'alert-rules',
  'contact-point': 'contact-points',
  'escalation-policy': 'escalation-policies',
  route: 'routes',
  team: 'teams',
} as const

export type ResourceType = keyof typeof COLLECTIONS

export const RESOURCE_TYPES = Object.keys(COLLECTIONS) as ResourceType[]
