from docstore.snippets import make_snippet


def test_marks_terms_case_insensitively_and_escapes_html() -> None:
    snippet = make_snippet("The <b>Quick</b> brown fox & friends", "quick FOX")
    assert snippet == "The &lt;b&gt;<mark>Quick</mark>&lt;/b&gt; brown <mark>fox</mark> &amp; friends"


def test_whole_words_only_for_latin_terms() -> None:
    assert "<mark>" not in make_snippet("category catalogue", "cat")
    assert make_snippet("a cat sat", "cat") == "a <mark>cat</mark> sat"


def test_window_centres_on_the_best_match_and_respects_length() -> None:
    text = "filler words here. " * 50 + "The reranker scores page images. " + "more filler. " * 50
    snippet = make_snippet(text, "reranker images", max_chars=80)
    assert "<mark>reranker</mark>" in snippet and "<mark>images</mark>" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    visible = snippet.replace("<mark>", "").replace("</mark>", "")
    assert len(visible) <= 80 + 2


def test_cjk_query_matches_substrings() -> None:
    snippet = make_snippet("今日は東京大学で会議があります。", "東京大学")
    assert snippet == "今日は<mark>東京大学</mark>で会議があります。"
    # a longer CJK query still highlights the parts the page contains
    assert "<mark>東京</mark>" in make_snippet("東京は大きい", "東京都庁")


def test_arabic_and_no_match() -> None:
    assert make_snippet("القاهرة هي عاصمة مصر", "مصر").endswith("<mark>مصر</mark>")
    assert make_snippet("plain text", "zzz") == "plain text"
    assert make_snippet("a < b", "") == "a &lt; b"


def test_hostile_queries_never_raise() -> None:
    for query in ['"unbalanced', "AND OR NOT", "*", "(a", "[.*+?]", "\\", "NEAR(a b)", "😀"]:
        assert isinstance(make_snippet("some text (a) [.*+?] \\ 😀", query), str)
