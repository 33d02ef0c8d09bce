// A stock relying party built on openid-client 6 (panva; an OpenID-certified RP library), for
// Ferry's browser tests. It does what the library does by default, strictly: discovery with
// issuer validation, PKCE S256 + state + nonce on every request, RFC 9207 `iss` checks (Ferry
// advertises them), ID token validation, userinfo with its `sub` check, refresh, and
// RP-initiated logout. Nothing is relaxed but plain http (`allowInsecureRequests`: Ferry runs on
// http://localhost in tests).
//
// Configuration: one JSON object in the RP_CONFIG environment variable:
//   {"issuer": "http://localhost:5000", "client_id": "rp", "auth_method": "client_secret_basic",
//    "client_secret": "...", "private_jwk": {...}}
// auth_method is client_secret_basic | client_secret_post | private_key_jwt | none.
// It listens on 127.0.0.1 (PORT, 0 = any free port) and prints one JSON line, {"url": ...}, once
// it does. Discovery happens on the first /login, so the RP may start before Ferry serves.
//
// Routes: /login?scope=&prompt=&max_age=   /callback   /refresh[?token=]   /logout   /
//         /state (JSON: the last tokens, claims, userinfo and error, for the test to inspect)

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import * as client from 'openid-client';

const settings = JSON.parse(process.env.RP_CONFIG || '{}');
for (const name of ['issuer', 'client_id', 'auth_method']) {
  if (!settings[name]) {
    console.error(`RP_CONFIG needs "${name}"`);
    process.exit(2);
  }
}
const COOKIE = 'openid_client_rp';
let base = ''; // http://localhost:PORT, set once listening

// -- the library's configuration (discovery on first use) ------------------------------------------

async function clientAuth() {
  switch (settings.auth_method) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(settings.client_secret);
    case 'client_secret_post':
      return client.ClientSecretPost(settings.client_secret);
    case 'none':
      return client.None();
    case 'private_key_jwt': {
      const jwk = settings.private_jwk;
      const algorithm = jwk.kty === 'EC'
        ? { name: 'ECDSA', namedCurve: jwk.crv }
        : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      const { kid, alg, use, key_ops, ...material } = jwk; // eslint-disable-line no-unused-vars
      const key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
      return client.PrivateKeyJwt({ key, kid });
    }
    default:
      throw new Error(`unknown auth_method ${settings.auth_method}`);
  }
}

let configuration;
async function config() {
  if (!configuration) {
    configuration = client.discovery(
      new URL(settings.issuer), settings.client_id, settings.metadata || {}, await clientAuth(),
      { execute: [client.allowInsecureRequests] },
    ).catch((error) => {
      configuration = undefined; // Ferry may not have been up yet: try again next time
      throw error;
    });
  }
  return configuration;
}

// -- state: per browser (cookie) for the flow, and the last outcome for /state ----------------------

const sessions = new Map();
const last = {
  signed_in: false, access_token: null, refresh_token: null, id_token: null, claims: null,
  userinfo: null, scope: null, error: null, refresh: null, refresh_tokens: [], logged_out: false,
};

function sessionOf(request, response) {
  const found = /(?:^|;\s*)openid_client_rp=([\w-]+)/.exec(request.headers.cookie || '');
  if (found && sessions.has(found[1])) return sessions.get(found[1]);
  const id = randomBytes(16).toString('base64url');
  const session = { id };
  sessions.set(id, session);
  response.setHeader('Set-Cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  return session;
}

function errorOf(error, where) {
  // AuthorizationResponseError / ResponseBodyError carry the OAuth error and its description;
  // the library's own checks (iss, nonce, signature, ...) carry a code such as
  // OAUTH_JWT_CLAIM_COMPARISON_FAILED and a message.
  let cause = '';
  if (error.cause instanceof Error) cause = `${error.cause.code || ''} ${error.cause.message}`;
  else if (error.cause instanceof Response) cause = `HTTP ${error.cause.status} from ${error.cause.url}`;
  return {
    where,
    error: error.error || error.code || error.name || 'error',
    error_description: error.error_description || [error.message, cause].filter(Boolean).join(': '),
    status: error.status ?? null,
  };
}

function keepTokens(session, tokens) {
  session.tokens = tokens;
  session.access_token = tokens.access_token;
  if (tokens.refresh_token) session.refresh_token = tokens.refresh_token;
  if (tokens.id_token) {
    session.id_token = tokens.id_token;
    session.claims = tokens.claims();
  }
  Object.assign(last, {
    signed_in: true, access_token: session.access_token, refresh_token: session.refresh_token || null,
    id_token: session.id_token || null, claims: session.claims || null, scope: tokens.scope ?? null,
    error: null, logged_out: false,
  });
  if (tokens.refresh_token) last.refresh_tokens.push(tokens.refresh_token);
}

// -- pages -------------------------------------------------------------------------------------------

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const json = (value) => escape(JSON.stringify(value, null, 2));

function page(response, status, title, body) {
  response.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}
#error{color:#a00;font-weight:bold}</style></head><body><h1>${escape(title)}</h1>${body}
<p><a href="/">Home</a> · <a href="/login">Sign in</a> · <a href="/refresh">Refresh</a> · <a href="/logout">Sign out</a></p>
</body></html>`);
}

function errorBlock(error) {
  return `<p id="error" role="alert"><code class="code">${escape(error.error)}</code>: ` +
    `<span class="description">${escape(error.error_description || '')}</span></p>`;
}

function failed(response, title, error) {
  last.error = error;
  console.error(`${title}: ${error.error}: ${error.error_description}`);
  page(response, 200, title, errorBlock(error));
}

// -- routes ------------------------------------------------------------------------------------------

async function login(request, response, url) {
  const session = sessionOf(request, response);
  const flow = {
    verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce(),
  };
  const parameters = {
    redirect_uri: `${base}/callback`,
    scope: url.searchParams.get('scope') || 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
    code_challenge_method: 'S256',
    state: flow.state,
    nonce: flow.nonce,
  };
  for (const name of ['prompt', 'max_age', 'login_hint']) {
    if (url.searchParams.has(name)) parameters[name] = url.searchParams.get(name);
  }
  if (parameters.max_age !== undefined) flow.maxAge = Number(parameters.max_age);
  session.flow = flow;
  const target = client.buildAuthorizationUrl(await config(), parameters);
  response.writeHead(302, { Location: target.href, 'Cache-Control': 'no-store' });
  response.end();
}

async function callback(request, response, url) {
  const session = sessionOf(request, response);
  const flow = session.flow;
  session.flow = undefined; // one answer per request: a replayed callback has nothing to match
  if (!flow) {
    failed(response, 'Sign-in failed', { where: 'callback', error: 'no_flow', error_description: 'no sign-in under way' });
    return;
  }
  const configured = await config();
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(configured, new URL(url.pathname + url.search, base), {
      pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce,
      ...(flow.maxAge !== undefined ? { maxAge: flow.maxAge } : {}),
    });
  } catch (error) {
    failed(response, 'Sign-in failed', errorOf(error, 'callback'));
    return;
  }
  keepTokens(session, tokens);
  let userinfo = null;
  let userinfoError = null;
  try {
    userinfo = await client.fetchUserInfo(configured, tokens.access_token, session.claims.sub);
  } catch (error) {
    userinfoError = errorOf(error, 'userinfo');
  }
  session.userinfo = userinfo;
  last.userinfo = userinfo;
  last.error = userinfoError;
  page(response, 200, 'Signed in',
    `<p id="who">signed in as ${escape(session.claims.email || session.claims.sub)}</p>
<h2>ID token claims</h2><pre id="claims" aria-label="ID token claims">${json(session.claims)}</pre>
<h2>Userinfo</h2><pre id="userinfo" aria-label="Userinfo">${json(userinfo)}</pre>
<p id="refresh-token">${session.refresh_token ? 'a refresh token was issued' : 'no refresh token'}</p>
${userinfoError ? errorBlock(userinfoError) : ''}`);
}

async function refresh(request, response, url) {
  const session = sessionOf(request, response);
  const presented = url.searchParams.get('token') || session.refresh_token;
  if (!presented) {
    failed(response, 'Refresh failed', { where: 'refresh', error: 'no_refresh_token', error_description: 'nothing to refresh with' });
    return;
  }
  let tokens;
  try {
    tokens = await client.refreshTokenGrant(await config(), presented);
  } catch (error) {
    last.refresh = { presented, ok: false };
    failed(response, 'Refresh failed', errorOf(error, 'refresh'));
    return;
  }
  const rotated = Boolean(tokens.refresh_token) && tokens.refresh_token !== presented;
  keepTokens(session, tokens);
  last.refresh = {
    presented, ok: true, new_refresh_token: rotated, id_token_returned: Boolean(tokens.id_token),
    expires_in: tokens.expires_in ?? null, scope: tokens.scope ?? null,
  };
  page(response, 200, 'Refreshed',
    `<p id="rotated">${rotated ? 'a new refresh token was returned' : 'no new refresh token'}</p>
<h2>Tokens</h2><pre id="tokens" aria-label="Tokens">${json({
      token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope,
      id_token: Boolean(tokens.id_token), refresh_token: Boolean(tokens.refresh_token),
    })}</pre>
<h2>ID token claims</h2><pre id="claims" aria-label="ID token claims">${json(session.claims || null)}</pre>`);
}

async function logout(request, response) {
  const session = sessionOf(request, response);
  const idToken = session.id_token;
  for (const key of Object.keys(session)) if (key !== 'id') delete session[key];
  Object.assign(last, { signed_in: false, logged_out: true });
  const parameters = { post_logout_redirect_uri: `${base}/` };
  if (idToken) parameters.id_token_hint = idToken;
  const target = client.buildEndSessionUrl(await config(), parameters);
  response.writeHead(302, { Location: target.href, 'Cache-Control': 'no-store' });
  response.end();
}

function home(request, response) {
  const session = sessionOf(request, response);
  const who = session.claims && (session.claims.email || session.claims.sub);
  page(response, 200, 'openid-client RP',
    who ? `<p id="who">signed in as ${escape(who)}</p>` : '<p id="who">signed out</p>');
}

const routes = { '/': home, '/login': login, '/callback': callback, '/refresh': refresh, '/logout': logout };

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url, base);
  try {
    if (url.pathname === '/state') {
      response.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      response.end(JSON.stringify(last));
      return;
    }
    const route = routes[url.pathname];
    if (!route || request.method !== 'GET') {
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end('not found');
      return;
    }
    await route(request, response, url);
  } catch (error) {
    // Discovery failing, a bug here: shown on the page, and the server carries on.
    if (!response.headersSent) failed(response, 'Error', errorOf(error, url.pathname));
    else response.end();
  }
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  base = `http://localhost:${server.address().port}`;
  console.log(JSON.stringify({ url: base }));
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
// The test holds our stdin open: if it dies without stopping us, the pipe closes and we go too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
