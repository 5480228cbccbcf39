// Signing in with an API key: kept in localStorage, checked against /v1/me, shown in the header.
import { ApiError, api, getKey, setKey } from "./api.js";
import { $, trapFocus } from "./dom.js";

const dialog = $("signin");
let me = null; // the last /v1/me answer, or null when unknown / refused
let lastFocus = null;

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
  $("signout").hidden = !signedIn;
  if (!me) {
    status.textContent = "Not signed in";
  } else if (me.anonymous) {
    status.textContent = "Browsing anonymously (public pages)";
  } else {
    const groups = me.admin ? "admin" : (me.groups.length ? me.groups.join(", ") : "no groups");
    status.textContent = `Signed in · ${groups}`;
    status.title = `Key ${me.key_id || ""}`;
  }
}

export async function refreshMe() {
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
  $("signin-reason").textContent = reason || "Enter your API key. It stays in this browser only.";
  $("signin-error").textContent = "";
  $("signin-key").value = "";
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
  const previous = getKey();
  setKey(key);
  try {
    me = await api("/v1/me");
  } catch (err) {
    setKey(previous);
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
  $("signout").addEventListener("click", async () => {
    setKey("");
    await refreshMe();
    changed();
  });
  window.addEventListener("folio:unauthorized", (e) => {
    if (getKey() && !dialog.open) {
      // The stored key stopped working (revoked): forget it.
      setKey("");
      me = null;
      render();
      openSignIn("Your API key is no longer accepted. Sign in again.");
      return;
    }
    if (!dialog.open) {
      me = null;
      render();
      openSignIn("This server needs an API key. Ask an administrator for one if you have none.");
    }
  });
}
