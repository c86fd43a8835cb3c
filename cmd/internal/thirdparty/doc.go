// Package thirdparty holds tests in which software written elsewhere
// (oauth2-proxy, driven by Chromium) signs users in with Signet as its
// OpenID Provider. It has no code of its own.
package thirdparty
