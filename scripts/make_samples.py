#!/usr/bin/env python
"""Generate the sample documents in samples/: small PDFs in English, German, Chinese and Japanese
about document search and reranking (one page with a drawn chart, one scanned-style page with no
text layer, so OCR is exercised) and one Markdown file. Run: .venv/bin/python scripts/make_samples.py"""

from __future__ import annotations

import argparse
from pathlib import Path

import pymupdf

OUT = Path(__file__).resolve().parents[1] / "samples"
FIXED_DATE = "D:20250101000000Z"  # fixed metadata keeps regenerated files byte-stable
A4 = pymupdf.paper_rect("a4")
MARGIN = 56

EN_INTRO = """How search results are reranked

Folio answers a query in two stages. The first stage is fast and broad: BM25 keyword search, \
k-nearest-neighbour search over text embeddings, or a hybrid of both that adds their normalised \
scores. It returns the top fifty candidate pages from the whole collection in a few milliseconds.

The second stage reranks those candidates. A multimodal cross-encoder, jina-reranker-m0, reads the \
query together with each candidate - the page text, or the rendered page image when the page is a \
scan, a chart or a table - and scores how well the page answers the query. The results are then \
sorted by that relevance score, so the page that truly answers the question moves to the top even \
when it shares few words with the query.

Reranking is more expensive than retrieval, because the model looks at every query-document pair. \
That is why only the top-k candidates are reranked, and why page images are rendered within the \
reranker's pixel budget of 768 visual tokens."""

EN_CHART_TEXT = """Figure 1 compares ranking quality before and after reranking on an internal set of \
scanned reports. Hybrid retrieval already beats BM25 alone; the multimodal reranker lifts nDCG@10 \
further, most of all on pages whose answer sits in a chart or a scanned table."""

EN_SCAN = """Appendix: indexing scanned documents

Scanned pages carry no text layer. The indexer renders
each page, recognises its text with Tesseract OCR, and
stores both the page image and the recognised text,
so a scan can be found by keyword search and is
reranked from its image."""

DE_TEXT = """Wie Suchergebnisse neu sortiert werden

Die Dokumentensuche arbeitet in zwei Stufen. Zuerst findet eine schnelle Volltextsuche (BM25) \
zusammen mit einer Vektorsuche über Texteinbettungen die fünfzig besten Kandidaten. Danach bewertet \
ein multimodaler Reranker jede Seite zusammen mit der Suchanfrage und ordnet die Ergebnisse nach \
ihrer Relevanz neu.

Gescannte Seiten ohne Textebene werden mit Texterkennung (OCR) gelesen. Für den Reranker wird jede \
Seite als Bild gerendert, dessen Größe zum Pixelbudget des Modells passt. Zugriffsrechte werden \
schon in der ersten Stufe geprüft, nicht erst nach der Suche."""

ZH_TEXT = """搜索结果如何重新排序

文档搜索分为两个阶段。第一阶段使用关键词检索（BM25）和向量检索快速找到候选页面。
第二阶段由多模态重排序模型对每个候选页面和查询进行打分，并按照相关性重新排序。
扫描页面通过光学字符识别（OCR）提取文本，页面图像也会交给重排序模型。"""

JA_TEXT = """検索結果の再ランキング

文書検索は二段階で行われます。まずキーワード検索とベクトル検索で候補ページを素早く集めます。
次に、マルチモーダルなリランカーが質問と各ページを一緒に読み、関連度の高い順に並べ替えます。
スキャンされたページは OCR で文字を認識し、ページ画像もリランカーに渡されます。"""

MD_TEXT = """# Folio quick notes: indexing and reranking

- `folio index samples/` renders every PDF page, extracts its text (OCR for scans) and embeds it.
- `folio search "how are search results reranked"` runs the first stage (BM25, kNN or hybrid).
- Search results are reranked by a multimodal cross-encoder that reads the query with each page's
  text or image, then sorts the candidates by its relevance score.
- Re-running `folio index` on unchanged files writes nothing; a changed file replaces its pages.
"""


def _new_page(doc: pymupdf.Document) -> pymupdf.Page:
    return doc.new_page(width=A4.width, height=A4.height)


def _text(page: pymupdf.Page, rect: pymupdf.Rect, text: str, **kw: object) -> None:
    title, _, body = text.partition("\n\n")
    page.insert_textbox(pymupdf.Rect(rect.x0, rect.y0, rect.x1, rect.y0 + 30), title, fontsize=16, **kw)  # type: ignore[arg-type]
    rest = pymupdf.Rect(rect.x0, rect.y0 + 36, rect.x1, rect.y1)
    page.insert_textbox(rest, body, fontsize=11, lineheight=1.4, **kw)  # type: ignore[arg-type]


def _bar_chart(page: pymupdf.Page, origin: pymupdf.Point) -> None:
    """A small vector bar chart: nDCG@10 per retrieval setup."""
    bars = [("BM25", 0.41), ("kNN", 0.44), ("Hybrid", 0.49), ("Hybrid + rerank", 0.63)]
    colors = [(0.55, 0.6, 0.7), (0.45, 0.6, 0.8), (0.3, 0.5, 0.8), (0.9, 0.45, 0.2)]
    height, width, gap = 200.0, 70.0, 30.0
    x, y = origin.x, origin.y
    page.draw_line((x, y), (x, y - height - 10), width=1)
    page.draw_line((x, y), (x + len(bars) * (width + gap) + gap, y), width=1)
    for i, ((label, value), color) in enumerate(zip(bars, colors, strict=True)):
        x0 = x + gap + i * (width + gap)
        top = y - value / 0.7 * height
        page.draw_rect(pymupdf.Rect(x0, top, x0 + width, y), color=None, fill=color)
        page.insert_text((x0 + 18, top - 6), f"{value:.2f}", fontsize=10)
        page.insert_textbox(pymupdf.Rect(x0 - 10, y + 6, x0 + width + 10, y + 40), label, fontsize=9, align=1)
    page.insert_text((x, y + 56), "Figure 1: nDCG@10 before and after reranking", fontsize=11)


def _scanned_page(doc: pymupdf.Document, text: str) -> None:
    """Render text to a grey image and place only the image: a page with no text layer."""
    scratch = pymupdf.open()
    sp = _new_page(scratch)
    sp.insert_textbox(
        pymupdf.Rect(MARGIN, MARGIN + 20, A4.width - MARGIN, A4.height - MARGIN),
        text,
        fontsize=14,
        fontname="cour",
    )
    pix = sp.get_pixmap(dpi=110, colorspace=pymupdf.csGRAY)
    scratch.close()
    page = _new_page(doc)
    page.insert_image(page.rect, stream=pix.tobytes("jpeg", jpg_quality=70))


def _save(doc: pymupdf.Document, name: str, title: str) -> Path:
    doc.set_metadata({"title": title, "author": "Folio", "creationDate": FIXED_DATE, "modDate": FIXED_DATE})
    path = OUT / name
    doc.save(path, garbage=4, deflate=True, no_new_id=True)
    doc.close()
    return path


def make_all() -> list[Path]:
    OUT.mkdir(exist_ok=True)
    body = pymupdf.Rect(MARGIN, MARGIN, A4.width - MARGIN, A4.height - MARGIN)
    out = []

    doc = pymupdf.open()
    _text(_new_page(doc), body, EN_INTRO)
    page = _new_page(doc)
    _text(page, body, "Ranking quality\n\n" + EN_CHART_TEXT)
    _bar_chart(page, pymupdf.Point(MARGIN + 20, 460))
    _scanned_page(doc, EN_SCAN)
    out.append(_save(doc, "reranking-overview.pdf", "How search results are reranked"))

    doc = pymupdf.open()
    _text(_new_page(doc), body, DE_TEXT)
    out.append(_save(doc, "dokumentensuche.pdf", "Wie Suchergebnisse neu sortiert werden"))

    doc = pymupdf.open()
    _text(_new_page(doc), body, ZH_TEXT, fontname="china-s")
    _text(_new_page(doc), body, JA_TEXT, fontname="japan")
    out.append(_save(doc, "search-zh-ja.pdf", "搜索结果如何重新排序 / 検索結果の再ランキング"))

    md = OUT / "indexing-notes.md"
    md.write_text(MD_TEXT, encoding="utf-8")
    out.append(md)
    return out


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    for path in make_all():
        print(f"{path.relative_to(OUT.parent)}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
