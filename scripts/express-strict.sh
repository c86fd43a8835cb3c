#!/usr/bin/env bash
# Checks that express-oauth2-jwt-bearer with strict: true (RFC 9068
# profile: typ at+jwt, client_id, iss, aud, sub, iat, exp, jti) accepts a
# Signet access token for its audience and refuses one for another
# resource. Needs Go, Node (>= 18) and npm; installs the two npm packages
# into a temporary directory. Usage: scripts/express-strict.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/signet" ./cmd/signet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iss="http://127.0.0.1:$port"
cat >"$work/registry.json" <<JSON
{"resources":[{"uri":"https://video.example","scopes":["video:read"]},{"uri":"https://shop.example","scopes":["shop:read"]}]}
JSON
SIGNET_ADDR=127.0.0.1:$port SIGNET_ISSUER_URL=$iss SIGNET_DATA_DIR=$work/data SIGNET_BCRYPT_COST=4 \
  SIGNET_SIGNUP_MODE=open SIGNET_REQUIRE_VERIFIED_EMAIL=false SIGNET_LOG_LEVEL=warn \
  SIGNET_REGISTRY_FILE=$work/registry.json "$work/signet" serve >"$work/signet.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "$iss/readyz" >/dev/null && break; sleep 0.2; done

curl -sf "$iss/v1/signup" -H 'Content-Type: application/json' -d '{"email":"ann@example.com","password":"correct horse battery"}' >/dev/null
token() {
  curl -sf "$iss/v1/signin" -H 'Content-Type: application/json' \
    -d "{\"email\":\"ann@example.com\",\"password\":\"correct horse battery\",\"resource\":\"$1\",\"scope\":\"$2\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
VIDEO=$(token https://video.example video:read)
SHOP=$(token https://shop.example shop:read)

(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund express@4 express-oauth2-jwt-bearer >/dev/null)
cat >"$work/check.js" <<'JS'
const express = require('express');
const { auth, requiredScopes } = require('express-oauth2-jwt-bearer');
const [issuer, video, shop] = process.argv.slice(2);
const app = express();
app.use(auth({ issuerBaseURL: issuer, audience: 'https://video.example', strict: true, tokenSigningAlg: 'EdDSA' }));
app.get('/videos', requiredScopes('video:read'), (req, res) => res.json({ sub: req.auth.payload.sub, client_id: req.auth.payload.client_id }));
app.use((err, req, res, next) => res.status(err.status || 500).json({ error: err.code || err.message }));
const server = app.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}/videos`;
  const call = (t) => fetch(url, { headers: { authorization: `Bearer ${t}` } });
  let ok = true;
  const good = await call(video);
  console.log('video token:', good.status, await good.text());
  ok &&= good.status === 200;
  const bad = await call(shop);
  console.log('shop token:', bad.status, await bad.text());
  ok &&= bad.status === 401;
  server.close();
  process.exit(ok ? 0 : 1);
});
JS
NODE_PATH="$work/node_modules" node "$work/check.js" "$iss" "$VIDEO" "$SHOP"
echo "express-oauth2-jwt-bearer strict: ok"
