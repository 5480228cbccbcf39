// Search by image: an image dropped on, pasted into or picked from the search form becomes the
// query. Large photos are scaled down first: the reranker sees at most ~0.6 MP anyway, and a
// smaller upload is much faster on a slow link.
import { $ } from "./dom.js";

const MAX_SIDE = 1600;
let current = null; // { dataUrl, name }

function readAsDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 2 * 1024 * 1024) { bitmap.close(); return readAsDataUrl(file); }
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return canvas.toDataURL("image/jpeg", 0.9);
  } catch {
    return readAsDataUrl(file); // the server says clearly if it cannot decode it either
  }
}

export function imageQuery() {
  return current;
}

export function clearImageQuery() {
  current = null;
  $("image-query").hidden = true;
  $("image-query-preview").removeAttribute("src");
  $("q").placeholder = "Search pages — or drop, paste or pick an image";
}

async function setImageQuery(file, onReady) {
  if (!file || !file.type.startsWith("image/")) return;
  const dataUrl = await shrink(file);
  current = { dataUrl, name: file.name || "pasted image" };
  $("image-query-preview").src = dataUrl;
  $("image-query-name").textContent = current.name;
  $("image-query").hidden = false;
  $("q").placeholder = "Optional words to go with the image";
  onReady();
}

function firstImage(items) {
  for (const item of items || []) {
    const file = item instanceof File ? item : item.kind === "file" ? item.getAsFile() : null;
    if (file && file.type.startsWith("image/")) return file;
  }
  return null;
}

export function initImageQuery(onReady) {
  const form = $("search-form");
  const picker = $("image-pick");
  picker.addEventListener("change", () => {
    setImageQuery(picker.files[0], onReady);
    picker.value = "";
  });
  $("image-query-clear").addEventListener("click", () => { clearImageQuery(); $("q").focus(); });
  form.addEventListener("dragover", (e) => {
    if (![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    form.classList.add("over");
  });
  form.addEventListener("dragleave", () => form.classList.remove("over"));
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    form.classList.remove("over");
    setImageQuery(firstImage(e.dataTransfer.files), onReady);
  });
  // A pasted image anywhere outside the upload area is a query image.
  document.addEventListener("paste", (e) => {
    if (e.target.closest && e.target.closest("#dropzone, dialog")) return;
    const file = firstImage(e.clipboardData && e.clipboardData.items);
    if (!file) return;
    e.preventDefault();
    setImageQuery(file, onReady);
  });
}
