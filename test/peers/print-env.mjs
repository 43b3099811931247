// Prints the variables `tasty exec` may set (as JSON) and exits with $EXIT_WITH (default 0). A test child.
const names = Object.keys(process.env).filter((k) => /^(TASTY|TASTYTRADE|TT)_/.test(k));
process.stdout.write(`${JSON.stringify(Object.fromEntries(names.map((k) => [k, process.env[k]])))}\n`);
process.exitCode = Number(process.env.EXIT_WITH ?? 0);
