// A test child that reports the signals it receives: prints "ready", then for SIGINT/SIGTERM/SIGHUP prints the name and
// exits 40 + its number (so the test can tell the child's exit code from tasty's).
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.on(sig, () => {
    process.stdout.write(`${sig}\n`);
    process.exit(40 + n);
  });
}
process.stdout.write('ready\n');
setInterval(() => {}, 1000);
