// Signet demo page. The access token lives in memory only; the refresh
// token is an HttpOnly cookie set by the issuer (cookie mode), so no script
// on this page can read it. Requests that use the cookie carry the
// X-Signet-CSRF header, which a cross-site form cannot send.
"use strict";

const signet = (() => {
  let config = null;        // {issuer, shop, video, shop_resource, ...}
  // One access token per API, in memory only: each is for that API's
  // resource (its aud), so neither API accepts the other's.
  let tokens = { shop: null, video: null };
  let refreshTimer = null;

  const $ = (id) => document.getElementById(id);

  function status(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  // unreachable explains a fetch that failed without a response. The
  // browser hides why: a refused CORS preflight (this page's origin is not
  // allowed) and a server that is down look the same. A public document
  // that every origin may read tells them apart.
  async function unreachable(name, base, setting) {
    const origin = window.location.origin;
    let up = false;
    try {
      up = (await fetch(base + "/.well-known/openid-configuration")).ok;
    } catch (e) {
      up = false;
    }
    if (up) {
      return new Error("The " + name + " at " + base + " refused this page's origin " + origin +
        " (the CORS preflight failed): start it with " + setting + "=" + origin + ".");
    }
    return new Error("No answer from the " + name + " at " + base + ": is it running? If it is, it must allow this page's origin " +
      origin + " (" + setting + "=" + origin + ").");
  }

  async function issuer(path, body, token) {
    const headers = { "Content-Type": "application/json", "X-Signet-CSRF": "1" };
    if (token) headers["Authorization"] = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(config.issuer + path, {
        method: "POST",
        credentials: "include", // send and receive the refresh cookie
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const err = await unreachable("issuer", config.issuer, "SIGNET_CORS_ORIGINS");
      err.status = 0;
      throw err;
    }
    const text = await resp.text();
    const data = text ? JSON.parse(text) : {};
    if (!resp.ok) {
      const err = new Error(data.error_description || resp.statusText);
      err.code = data.error;
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // Tokens arrived for the API name: keep the access token and refresh
  // shortly before it expires (30 s before, or at 80% of a short lifetime).
  function signedIn(name, data) {
    tokens[name] = data.access_token;
    $("who").textContent = data.user.email;
    $("expires").textContent = data.expires_in;
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
    clearTimeout(refreshTimer);
    const lead = Math.min(30, data.expires_in * 0.2);
    refreshTimer = setTimeout(() => refresh().catch(() => {}), (data.expires_in - lead) * 1000);
  }

  function signedOut(message) {
    tokens = { shop: null, video: null };
    clearTimeout(refreshTimer);
    $("signed-in").hidden = true;
    if ($("reset").hidden && $("forgot").hidden) $("signed-out").hidden = false;
    $("shop-result").textContent = "–";
    $("video-result").textContent = "–";
    $("overview-result").textContent = "–";
    if (message) status(message);
  }

  // show displays one of the account sections.
  function show(id) {
    for (const s of ["signed-out", "forgot", "reset"]) $(s).hidden = s !== id;
  }

  async function signup() {
    const email = $("email").value, password = $("password").value;
    const data = await issuer("/v1/signup", { email, password });
    // Open mode answers 201 with the user; private mode 202 {} whatever
    // the address, and the rest happens by mail.
    status(data.user
      ? "Account created for " + email + ". Check your mail to confirm the address, then sign in."
      : "Check your mail: if " + email + " can be used, a link to confirm it is on its way.");
  }

  async function signin() {
    const email = $("email").value, password = $("password").value;
    try {
      signedIn("shop", await issuer("/v1/signin", {
        email, password, refresh_cookie: true, resource: config.shop_resource, scope: config.shop_scope,
      }));
      // The same session mints the video API's token: refresh for its
      // resource.
      await refreshFor("video");
    } catch (err) {
      if (err.code === "email_not_verified") $("resend").hidden = false;
      throw err;
    }
    $("password").value = "";
    $("resend").hidden = true;
    status("Signed in.");
  }

  async function resend() {
    await issuer("/v1/verify/resend", { email: $("email").value });
    status("A new confirmation link is on its way to " + $("email").value + ".");
  }

  async function forgot() {
    const email = $("forgot-email").value;
    await issuer("/v1/password/forgot", { email });
    show("signed-out");
    $("email").value = email;
    status("If " + email + " has an account, a link to choose a new password is on its way.");
  }

  // The links in messages open this page at a path per flow, with the
  // token in the fragment (never sent to a server). The token is taken
  // out of the address bar before anything else.
  let linkToken = "";
  function takeLinkToken() {
    const params = new URLSearchParams(location.hash.slice(1));
    linkToken = params.get("token") || "";
    const path = location.pathname;
    history.replaceState(null, "", "/");
    return path;
  }

  async function landing(path) {
    switch (path) {
      case "/verify-email": {
        const data = await issuer("/v1/verify", { token: linkToken });
        $("email").value = data.user.email;
        status("Your address " + data.user.email + " is confirmed. You can sign in.");
        return true;
      }
      case "/reset-password":
        show("reset");
        status("Choose a new password.");
        return true;
      case "/forgot-password":
        show("forgot");
        return true;
      case "/confirm-email": {
        const data = await issuer("/v1/email/confirm", { token: linkToken });
        status("Your account's address is now " + data.user.email + ".");
        return true;
      }
      case "/cancel-email-change":
        await issuer("/v1/email/cancel", { token: linkToken });
        status("The change of address is cancelled, and every session is signed out.");
        return true;
    }
    return false;
  }

  async function reset() {
    await issuer("/v1/password/reset", { token: linkToken, password: $("reset-password").value });
    linkToken = "";
    $("reset-password").value = "";
    signedOut();
    show("signed-out");
    status("Your password is changed and every session was signed out. Sign in with the new password.");
  }

  // refreshFor rotates the cookie's refresh token and gets the access
  // token for one API's resource.
  async function refreshFor(name) {
    const data = await issuer("/v1/token/refresh", { resource: config[name + "_resource"], scope: config[name + "_scope"] });
    signedIn(name, data);
    return data;
  }

  // refresh gets new tokens for both APIs, one after the other; with no
  // cookie (or a revoked session) the page shows the sign-in form.
  async function refresh() {
    try {
      await refreshFor("shop");
      return await refreshFor("video");
    } catch (err) {
      if (err.status === 0) {
        signedOut();
        status(err.message, true);
      } else {
        signedOut(err.status === 400 || err.status === 401 ? "Please sign in." : "Refresh failed: " + err.message);
      }
      throw err;
    }
  }

  // callAPI calls an API with its own token: "shop" and "video" ask who
  // is signed in; "overview" asks the shop API for orders and videos,
  // which it gets from the video API with a token exchanged for yours.
  async function callAPI(name) {
    const out = $(name + "-result");
    const api = name === "overview" ? "shop" : name;
    const path = name === "overview" ? "/api/overview" : "/api/me";
    let resp;
    try {
      resp = await fetch(config[api] + path, { headers: { Authorization: "Bearer " + tokens[api] } });
    } catch (e) {
      const origin = window.location.origin;
      out.textContent = "–";
      throw new Error("No answer from the " + api + " API at " + config[api] + ": is it running, with ALLOWED_ORIGINS=" + origin + "?");
    }
    const data = await resp.json();
    out.textContent = resp.status + " " + JSON.stringify(data, null, 2);
    return { status: resp.status, body: data };
  }

  // signout ends the session of the refresh cookie (the access tokens
  // are for the APIs, not for the issuer).
  async function signout() {
    await issuer("/v1/signout");
    signedOut("Signed out.");
  }

  function guard(fn) {
    return (ev) => {
      if (ev) ev.preventDefault();
      fn().catch((err) => status(err.message, true));
    };
  }

  async function start() {
    config = await (await fetch("config.json")).json();
    $("signup").addEventListener("click", guard(signup));
    $("auth-form").addEventListener("submit", guard(signin));
    $("call-shop").addEventListener("click", guard(() => callAPI("shop")));
    $("call-video").addEventListener("click", guard(() => callAPI("video")));
    $("call-overview").addEventListener("click", guard(() => callAPI("overview")));
    $("refresh").addEventListener("click", guard(refresh));
    $("signout").addEventListener("click", guard(signout));
    $("resend").addEventListener("click", guard(resend));
    $("forgot-open").addEventListener("click", (ev) => {
      ev.preventDefault();
      $("forgot-email").value = $("email").value;
      show("forgot");
    });
    $("forgot-cancel").addEventListener("click", () => show("signed-out"));
    $("forgot-form").addEventListener("submit", guard(forgot));
    $("reset-form").addEventListener("submit", guard(reset));
    const path = takeLinkToken();
    let landed = false;
    try {
      landed = await landing(path);
    } catch (err) {
      status(err.message, true);
      landed = true;
    }
    // A reload (or a second tab) resumes the session from the cookie.
    if (!landed || path === "/confirm-email") await refresh().catch(() => {});
    document.body.dataset.ready = "true";
  }

  start();
  // For tests and the console: an identifier of the shop API's current
  // access token (its signature's tail), never the token itself.
  const tokenID = () => (tokens.shop ? tokens.shop.slice(-16) : "");
  return { refresh, callAPI, signin, signup, signout, tokenID };
})();
