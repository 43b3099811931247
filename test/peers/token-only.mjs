// A script that uses only TASTY_ACCESS_TOKEN (plus where the API is): lists the accounts with Node's fetch.
// Run under `tasty exec --token-only`. It also reports whether any secret variable reached it.
const base = process.env.TASTY_API_URL ?? (process.env.TASTY_ENV === 'sandbox' ? 'https://api.cert.tastyworks.com' : 'https://api.tastyworks.com');
const r = await fetch(`${base}/customers/me/accounts`, {
  headers: { authorization: `Bearer ${process.env.TASTY_ACCESS_TOKEN}`, 'user-agent': 'token-only-script/1.0', accept: 'application/json' },
});
const body = await r.json();
const secrets = ['TASTY_CLIENT_SECRET', 'TASTY_REFRESH_TOKEN', 'TASTYTRADE_CLIENT_SECRET', 'TASTYTRADE_REFRESH_TOKEN', 'TT_SECRET', 'TT_REFRESH'].filter((k) => process.env[k] !== undefined);
process.stdout.write(`${JSON.stringify({ status: r.status, accounts: (body.data?.items ?? []).map((i) => i.account['account-number']), secrets })}\n`);
process.exitCode = r.status === 200 ? 0 : 1;
