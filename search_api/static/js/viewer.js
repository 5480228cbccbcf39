// The page viewer: a modal dialog with the page image and the query's highlight boxes on it, a
// strip of the document's pages and a link to the original PDF at that page.
import { api } from "./api.js";
import { $, h, lazyImage, releaseImages, setImage, snippetNode, trapFocus } from "./dom.js";
import { drawHighlights, stepHighlight } from "./highlights.js";
import { hitTitle } from "./results.js";

const dialog = $("viewer");
const strip = $("viewer-strip");
const layer = $("viewer-highlights");
// { hit, query, pages: [{page_id, page_number, image_url, thumbnail_url}], pageNumber,
//   documentUrl (null until the document says its original is stored), marks: page_id -> marks,
//   marksShown: the page_id whose marks are drawn }
let current = null;
let opener = null;
let loadToken = 0;

trapFocus(dialog);
$("viewer-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  releaseImages(dialog);
  $("viewer-image").removeAttribute("src");
  delete $("viewer-image").dataset.shown;
  strip.replaceChildren();
  drawHighlights(layer, []);
  current = null;
  if (opener && opener.isConnected) opener.focus();
});
// A click on the backdrop (outside the dialog box) closes it, as Escape does.
dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
dialog.addEventListener("keydown", (e) => {
  if (!current || e.target.closest("input, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "ArrowRight") { step(1); e.preventDefault(); }
  if (e.key === "ArrowLeft") { step(-1); e.preventDefault(); }
  if (e.key === "n") { stepMatch(1); e.preventDefault(); }
  if (e.key === "p") { stepMatch(-1); e.preventDefault(); }
});
$("match-next").addEventListener("click", () => stepMatch(1));
$("match-prev").addEventListener("click", () => stepMatch(-1));

// The PDF link needs nothing more: the session cookie goes with it.

function pageCaption(hit, pageNumber) {
  const count = hit.page_count || (current && current.pages.length) || pageNumber;
  return `Page ${pageNumber} of ${count}`;
}

// pdf.js and Chromium's viewer open a PDF at `page`; pdf.js also finds and marks the `search` words.
function pdfPageUrl(documentUrl, pageNumber, words) {
  const search = words ? `&search=${encodeURIComponent(words)}` : "";
  return `${documentUrl}#page=${pageNumber}${search}`;
}

function showLink(pageNumber) {
  const { hit, documentUrl, query } = current;
  const link = $("viewer-pdf");
  link.hidden = !documentUrl;
  if (!documentUrl) return;
  const text = hit.kind === "text";
  link.href = text ? documentUrl : pdfPageUrl(documentUrl, pageNumber, query);
  link.textContent = text ? "Open the original file" : `Open PDF at page ${pageNumber}`;
}

function show(pageNumber) {
  const { hit, pages } = current;
  const page = pages.find((p) => p.page_number === pageNumber)
    || { page_id: hit.page_id, page_number: pageNumber, image_url: hit.image_url };
  current.pageNumber = pageNumber;
  const img = $("viewer-image");
  img.alt = `${hitTitle(hit)}, page ${pageNumber}`;
  if (img.dataset.shown !== page.image_url) {
    img.dataset.shown = page.image_url;
    setImage(img, page.image_url);
  }
  $("viewer-caption").textContent = `${pageCaption(hit, pageNumber)} · ${hit.source || ""}`;
  showLink(pageNumber);
  for (const item of strip.querySelectorAll("button")) {
    const on = Number(item.dataset.page) === pageNumber;
    if (on) item.setAttribute("aria-current", "page"); else item.removeAttribute("aria-current");
    if (on) item.scrollIntoView({ block: "nearest", inline: "center" });
  }
  if (current.marksShown !== page.page_id) showMarks(page);
}

// The hit's own page has its highlights already; another page of the document asks the page
// route for the same query's.
async function showMarks(page) {
  const state = current;
  state.marksShown = page.page_id;
  let marks = state.marks.get(page.page_id);
  if (!marks && state.query && page.page_id) {
    renderMarks(null);
    try {
      marks = await api(`/v1/pages/${encodeURIComponent(page.page_id)}?q=${encodeURIComponent(state.query)}`);
    } catch {
      marks = {};
    }
    state.marks.set(page.page_id, marks);
    if (current !== state || state.pageNumber !== page.page_number) return;
  }
  renderMarks(marks);
}

function renderMarks(marks) {
  const count = drawHighlights(layer, marks && marks.highlights);
  const note = count ? "" : (marks && marks.highlights_note) || "";
  $("match-prev").hidden = $("match-next").hidden = count < 2;
  $("match-status").textContent = count
    ? `${count} match${count === 1 ? "" : "es"} marked on the page · n / p: next / previous`
    : note && `No marks on this page: ${note}`;
  const snippet = marks && count ? marks.snippet : "";
  $("viewer-snippet").replaceChildren(snippet ? snippetNode(snippet) : "");
}

function stepMatch(delta) {
  const at = stepHighlight(layer, delta);
  if (at < 0) return;
  $("match-status").textContent = `Match ${at + 1} of ${layer.children.length} · n / p: next / previous`;
}

function step(delta) {
  const numbers = current.pages.map((p) => p.page_number);
  const at = numbers.indexOf(current.pageNumber);
  const next = numbers[at + delta];
  if (next !== undefined) show(next);
}

function renderStrip(pages) {
  strip.replaceChildren(...pages.map((p) => h("li", {},
    h("button", {
      type: "button",
      class: "strip-page",
      "data-page": p.page_number,
      "aria-label": `Page ${p.page_number}`,
      onclick: () => show(p.page_number),
    },
    lazyImage(p.thumbnail_url, { alt: "", width: 72, height: 96 }),
    h("span", {}, String(p.page_number))))));
}

// `query`: the words searched for (none for an image alone), for other pages' marks and the PDF link.
export async function openViewer(hit, from, query = "") {
  opener = from || null;
  const token = ++loadToken;
  const marks = new Map([[hit.page_id, hit]]); // a hit carries highlights, highlights_note, snippet
  current = { hit, query, pages: [], pageNumber: hit.page_number, documentUrl: null, marks };
  $("viewer-title").textContent = hitTitle(hit);
  strip.replaceChildren();
  if (!dialog.open) dialog.showModal();
  show(hit.page_number);
  $("viewer-close").focus();
  try {
    const body = await api(`/v1/documents/${encodeURIComponent(hit.doc_id)}/pages`);
    if (token !== loadToken || !dialog.open) return;
    current.pages = [...body.pages].sort((a, b) => a.page_number - b.page_number);
    current.documentUrl = body.document_url || null;
    renderStrip(current.pages);
    show(current.pageNumber);
  } catch {
    if (token === loadToken) strip.replaceChildren(h("li", { class: "muted" }, "Other pages are unavailable."));
  }
}
