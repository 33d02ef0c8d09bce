// A real OpenID Provider (npm oidc-provider) standing in for a legacy IdP in Ferry's tests.
//
// Started by tests/peers/oidc_provider/__init__.py as `node server.js`; configured by the
// environment:
//   ACCOUNTS            JSON {login: {email, email_verified, given_name, family_name, name}};
//                       the login is the account's `sub` (oidc-provider uses the account id)
//   REGISTRATION_TOKEN  initial access token for dynamic client registration (POST /reg)
//   PORT                port to listen on (0: any free one)
// It listens on 127.0.0.1, builds its issuer from the bound port (http://localhost:PORT: the
// discovery document follows the Host header, so clients must use exactly that host) and prints
// one line of JSON {"issuer": ...} once it answers.
//
// Each test registers its own client (RFC 7591) with the callback of the Ferry it built, so one
// provider serves a whole test session. The built-in development login page (devInteractions)
// signs in any account below with any password; an unknown login is asked again.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';

import Provider from 'oidc-provider';

const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const registrationToken = process.env.REGISTRATION_TOKEN;
if (!registrationToken) {
  throw new Error('REGISTRATION_TOKEN is required');
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

const server = createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://localhost:${port}`;

  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomUUID()] },
    // Ferry must use PKCE (S256) with every client, confidential ones included.
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      acr: null,
    },
    acrValues: ['urn:ferry:test:loa:1', 'urn:ferry:test:loa:2'],
    features: {
      devInteractions: { enabled: true },
      claimsParameter: { enabled: true },
      registration: { enabled: true, initialAccessToken: registrationToken },
      rpInitiatedLogout: { enabled: false },
    },
    async findAccount(_ctx, id) {
      const account = accounts[id];
      if (!account) {
        return undefined;
      }
      return {
        accountId: id,
        async claims() {
          return { ...account, sub: id };
        },
      };
    },
  });
  provider.on('server_error', (_ctx, error) => console.error('server_error', error));
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
