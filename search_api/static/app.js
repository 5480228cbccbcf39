// Folio portal: search (text or image), results, page viewer, uploads and sign-in.
// Plain ES modules, no framework, no build step.
import { ApiError, api } from "./js/api.js";
import { currentUser, initAuth, refreshMe } from "./js/auth.js";
import { $, h } from "./js/dom.js";
import { clearImageQuery, imageQuery, initImageQuery } from "./js/imagequery.js";
import { clearResults, renderResults, showMessage } from "./js/results.js";
import { initUpload } from "./js/upload.js";
import { openViewer } from "./js/viewer.js";

const PAGE_SIZE = 24;
let inFlight = null;
let last = null; // the last request body, for "show more" and re-running after sign-in

function searchBody(offset) {
  const body = {
    query: $("q").value.trim(),
    mode: $("mode").value,
    top_n: PAGE_SIZE,
    offset,
  };
  if (body.mode === "bm25" && $("feedback").checked) body.feedback = true;
  const collection = $("collection").value;
  if (collection) body.collection = collection;
  const image = imageQuery();
  if (image) body.image = image.dataUrl;
  return body;
}

function describeError(err) {
  if (!(err instanceof ApiError)) return "Something went wrong. Try again.";
  if (err.status === 401) return "Sign in to search.";
  if (err.status === 429 || err.status === 503) {
    return `The search service is busy or unavailable right now. Try again shortly. (${err.detail})`;
  }
  return err.detail || err.message;
}

async function runSearch({ append = false, body = null } = {}) {
  const request = body || (append && last ? { ...last, offset: last.offset + PAGE_SIZE } : searchBody(0));
  if (!request.query && !request.image) {
    showMessage("Type some words or add an image to search.");
    $("q").focus();
    return;
  }
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  last = request;
  if (!append) {
    $("search-status").replaceChildren(h("span", { class: "muted" }, "Searching…"));
    remember(request);
  }
  $("results").setAttribute("aria-busy", "true");
  try {
    const response = await api("/v1/search", { method: "POST", json: request, signal: controller.signal });
    renderResults(response, { append, onOpen: openViewer, request });
  } catch (err) {
    if (err.name !== "AbortError") showMessage(describeError(err), "error");
  } finally {
    if (inFlight === controller) inFlight = null;
    $("results").removeAttribute("aria-busy");
  }
}

// The search lives in the address (?q=…&mode=…&collection=…) so it can be shared and reloaded.
function remember(request) {
  const params = new URLSearchParams();
  if (request.query) params.set("q", request.query);
  if (request.mode !== "hybrid") params.set("mode", request.mode);
  if (request.feedback) params.set("feedback", "1");
  if (request.collection) params.set("collection", request.collection);
  const url = params.toString() ? `?${params}` : location.pathname;
  history.replaceState(null, "", url);
}

async function loadCollections() {
  let documents = [];
  try {
    documents = (await api("/v1/documents")).documents || [];
  } catch (err) {
    // Signed out: forget the collections the last key could see. Store down: keep them.
    if (!(err instanceof ApiError) || err.status !== 401) return;
  }
  const names = [...new Set(documents.map((d) => d.collection).filter(Boolean))].sort();
  const select = $("collection");
  const chosen = select.value || new URLSearchParams(location.search).get("collection") || "";
  select.replaceChildren(h("option", { value: "" }, "All collections"),
    ...names.map((n) => h("option", { value: n }, n)));
  select.value = names.includes(chosen) ? chosen : "";
  $("collection-list").replaceChildren(...names.map((n) => h("option", { value: n })));
}

function restoreFromAddress() {
  const params = new URLSearchParams(location.search);
  const mode = params.get("mode");
  if (mode && ["hybrid", "bm25", "knn"].includes(mode)) $("mode").value = mode;
  $("feedback").checked = params.get("feedback") === "1";
  showFeedbackOption();
  const q = params.get("q");
  if (q) $("q").value = q;
  return Boolean(q);
}

function initKeys() {
  // "/" jumps to the search box from anywhere that is not a text field.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const el = document.activeElement;
    if (el && (el.matches("input, textarea, select") || el.isContentEditable)) return;
    if (document.querySelector("dialog[open]")) return;
    e.preventDefault();
    $("q").focus();
    $("q").select();
  });
}

let collectionsTimer = 0;
function reloadCollectionsSoon() {
  clearTimeout(collectionsTimer);
  collectionsTimer = setTimeout(loadCollections, 500);
}

// Feedback (docstore.feedback) expands keyword searches only: the option shows with that mode.
function showFeedbackOption() {
  $("feedback-option").hidden = $("mode").value !== "bm25";
}

async function start() {
  initAuth();
  initUpload();
  initImageQuery(() => runSearch());
  initKeys();
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(); });
  $("mode").addEventListener("change", () => { showFeedbackOption(); if (last) runSearch(); });
  $("feedback").addEventListener("change", () => { if (last) runSearch(); });
  $("collection").addEventListener("change", () => { if (last) runSearch(); });
  $("more").addEventListener("click", () => runSearch({ append: true }));
  $("image-query-clear").addEventListener("click", () => { if (last && last.image) last = null; });
  window.addEventListener("folio:indexed", reloadCollectionsSoon);
  window.addEventListener("folio:auth-changed", () => {
    clearResults(); // what one key found is not for the next one to see
    loadCollections();
    if (last) runSearch({ body: { ...last, offset: 0 } });
  });
  const pending = restoreFromAddress();
  const me = await refreshMe();
  if (me || currentUser()) {
    await loadCollections();
    if (pending) runSearch();
  }
}

clearImageQuery();
start();
