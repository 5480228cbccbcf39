// The result grid: one card per hit (thumbnail, title, page, snippet, score) and the status line.
import { $, h, lazyImage, releaseImages, snippetNode } from "./dom.js";

const STAGES = [
  ["first_stage", "first stage"],
  ["image_loading", "images"],
  ["rerank", "rerank"],
  ["total", "total"],
];

function fileName(path) {
  return String(path || "").split(/[\\/]/).pop();
}

export function hitTitle(hit) {
  return hit.title || fileName(hit.source) || hit.doc_id;
}

function card(hit, index, onOpen) {
  const title = hitTitle(hit);
  const pages = hit.page_count > 1 ? `Page ${hit.page_number} of ${hit.page_count}` : `Page ${hit.page_number}`;
  const score = Number(hit.score).toFixed(3);
  const marks = (hit.highlights || []).length;
  const marked = marks ? `${marks} match${marks === 1 ? "" : "es"} marked on the page` : "";
  const button = h("button", {
    type: "button",
    class: "hit",
    "data-page-id": hit.page_id,
    "aria-label": `${title}, ${pages}, score ${score}${marked ? `, ${marked}` : ""}. Open page`,
    onclick: () => onOpen(hit, button),
  },
  h("span", { class: "thumb" },
    lazyImage(hit.thumbnail_url, { alt: "", width: 180, height: 240 }),
    marks ? h("span", { class: "thumb-marks", title: marked }, String(marks)) : null),
  h("span", { class: "hit-body" },
    h("span", { class: "hit-title", title }, title),
    h("span", { class: "hit-meta" },
      h("span", {}, pages),
      hit.collection && hit.collection !== "default" ? h("span", { class: "tag" }, hit.collection) : null,
      h("span", { class: "score", title: scoreTitle(hit) }, score)),
    hit.snippet ? snippetNode(hit.snippet) : null));
  return h("li", { style: `--i:${index % 12}` }, button);
}

function scoreTitle(hit) {
  const parts = [];
  if (hit.rerank_score !== null && hit.rerank_score !== undefined) {
    parts.push(`rerank ${Number(hit.rerank_score).toFixed(4)} (scored as ${hit.modality})`);
  }
  parts.push(`first stage ${Number(hit.first_stage_score).toFixed(4)}, rank ${hit.first_stage_rank}`);
  return parts.join("; ");
}

export function clearResults() {
  const list = $("results");
  releaseImages(list);
  list.replaceChildren();
  $("search-status").replaceChildren();
  $("more").hidden = true;
}

export function renderResults(response, { append, onOpen, request }) {
  const list = $("results");
  if (!append) {
    releaseImages(list);
    list.replaceChildren();
  }
  const start = list.children.length;
  // The viewer is told the words searched for: other pages' marks and the PDF link need them.
  const open = (hit, from) => onOpen(hit, from, (request && request.query) || "");
  list.append(...response.hits.map((hit, i) => card(hit, start + i, open)));
  const shown = list.children.length;
  $("more").hidden = shown >= response.total || response.hits.length === 0;
  renderStatus(response, shown, request || {});
}

function renderStatus(response, shown, request) {
  const status = $("search-status");
  // For an image query the server's `query` is the image's OCR text: name what the user gave.
  const words = request.query ? `“${request.query}”` : "";
  const what = request.image ? (words ? `this image and ${words}` : "this image") : words || `“${response.query}”`;
  const count = response.total === 0
    ? h("span", {}, `No pages match ${what}.`)
    : h("span", {}, `${shown} of ${response.total} page${response.total === 1 ? "" : "s"} for ${what}`);
  const items = [count];
  if (!response.reranked && response.total > 0) {
    const reason = response.rerank_reason || "reranking was skipped";
    items.push(h("span", { class: "badge badge-warn", title: reason, id: "not-reranked" },
      "Not reranked", h("span", { class: "badge-reason" }, `: ${reason}`)));
  } else if (response.reranked) {
    items.push(h("span", { class: "badge" }, "Reranked"));
  }
  const t = response.timings_ms || {};
  const timing = STAGES.filter(([k]) => typeof t[k] === "number")
    .map(([k, label]) => `${label} ${Math.round(t[k])} ms`).join(" · ");
  if (timing) items.push(h("span", { class: "timings", title: "Where the time went" }, timing));
  status.replaceChildren(...items);
}

export function showMessage(text, kind = "info") {
  const list = $("results");
  releaseImages(list);
  list.replaceChildren();
  $("more").hidden = true;
  $("search-status").replaceChildren(h("span", { class: kind === "error" ? "error" : "muted" }, text));
}
