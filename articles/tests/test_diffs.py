"""Diffs are readable and escaped."""

from articles.diffs import display_value, inline_diff, snapshot_diff, snapshot_diff_html


def test_inline_diff_marks_words_and_escapes_markup():
    html = inline_diff("The <b>cat</b> sat", "The <b>dog</b> sat")
    assert html == "The &lt;b&gt;<del>cat</del><ins>dog</ins>&lt;/b&gt; sat"


def test_snapshot_diff_names_changed_fields_only():
    old = {"headline": "A", "body": "x", "tags": [{"id": 1, "name": "Oil"}], "featured": False}
    new = {"headline": "A", "body": "y", "tags": [{"id": 2, "name": "Gas"}], "featured": True}
    assert [d.name for d in snapshot_diff(old, new)] == ["body", "featured", "tags"]
    assert display_value(new, "featured") == "yes"
    assert display_value({"category": None}, "category") == ""


def test_snapshot_diff_html_says_when_nothing_differs():
    assert "No differences" in snapshot_diff_html({"headline": "A"}, {"headline": "A"})
    html = snapshot_diff_html({"headline": "<script>"}, {"headline": "safe"})
    assert "<script>" not in html and "&lt;script&gt;" in html
