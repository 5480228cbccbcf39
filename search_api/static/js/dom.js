// Small DOM helpers: element builder, safe snippet HTML, lazy authorised images, dialog focus trap.
import { imageUrl } from "./api.js";

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

// The API escapes snippet text and adds only <mark> tags. Trust it only after checking that:
// anything else (a tag, a stray angle bracket) falls back to plain text.
const SAFE_SNIPPET = /^(?:[^<>]|<mark>|<\/mark>)*$/;

export function snippetNode(html) {
  const span = h("span", { class: "snippet" });
  if (SAFE_SNIPPET.test(html)) {
    span.innerHTML = html;
  } else {
    // A parsed, inert document: scripts never run and nothing loads there.
    span.textContent = new DOMParser().parseFromString(html, "text/html").body.textContent || "";
  }
  return span;
}

// Thumbnails load when they scroll into view; their blob URLs are freed when a view is replaced.
const blobUrls = new Map(); // img element -> blob URL
const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    loadImage(entry.target);
  }
}, { rootMargin: "200px" });

export async function loadImage(img) {
  const src = img.dataset.src;
  if (!src) return;
  delete img.dataset.src;
  img.classList.add("loading");
  try {
    const url = await imageUrl(src);
    if (!img.isConnected) { URL.revokeObjectURL(url); return; }
    const old = blobUrls.get(img);
    if (old) URL.revokeObjectURL(old);
    blobUrls.set(img, url);
    img.src = url;
  } catch {
    img.classList.add("broken");
  } finally {
    img.classList.remove("loading");
  }
}

export function lazyImage(src, attrs) {
  const img = h("img", { ...attrs, "data-src": src, decoding: "async" });
  observer.observe(img);
  return img;
}

export function setImage(img, src) {
  img.removeAttribute("src");
  img.dataset.src = src;
  return loadImage(img);
}

export function releaseImages(container) {
  for (const img of container.querySelectorAll("img")) {
    observer.unobserve(img);
    const url = blobUrls.get(img);
    if (url) { URL.revokeObjectURL(url); blobUrls.delete(img); }
  }
}

// Modal dialogs already make the page behind them inert; this also keeps Tab cycling inside
// the dialog instead of leaving for the browser's own controls.
export function trapFocus(dialog) {
  dialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const items = [...dialog.querySelectorAll(
      "a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])",
    )].filter((el) => el.offsetParent !== null || el === document.activeElement);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
