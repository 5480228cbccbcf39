// Talking to the Folio API: JSON requests, authorised image blobs, uploads. The browser is signed
// in by an HttpOnly session cookie (the server's /auth/*): no key or token is kept here. Requests
// that change something echo the session's CSRF cookie in a header.

const CSRF_COOKIE = "folio_csrf";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

export function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return found ? decodeURIComponent(found.slice(CSRF_COOKIE.length + 1)) : "";
}

function csrfHeaders(method) {
  const token = csrfToken();
  return token && !["GET", "HEAD"].includes(method) ? { "X-CSRF-Token": token } : {};
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
  const headers = { Accept: "application/json", ...csrfHeaders(method) };
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

// Fetched and shown as blob URLs, so a refused image reports its 401 like any other request.
export async function imageUrl(path, signal) {
  const res = await fetch(path, { signal });
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
    const token = csrfToken();
    if (token) xhr.setRequestHeader("X-CSRF-Token", token);
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
