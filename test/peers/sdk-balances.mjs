// tastytrade's official JS SDK (@tastytrade/api) configured only from what `tasty exec` injects: the environment,
// the secrets under tastytrade's names, and (SDK_USE_TASTY_TOKEN=1) tasty's access token, so the SDK does not mint
// until that token runs out. Fetches the accounts and the first account's balances; prints them as JSON.
import TastytradeClient from '@tastytrade/api';

const env = process.env;
const base = env.TASTYTRADE_ENV === 'sandbox' ? TastytradeClient.SandboxConfig : TastytradeClient.ProdConfig;
const client = new TastytradeClient({
  ...base,
  // Only a test points the SDK elsewhere: TASTYTRADE_API_URL is set by tasty exec when TASTY_API_URL overrides the API.
  ...(env.TASTYTRADE_API_URL ? { baseUrl: env.TASTYTRADE_API_URL } : {}),
  clientSecret: env.TASTYTRADE_CLIENT_SECRET,
  refreshToken: env.TASTYTRADE_REFRESH_TOKEN,
  oauthScopes: ['read'],
});
if (env.SDK_USE_TASTY_TOKEN === '1') {
  const expiresIn = Number(env.TASTY_ACCESS_TOKEN_EXPIRES_AT) - Math.floor(Date.now() / 1000);
  client.accessToken.updateFromTokenResponse({ data: { access_token: env.TASTY_ACCESS_TOKEN, expires_in: expiresIn } });
}
const accounts = await client.accountsAndCustomersService.getCustomerAccounts();
const first = accounts[0]?.account?.['account-number'];
const balances = await client.balancesAndPositionsService.getAccountBalanceValues(first);
process.stdout.write(`${JSON.stringify({ accounts: accounts.map((a) => a.account['account-number']), balances })}\n`);
