// Uploading documents: drag and drop or a file picker, per-file progress, then the indexing
// job's status, with errors in plain words.
import { ApiError, api, uploadFile } from "./api.js";
import { $, formatBytes, h } from "./dom.js";

const ACCEPTED = /\.(pdf|txt|md)$/i;
const PARALLEL = 2; // uploads at once: enough to overlap, gentle on a slow link
const queue = [];
let active = 0;

// Server and indexer messages are technical; users get what happened and what to do.
export function plainError(status, detail) {
  const text = String(detail || "");
  if (status === 413 || /too large|too big|exceeds/i.test(text)) {
    return "This file is too large to upload. Split it or ask an administrator to raise the limit.";
  }
  if (status === 415 && /not a pdf|not a text/i.test(text)) {
    return "This file is damaged or is not really a PDF or text file, so it cannot be read.";
  }
  if (status === 415) return "This file type is not supported. Upload PDF, .txt or .md files.";
  if (status === 401) return "Sign in to upload documents.";
  if (status === 403) return "Your API key is not allowed to upload documents.";
  if (status === 404) {
    return "Uploaded, but the server no longer knows its indexing job (it may have restarted). Search for it shortly.";
  }
  if (status === 429 || status === 503) return "The server is busy. Try again in a minute.";
  if (/encrypt|password/i.test(text)) {
    return "This PDF is password-protected (encrypted), so it cannot be read. Remove the password and upload it again.";
  }
  if (/^empty|zero-byte/i.test(text)) return "This file is empty: there is nothing in it to index.";
  if (/damaged|corrupt|broken|malformed|unreadable|cannot be opened|not a pdf|invalid pdf|no pages/i.test(text)) {
    return "This file is damaged or is not a valid PDF, so it cannot be read.";
  }
  if (status === 0) return text || "The upload was interrupted. Try again.";
  return text ? `It could not be indexed: ${text}` : "It could not be indexed.";
}

function row(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload progress of ${file.name}` });
  const state = h("span", { class: "upload-state" }, "Waiting…");
  const li = h("li", { class: "upload-item" },
    h("span", { class: "upload-name", title: file.name }, file.name),
    h("span", { class: "muted" }, formatBytes(file.size)),
    progress, state);
  $("uploads").prepend(li);
  return {
    li,
    set(text, kind) {
      state.textContent = text;
      li.dataset.state = kind || "";
    },
    progress(fraction) { progress.value = Math.round(fraction * 100); },
    done() { progress.classList.add("done"); }, // keeps its grid cell, so rows stay aligned
  };
}

async function pollJob(statusUrl, fileName, ui) {
  let delay = 500;
  for (;;) {
    const job = await api(statusUrl);
    const file = (job.files || []).find((f) => f.name === fileName) || (job.files || [])[0];
    const state = file ? file.state : job.state;
    if (state === "indexed") {
      const pages = file && file.pages ? ` — ${file.pages} page${file.pages === 1 ? "" : "s"}` : "";
      ui.set(`Indexed${pages}`, "ok");
      window.dispatchEvent(new CustomEvent("folio:indexed"));
      return;
    }
    // "skipped" covers both an unchanged file (fine) and one that cannot be read (not fine).
    const error = file && file.error;
    if (state === "skipped" && (!error || /unchanged|already indexed/i.test(error))) {
      ui.set("Already indexed (unchanged)", "ok");
      return;
    }
    if (state === "skipped" || state === "failed") { ui.set(plainError(200, error), "error"); return; }
    if (job.state === "done" || job.state === "failed") {
      ui.set(job.state === "done" ? "Done" : plainError(200, error), job.state === "done" ? "ok" : "error");
      return;
    }
    ui.set(state === "running" ? "Indexing…" : "Queued for indexing…", "busy");
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 3000);
  }
}

async function send(file, ui) {
  const fields = {
    collection: $("upload-collection").value.trim(),
    groups: $("upload-groups").value.trim(),
  };
  try {
    ui.set("Uploading…", "busy");
    const job = await uploadFile(file, fields, (f) => ui.progress(f));
    ui.progress(1);
    ui.done();
    ui.set("Queued for indexing…", "busy");
    await pollJob(job.status_url || `/v1/jobs/${job.job_id}`, file.name, ui);
  } catch (err) {
    ui.done();
    ui.set(plainError(err instanceof ApiError ? err.status : 0, err.detail || err.message), "error");
  }
}

function pump() {
  while (active < PARALLEL && queue.length) {
    const [file, ui] = queue.shift();
    active += 1;
    send(file, ui).finally(() => { active -= 1; pump(); });
  }
}

export function addFiles(files) {
  for (const file of files) {
    const ui = row(file);
    if (!ACCEPTED.test(file.name)) {
      ui.done();
      ui.set(plainError(415, ""), "error");
      continue;
    }
    queue.push([file, ui]);
  }
  pump();
}

export function initUpload() {
  const zone = $("dropzone");
  const picker = $("upload-pick");
  picker.addEventListener("change", () => { addFiles([...picker.files]); picker.value = ""; });
  zone.addEventListener("dragover", (e) => {
    if (![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    addFiles([...e.dataTransfer.files]);
  });
}
