#!/usr/bin/env bash
# The npm package as users get it (issue 15): `npm pack` of pkg/ (after scripts/build.sh), installed
# into fresh projects outside the repository; there it (a) trains a few steps and deploys the
# export through `shiftaddaug/infer` in Node as ESM, (b) is bundled by Vite into a page
# (tests/consumer/, Vite pinned in its lockfile) that trains in the SDK's workers and deploys the
# export in headless Chromium, and (c) type-checks a consumer file against the installed .d.ts
# files. Nothing tells Node, Vite or the SDK where the worker or the .wasm files are.
# Usage: scripts/pack-test.sh   (tier 4 of scripts/test.sh; (b) installs Vite from the npm
# registry on its first run, later runs from npm's cache)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tarball=$(cd "$repo/pkg" && npm pack --silent --pack-destination "$tmp")
echo "pack-test: $tarball ($(stat -c %s "$tmp/$tarball") bytes)"
mkdir "$tmp/consumer"
cd "$tmp/consumer"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' > package.json
npm install --offline --no-audit --no-fund --silent "$tmp/$tarball"

cp "$repo/tests/consumer/run.js" .
cat > run.mjs <<'JS'
import { trainAndDeploy } from './run.js';

const r = await trainAndDeploy({ backend: 'wasm', worker: false });
const sum = r.probabilities.reduce((a, b) => a + b, 0);
if (r.module !== 'cpu' || r.loss.length !== 1 || !Number.isFinite(r.loss[0]) || r.probabilities.length !== 10 || Math.abs(sum - 1) > 0.1) {
  throw new Error(`unexpected: ${JSON.stringify(r)}`);
}
console.log(`pack-test: installed package trained (${r.backend}, ${r.module} module, loss ${r.loss[0].toFixed(3)}) and deployed (probabilities sum ${sum.toFixed(3)})`);
JS
node run.mjs

# The repository's consumer file with the package's own specifiers.
sed -e "s#'../../../pkg/index.js'#'shiftaddaug'#" -e "s#'../../../pkg/infer.js'#'shiftaddaug/infer'#" \
  "$repo/pkg-config/test/types/consumer.ts" > consumer.ts
grep -q "from 'shiftaddaug';" consumer.ts && grep -q "from 'shiftaddaug/infer';" consumer.ts
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": { "target": "ES2022", "module": "ES2022", "moduleResolution": "bundler", "lib": ["es2022", "dom"], "strict": true, "noEmit": true, "skipLibCheck": false },
  "files": ["consumer.ts"]
}
JSON
node "$repo/pkg-config/node_modules/typescript/bin/tsc" -p tsconfig.json
echo "pack-test: consumer.ts type-checks against the installed package"

# (b) The page, bundled by Vite from a project that has only its own files and the tarball.
mkdir "$tmp/web"
cp "$repo"/tests/consumer/{package.json,package-lock.json,index.html,main.js,run.js} "$tmp/web/"
cd "$tmp/web"
npm ci --prefer-offline --no-audit --no-fund --silent
npm install --offline --no-audit --no-fund --silent "$tmp/$tarball"
npx --no-install vite build --logLevel warn
cd "$repo"
node scripts/pack-page.mjs "$tmp/web/dist"
