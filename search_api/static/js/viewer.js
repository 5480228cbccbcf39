// The page viewer: a modal dialog with the page image, a strip of the document's pages and a
// link to the original PDF at that page.
import { api, getKey, imageUrl } from "./api.js";
import { $, h, lazyImage, releaseImages, setImage, trapFocus } from "./dom.js";
import { hitTitle } from "./results.js";

const dialog = $("viewer");
const strip = $("viewer-strip");
let current = null; // { hit, pages: [{page_id, page_number, image_url, thumbnail_url}], pageNumber }
let opener = null;
let loadToken = 0;

trapFocus(dialog);
$("viewer-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  releaseImages(dialog);
  $("viewer-image").removeAttribute("src");
  delete $("viewer-image").dataset.shown;
  strip.replaceChildren();
  current = null;
  if (opener && opener.isConnected) opener.focus();
});
// A click on the backdrop (outside the dialog box) closes it, as Escape does.
dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
dialog.addEventListener("keydown", (e) => {
  if (!current || e.target.closest("input, select")) return;
  if (e.key === "ArrowRight") { step(1); e.preventDefault(); }
  if (e.key === "ArrowLeft") { step(-1); e.preventDefault(); }
});

// The PDF endpoint needs the key too: with one, fetch the file and open it as a blob URL
// (the window opens first, inside the click, so pop-up blockers let it through).
$("viewer-pdf").addEventListener("click", async (e) => {
  if (!getKey()) return;
  e.preventDefault();
  const link = e.currentTarget;
  const [path, fragment] = link.getAttribute("href").split("#");
  const win = window.open("", "_blank");
  try {
    const url = await imageUrl(path);
    if (win) win.location.href = `${url}#${fragment || ""}`;
  } catch (err) {
    if (win) win.close();
    $("viewer-caption").textContent = "The original file is not available.";
  }
});

function pageCaption(hit, pageNumber) {
  const count = hit.page_count || (current && current.pages.length) || pageNumber;
  return `Page ${pageNumber} of ${count}`;
}

function show(pageNumber) {
  const { hit, pages } = current;
  const page = pages.find((p) => p.page_number === pageNumber)
    || { page_number: pageNumber, image_url: hit.image_url };
  current.pageNumber = pageNumber;
  const img = $("viewer-image");
  img.alt = `${hitTitle(hit)}, page ${pageNumber}`;
  if (img.dataset.shown !== page.image_url) {
    img.dataset.shown = page.image_url;
    setImage(img, page.image_url);
  }
  $("viewer-caption").textContent = `${pageCaption(hit, pageNumber)} · ${hit.source || ""}`;
  const link = $("viewer-pdf");
  if (hit.document_url) {
    link.hidden = false;
    link.href = hit.kind === "text" ? hit.document_url : `${hit.document_url}#page=${pageNumber}`;
    link.textContent = hit.kind === "text" ? "Open the original file" : `Open PDF at page ${pageNumber}`;
  } else {
    link.hidden = true;
  }
  for (const item of strip.querySelectorAll("button")) {
    const on = Number(item.dataset.page) === pageNumber;
    if (on) item.setAttribute("aria-current", "page"); else item.removeAttribute("aria-current");
    if (on) item.scrollIntoView({ block: "nearest", inline: "center" });
  }
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

export async function openViewer(hit, from) {
  opener = from || null;
  const token = ++loadToken;
  current = { hit, pages: [], pageNumber: hit.page_number };
  $("viewer-title").textContent = hitTitle(hit);
  strip.replaceChildren();
  if (!dialog.open) dialog.showModal();
  show(hit.page_number);
  $("viewer-close").focus();
  try {
    const body = await api(`/v1/documents/${encodeURIComponent(hit.doc_id)}/pages`);
    if (token !== loadToken || !dialog.open) return;
    current.pages = [...body.pages].sort((a, b) => a.page_number - b.page_number);
    renderStrip(current.pages);
    show(current.pageNumber);
  } catch {
    if (token === loadToken) strip.replaceChildren(h("li", { class: "muted" }, "Other pages are unavailable."));
  }
}
