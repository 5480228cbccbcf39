// Highlight boxes over a page image. A hit's `highlights` are fractions of the page image (0..1,
// origin top-left); each box is placed in % of a frame exactly the image's size, so it stays on its
// words at any size or zoom. n / p step through the boxes of the page shown.
import { h } from "./dom.js";

const percent = (fraction) => `${(Number(fraction) * 100).toFixed(3)}%`;

function box(b) {
  const style = `left:${percent(b.x0)};top:${percent(b.y0)};`
    + `width:${percent(b.x1 - b.x0)};height:${percent(b.y1 - b.y0)}`;
  return h("span", { class: "hl", style });
}

export function drawHighlights(layer, boxes) {
  layer.replaceChildren(...(boxes || []).map(box));
  delete layer.dataset.current;
  return layer.children.length;
}

// Makes the next (delta 1) or previous (-1) box the current one, wrapping around; returns its
// index, or -1 when the page has none.
export function stepHighlight(layer, delta) {
  const boxes = [...layer.children];
  if (!boxes.length) return -1;
  const at = layer.dataset.current === undefined ? (delta > 0 ? -1 : 0) : Number(layer.dataset.current);
  const next = (at + delta + boxes.length) % boxes.length;
  layer.dataset.current = String(next);
  boxes.forEach((el, i) => el.classList.toggle("current", i === next));
  const el = boxes[next];
  el.classList.remove("flash");
  void el.offsetWidth; // restart the flash when the same box is chosen again
  el.classList.add("flash");
  el.scrollIntoView({ block: "nearest", inline: "nearest" });
  return next;
}
