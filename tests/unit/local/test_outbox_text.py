"""The outbox's plain text of an HTML email reads as a person would read the email."""

from __future__ import annotations

from promote_cli.local.outbox import _HtmlText


def test_a_table_row_reads_label_colon_value() -> None:
    html = (
        "<html><body><p>Intro.</p><table>"
        '<tr><th align="left">Pipeline</th><td>sentiment-service</td></tr>'
        "<tr><th>Commit</th><td>6d6a723bad67</td><td>extra</td></tr>"
        '</table><p><a href="https://x.example/a">Approve</a></p></body></html>'
    )
    parsed = _HtmlText(html)
    assert parsed.text().splitlines() == [
        "Intro.",
        "Pipeline: sentiment-service",
        "Commit: 6d6a723bad67  extra",
        "Approve",
    ]
    assert parsed.links == ["https://x.example/a"]
