// Talking to the Folio API: the stored key, JSON requests, authorised image blobs, uploads.

const KEY_STORAGE = "folio.apiKey";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

export function getKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
  } catch { /* private mode: the key lives for this page only */ }
}

function authHeaders() {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// Any 401 means "show the sign-in form"; listeners decide how.
function unauthorized(detail) {
  window.dispatchEvent(new CustomEvent("folio:unauthorized", { detail }));
}

async function errorDetail(res) {
  try {
    const body = await res.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || String(d)).join("; ");
  } catch { /* not JSON */ }
  return res.statusText || `HTTP ${res.status}`;
}

export async function api(path, { method = "GET", json, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  const init = { method, headers, signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  if (!res.ok) {
    const detail = await errorDetail(res);
    if (res.status === 401) unauthorized(detail);
    throw new ApiError(res.status, detail);
  }
  return res.json();
}

// <img src> cannot carry an Authorization header, so images are fetched and shown as blob URLs.
export async function imageUrl(path, signal) {
  const res = await fetch(path, { headers: authHeaders(), signal });
  if (!res.ok) {
    if (res.status === 401) unauthorized(await errorDetail(res));
    throw new ApiError(res.status, `image unavailable (${res.status})`);
  }
  return URL.createObjectURL(await res.blob());
}

// XMLHttpRequest rather than fetch: only it reports upload progress.
export function uploadFile(file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("files", file, file.name);
    for (const [name, value] of Object.entries(fields)) if (value) form.append(name, value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    const key = getKey();
    if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
      const detail = xhr.response && typeof xhr.response.detail === "string" ? xhr.response.detail : "";
      if (xhr.status === 401) unauthorized(detail);
      reject(new ApiError(xhr.status, detail));
    };
    xhr.onerror = () => reject(new ApiError(0, "The upload was interrupted. Check your connection and try again."));
    xhr.send(form);
  });
}
