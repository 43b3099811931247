// The two environments (no imports: the CLI's start-up path reads this).
export const ENVIRONMENTS = ['production', 'sandbox'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const BASE_URLS: Record<Environment, string> = {
  production: 'https://api.tastyworks.com',
  sandbox: 'https://api.cert.tastyworks.com',
};

/** The API version tasty is tested with (Accept-Version on production data requests; see config.ts). */
export const PINNED_API_VERSION = '20251101';
