// Signing in: with the identity provider (the server's /auth/login, when /v1/auth/config says it is
// set up) or with an API key (POST /auth/key); either way the server keeps the session and the
// browser an HttpOnly cookie. /v1/me says who is signed in; the header shows it.
import { ApiError, api } from "./api.js";
import { $, trapFocus } from "./dom.js";

const dialog = $("signin");
let me = null; // the last /v1/me answer, or null when unknown / refused
let lastFocus = null;
let provider = null; // the identity provider's name when the server offers sign-in with it

async function loadConfig() {
  try {
    const config = await api("/v1/auth/config");
    provider = config.oidc ? config.provider_name : null;
  } catch { provider = null; }
  for (const id of ["signin-provider", "signin-dialog-provider"]) {
    $(id).textContent = `Sign in with ${provider || ""}`;
    $(id).hidden = !provider;
  }
}

export function currentUser() {
  return me;
}

function changed() {
  window.dispatchEvent(new CustomEvent("folio:auth-changed", { detail: me }));
}

function render() {
  const status = $("account-status");
  const signedIn = Boolean(me && !me.anonymous);
  $("signin-open").hidden = signedIn;
  $("signin-provider").hidden = signedIn || !provider;
  $("signout").hidden = !signedIn;
  if (!me) {
    status.textContent = "Not signed in";
  } else if (me.anonymous) {
    status.textContent = "Browsing anonymously (public pages)";
  } else {
    const groups = me.admin ? "admin" : (me.groups.length ? me.groups.join(", ") : "no groups");
    status.textContent = `${me.name ? `Signed in as ${me.name}` : "Signed in"} · ${groups}`;
    status.title = me.key_id ? `Key ${me.key_id}` : "";
  }
}

export async function refreshMe() {
  if (provider === null) await loadConfig();
  try {
    me = await api("/v1/me");
  } catch (err) {
    me = null;
    if (!(err instanceof ApiError) || err.status !== 401) {
      $("account-status").textContent = "Server unavailable";
      return me;
    }
  }
  render();
  return me;
}

export function openSignIn(reason) {
  if (dialog.open) return;
  lastFocus = document.activeElement;
  $("signin-reason").textContent = reason || "Enter your API key. The server keeps it for this browser's session.";
  $("signin-error").textContent = "";
  $("signin-key").value = "";
  $("signin-dialog-provider").hidden = !provider;
  dialog.showModal();
  $("signin-key").focus();
}

async function submit(e) {
  e.preventDefault();
  const key = $("signin-key").value.trim();
  if (!key) {
    $("signin-error").textContent = "Enter an API key.";
    return;
  }
  try {
    me = await api("/auth/key", { method: "POST", json: { key } });
  } catch (err) {
    $("signin-error").textContent = err instanceof ApiError && err.status === 401
      ? "This key is not valid (or it was revoked)."
      : err.message;
    return;
  }
  dialog.close();
  render();
  changed();
}

export function initAuth() {
  trapFocus(dialog);
  $("signin-form").addEventListener("submit", submit);
  $("signin-cancel").addEventListener("click", () => dialog.close());
  $("signin-open").addEventListener("click", () => openSignIn());
  dialog.addEventListener("close", () => {
    if (lastFocus && lastFocus.isConnected) lastFocus.focus();
  });
  // A provider session goes on to the provider's sign-out page; a key session stays on this page.
  $("signout").addEventListener("click", async () => {
    try {
      const { logout_url: next } = await api("/auth/logout", { method: "POST" });
      if (next) {
        window.location.assign(next);
        return;
      }
    } catch { /* the session is gone either way: show what the server says now */ }
    await refreshMe();
    changed();
  });
  window.addEventListener("folio:unauthorized", () => {
    if (me && !me.anonymous && !dialog.open) {
      // The session ended (key revoked, provider refused to refresh it, or it expired).
      me = null;
      render();
      openSignIn("Your session has ended. Sign in again.");
      return;
    }
    if (!dialog.open) {
      me = null;
      render();
      openSignIn("This server needs an API key. Ask an administrator for one if you have none.");
    }
  });
}
