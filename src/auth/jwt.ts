// Refresh tokens are JWTs (rt+jwt). Decoded locally, never verified: for display and shape checks only.
export interface RefreshTokenFacts {
  grantId?: string;
  clientId?: string;
  subject?: string;
  scopes: string[];
  issuedAt?: string; // ISO
  issuer?: string;
  type?: string;
}

export type Decoded = { ok: true; facts: RefreshTokenFacts } | { ok: false; problem: string };

function b64json(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function decodeRefreshToken(token: string): Decoded {
  if (/\s/.test(token)) return { ok: false, problem: 'contains whitespace (a line break or space from copy-paste?)' };
  if (/^["'`]|["'`]$/.test(token)) return { ok: false, problem: 'is wrapped in quotes' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[0] || !parts[1]) {
    return { ok: false, problem: 'is not a JWT (expected three base64url parts separated by dots)' };
  }
  const header = b64json(parts[0]);
  const claims = b64json(parts[1]);
  if (!header || !claims) return { ok: false, problem: 'is not a JWT (its parts do not decode to JSON; truncated?)' };
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const iat = typeof claims.iat === 'number' ? new Date(claims.iat * 1000).toISOString() : undefined;
  const aud = Array.isArray(claims.aud) ? str(claims.aud[0]) : str(claims.aud);
  const scope = str(claims.scope) ?? '';
  return {
    ok: true,
    facts: {
      grantId: str(claims.grant_id),
      clientId: aud ?? str(claims.client_id),
      subject: str(claims.sub),
      scopes: scope.split(/\s+/).filter(Boolean),
      issuedAt: iat,
      issuer: str(claims.iss),
      type: str(header.typ),
    },
  };
}

/** Show the first and last few characters only. */
export function mask(v: string | undefined, keep = 4): string {
  if (!v) return '-';
  if (v.length <= keep * 2) return '****';
  return `${v.slice(0, keep)}…${v.slice(-keep)}`;
}
