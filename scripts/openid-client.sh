#!/usr/bin/env bash
# Checks that the Node library openid-client (v6, by panva) signs a user in
# with Signet as its OpenID Provider: discovery, the authorization code flow
# with PKCE S256, state and nonce, the ID token (RS256), UserInfo, refresh
# with offline_access, a replayed code refused, single sign-on, revocation
# and RP-initiated logout; once for a public native-app client (a loopback
# redirect URI on any port, RFC 8252 §7.3) and once for a confidential
# client with client_secret_basic. The script plays the browser itself:
# it reads Signet's sign-in form, keeps the cookies and follows redirects
# by hand. Needs Go, Node (>= 20) and npm; installs openid-client into a
# temporary directory. Usage: scripts/openid-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
work=$(mktemp -d)
pid=""
cleanup() {
  status=$?
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ "$status" -ne 0 ] && [ -f "$work/signet.log" ]; then
    echo "signet log:" >&2
    cat "$work/signet.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/signet" ./cmd/signet
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
iss="http://127.0.0.1:$port"
app_port=$(free_port) # the native app's loopback listener (never opened: the script reads the redirect)
web="https://app.example"
# The native app registers its loopback redirect URI without a port; it
# may use any port at run time.
cat >"$work/registry.json" <<JSON
{"clients":[{"client_id":"node-native","client_name":"openid-client (native app)","client_type":"public",
  "grant_types":["authorization_code","refresh_token"],
  "redirect_uris":["http://127.0.0.1/callback"],
  "post_logout_redirect_uris":["http://127.0.0.1:$app_port/signed-out"]}]}
JSON
export SIGNET_ADDR=127.0.0.1:$port SIGNET_ISSUER_URL=$iss SIGNET_DATA_DIR=$work/data SIGNET_BCRYPT_COST=4 \
  SIGNET_SIGNUP_MODE=open SIGNET_LOG_LEVEL=warn SIGNET_REGISTRY_FILE=$work/registry.json

# A confidential web client with client_secret_basic is made with the CLI
# (its secret is printed once), in a database made for it.
"$work/signet" migrate up >/dev/null
secret=$("$work/signet" clients create node-web --name 'openid-client (web app)' \
  --auth-method client_secret_basic --grants authorization_code,refresh_token \
  --redirect-uris "$web/callback" --post-logout-redirect-uris "$web/signed-out" |
  sed -n 's/^client secret (shown once, store it now): //p')
[ -n "$secret" ] || { echo "signet clients create printed no secret" >&2; exit 1; }

"$work/signet" serve >"$work/signet.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "$iss/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$iss/readyz" >/dev/null || { echo "signet did not become ready" >&2; exit 1; }

# A user whose address is confirmed (the message is the newest .eml file in
# the data dir's mailbox).
curl -sf "$iss/v1/signup" -H 'Content-Type: application/json' \
  -d '{"email":"ann@example.com","password":"correct horse battery"}' >/dev/null
token=""
for _ in $(seq 100); do
  token=$(python3 - "$work/data/mail" <<'PY'
import email, email.policy, glob, re, sys
for f in sorted(glob.glob(sys.argv[1] + "/*.eml"), reverse=True):
    m = email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
    t = re.search(r"token=(sgt_ev_[\w-]+)", m.get_body(("plain",)).get_content())
    if t:
        print(t.group(1))
        break
PY
  )
  [ -n "$token" ] && break
  sleep 0.2
done
[ -n "$token" ] || { echo "no confirmation message in $work/data/mail" >&2; exit 1; }
curl -sf "$iss/v1/verify" -H 'Content-Type: application/json' -d "{\"token\":\"$token\"}" >/dev/null

(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund openid-client@6.8.9 >/dev/null)
cat >"$work/check.mjs" <<'JS'
import * as client from 'openid-client';

const [issuer, appPort] = process.argv.slice(2);
const webSecret = process.env.WEB_CLIENT_SECRET;
const email = 'ann@example.com';
const password = 'correct horse battery';

let failures = 0;
function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  if (!ok) failures++;
}

// The browser: one cookie jar for the issuer's origin, redirects by hand.
const jar = new Map();
function keepCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.trim().split('=');
      return (k.toLowerCase() === 'max-age' && Number(v) <= 0) ||
        (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now());
    });
    if (expired) jar.delete(name); else jar.set(name, value);
  }
}
async function browse(url, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  keepCookies(res);
  return res;
}

// follow goes from url through redirects until one leaves for a URL that
// starts with stop (returned as {to}), or a page answers (returned as
// {url, res}).
async function follow(url, stop, init) {
  let res = await browse(url, init);
  for (let hops = 0; hops < 10; hops++) {
    if (res.status < 300 || res.status >= 400) return { url, res };
    const to = new URL(res.headers.get('location'), url);
    if (to.href.startsWith(stop)) return { to };
    url = to.href;
    res = await browse(url);
  }
  throw new Error(`more than 10 redirects from ${url}`);
}

const unescape = (s) => s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|quot|apos|lt|gt|#39);/gi, (_, e) => {
  if (e[0] === '#') return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  return { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>' }[e.toLowerCase()];
});
function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    out[m[1].toLowerCase()] = unescape(m[2] ?? m[3] ?? m[4]);
  }
  return out;
}
// findForm reads the first form of a page (with a password field when
// password is set): its action and fields (hidden ones, such as the CSRF
// token, keep their values), and what a browser would send as Origin and
// Referer under the page's referrer policy.
function findForm(html, pageURL, password) {
  const meta = [...html.matchAll(/<meta\b[^>]*>/gi)].map((m) => attrs(m[0])).find((m) => m.name === 'referrer');
  const noReferrer = meta && meta.content === 'no-referrer';
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const inputs = [...m[2].matchAll(/<input\b[^>]*>/gi)].map((i) => attrs(i[0]));
    if (password && !inputs.some((i) => i.type === 'password')) continue;
    const form = attrs(`<form ${m[1]}>`);
    const fields = new URLSearchParams();
    for (const i of inputs) if (i.name && i.type !== 'submit') fields.set(i.name, i.value ?? '');
    const action = new URL(form.action || pageURL, pageURL).href;
    // The Fetch standard ("append a request Origin header"): a form POST from a
    // no-referrer page sends Origin: null.
    const headers = noReferrer ? { origin: 'null' } : { origin: new URL(pageURL).origin, referer: pageURL };
    return { action, method: (form.method || 'get').toLowerCase(), fields, headers };
  }
  return null;
}
const signInForm = (html, pageURL) => findForm(html, pageURL, true);
function submit(form, values) {
  const body = new URLSearchParams(form.fields);
  for (const [k, v] of Object.entries(values)) body.set(k, v);
  return { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...form.headers } };
}

// attempt runs one step; a failure is counted and the next steps still run.
async function attempt(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, what, { error: e.error ?? e.code ?? e.name, description: e.error_description ?? e.message, status: e.status });
  }
}

const decodeJSON = (b64) => JSON.parse(Buffer.from(b64, 'base64url').toString());

async function flow(name, clientId, auth, redirectURI, postLogoutURI) {
  console.log(`\n== ${name}`);
  jar.clear();
  const config = await client.discovery(new URL(issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
  const meta = config.serverMetadata();
  check(meta.issuer === issuer, 'discovery names the issuer', meta.issuer);
  check((meta.code_challenge_methods_supported || []).includes('S256'), 'discovery lists S256', meta.code_challenge_methods_supported);
  const offline = (meta.scopes_supported || []).includes('offline_access');
  const scope = offline ? 'openid email profile offline_access' : 'openid email profile';

  const start = async () => {
    const verifier = client.randomPKCECodeVerifier();
    const params = {
      redirect_uri: redirectURI, scope, state: client.randomState(), nonce: client.randomNonce(),
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    };
    return { verifier, params, url: client.buildAuthorizationUrl(config, params) };
  };
  const redeem = (a, callback) => client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: a.verifier, expectedState: a.params.state, expectedNonce: a.params.nonce, idTokenExpected: true,
  });

  // The authorization request shows Signet's sign-in page.
  const a = await start();
  let step = await follow(a.url.href, redirectURI);
  check(step.res && step.res.status === 200, 'the authorization request shows a page', step.to?.href ?? step.res?.status);
  let page = await step.res.text();
  let form = signInForm(page, step.url);
  check(form && form.method === 'post', 'the page has a sign-in form (POST)', form && { action: form.action, fields: [...form.fields.keys()] });
  if (!form) throw new Error('no sign-in form:\n' + page.slice(0, 2000));

  // A wrong password shows the form again and sends nothing to the client.
  step = await follow(form.action, redirectURI, submit(form, { email, password: 'not the password' }));
  check(!step.to && step.res.status < 500, 'a wrong password keeps the user at the issuer', step.to?.href ?? step.res.status);
  if (step.res) {
    const again = signInForm(await step.res.text(), step.url);
    check(again !== null, 'the form is shown again');
    if (again) form = again;
  }

  // The right password returns to the registered redirect URI.
  step = await follow(form.action, redirectURI, submit(form, { email, password }));
  check(!!step.to, 'signing in returns to the redirect URI', step.to?.href ?? step.res?.status);
  if (!step.to) throw new Error('sign-in did not redirect:\n' + (await step.res.text()).slice(0, 2000));
  const callback = step.to;
  check(callback.searchParams.get('state') === a.params.state, 'the state comes back');
  if (meta.authorization_response_iss_parameter_supported) {
    check(callback.searchParams.get('iss') === issuer, 'iss in the authorization response (RFC 9207)', callback.searchParams.get('iss'));
  }

  const tokens = await redeem(a, callback);
  const claims = tokens.claims();
  const header = decodeJSON(tokens.id_token.split('.')[0]);
  check(header.alg === 'RS256', 'the ID token is signed with RS256', header.alg);
  check(claims.iss === issuer && [].concat(claims.aud).includes(clientId), 'the ID token names the issuer and the client', { iss: claims.iss, aud: claims.aud });
  check(claims.nonce === a.params.nonce, 'the ID token carries the nonce');
  check(claims.email === email && claims.email_verified === true, 'the ID token has email and email_verified', { email: claims.email, email_verified: claims.email_verified });
  check(tokens.token_type.toLowerCase() === 'bearer' && typeof tokens.access_token === 'string', 'an access token', tokens.token_type);

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  check(info.sub === claims.sub && info.email === email && info.email_verified === true, 'UserInfo answers for the user', info);

  let refreshToken = tokens.refresh_token;
  if (offline) {
    check(typeof refreshToken === 'string', 'offline_access gives a refresh token');
    await attempt('refresh (RFC 6749 §6: grant_type and refresh_token only)', async () => {
      const refreshed = await client.refreshTokenGrant(config, refreshToken);
      check(typeof refreshed.access_token === 'string' && refreshed.access_token !== tokens.access_token, 'the refresh token gives a new access token');
      if (refreshed.id_token) {
        check(refreshed.claims().sub === claims.sub, 'the refreshed ID token is for the same user');
      }
      refreshToken = refreshed.refresh_token ?? refreshToken;
    });
  } else {
    console.log('skip refresh: discovery does not list offline_access');
  }

  // The same code a second time is refused, and what it gave is revoked
  // (RFC 6749 §4.1.2).
  try {
    await redeem(a, callback);
    check(false, 'a replayed code is refused');
  } catch (e) {
    check(e.error === 'invalid_grant', 'a replayed code is refused with invalid_grant', e.error ?? e.message);
  }
  if (offline && refreshToken) {
    try {
      await client.refreshTokenGrant(config, refreshToken);
      check(false, 'after the replay the refresh token is revoked');
    } catch (e) {
      check(e.error === 'invalid_grant', 'after the replay the refresh token is revoked (invalid_grant)', e.error ?? e.message);
    }
  }

  // Single sign-on: a second authorization request returns at once.
  const b = await start();
  step = await follow(b.url.href, redirectURI);
  check(!!step.to, 'a second request is answered from the issuer session, without the form', step.to?.href ?? step.res?.status);
  if (step.to) {
    const second = await redeem(b, step.to);
    check(second.claims().sub === claims.sub, 'the second sign-in is the same user');
    // RFC 7009: the client revokes its refresh token, which then no
    // longer refreshes.
    if (offline && second.refresh_token) {
      await attempt('revocation (RFC 7009)', async () => {
        await client.tokenRevocation(config, second.refresh_token, { token_type_hint: 'refresh_token' });
        try {
          await client.refreshTokenGrant(config, second.refresh_token);
          check(false, 'a revoked refresh token is refused');
        } catch (e) {
          check(e.error === 'invalid_grant', 'a revoked refresh token is refused (invalid_grant)', e.error ?? e.message);
        }
      });
    }
  }

  // RP-initiated logout returns to the registered URI with the state.
  if (meta.end_session_endpoint) {
    const state = client.randomState();
    const out = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogoutURI, state });
    step = await follow(out.href, postLogoutURI);
    if (step.res && step.res.status === 200) {
      // The issuer asks to confirm: press its button.
      const html = await step.res.text();
      const confirm = findForm(html, step.url, false);
      console.log(`     logout asks to confirm (${confirm ? confirm.action : 'no form'})`);
      if (confirm) step = await follow(confirm.action, postLogoutURI, submit(confirm, {}));
    }
    check(!!step.to && step.to.searchParams.get('state') === state, 'logout returns to the post-logout redirect URI with the state', step.to?.href ?? step.res?.status);
    const c = await start();
    step = await follow(c.url.href, redirectURI);
    check(!step.to && step.res.status === 200 && signInForm(await step.res.text(), step.url) !== null, 'after logout the sign-in form is shown again', step.to?.href);
  } else {
    check(false, 'discovery lists end_session_endpoint');
  }

  // A confidential client with a wrong secret is refused.
  if (webSecret && name.includes('client_secret_basic')) {
    const wrong = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic('wrong' + webSecret), { execute: [client.allowInsecureRequests] });
    try {
      await client.refreshTokenGrant(wrong, tokens.refresh_token ?? 'x');
      check(false, 'a wrong client secret is refused');
    } catch (e) {
      // RFC 6749 §5.2: a failed Basic authentication is a 401 with a Basic
      // challenge, which openid-client raises as a challenge error; the
      // body still says invalid_client.
      const body = e.response ? await e.response.clone().json().catch(() => ({})) : {};
      const challenge = Array.isArray(e.cause) ? e.cause.map((c) => c.scheme).join(',') : '';
      const error = e.error ?? body.error;
      check(error === 'invalid_client' && e.status === 401 && (e.error || challenge === 'basic'),
        'a wrong client secret is refused with 401 invalid_client', { status: e.status, error: error ?? e.message, challenge });
    }
  }
}

try {
  await flow('public native app, loopback redirect on any port (PKCE, no secret)', 'node-native', client.None(),
    `http://127.0.0.1:${appPort}/callback`, `http://127.0.0.1:${appPort}/signed-out`);
  await flow('confidential web app, client_secret_basic', 'node-web', client.ClientSecretBasic(webSecret),
    'https://app.example/callback', 'https://app.example/signed-out');
} catch (e) {
  console.log('FAIL', e.name, e.code ?? '', e.error ?? '', e.error_description ?? '', e.message);
  if (e.cause) console.log('cause:', e.cause);
  failures++;
}
console.log(failures ? `\n${failures} check(s) failed` : '\nall checks passed');
process.exit(failures ? 1 : 0);
JS
WEB_CLIENT_SECRET=$secret node "$work/check.mjs" "$iss" "$app_port"
echo "openid-client: ok"
