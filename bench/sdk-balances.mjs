// Row 6 of the benchmark: the same job through tastytrade's official JS SDK (a devDependency of the bench only).
// Like every script that uses it, it mints a token at process start, then fetches the balances and prints them.
import TastytradeClient from '@tastytrade/api';

const client = new TastytradeClient({
  ...TastytradeClient.SandboxConfig,
  baseUrl: process.env.URL,
  clientSecret: process.env.TASTY_CLIENT_SECRET,
  refreshToken: process.env.TASTY_REFRESH_TOKEN,
  oauthScopes: ['read'],
});
const balances = await client.balancesAndPositionsService.getAccountBalanceValues(process.env.ACCOUNT);
process.stdout.write(`${JSON.stringify(balances)}\n`);
