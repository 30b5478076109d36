"""The column lists' helpers (storage/_rows.py): joined queries slice their rows with them."""

from __future__ import annotations

from storage._rows import CHAT_COLUMNS, prefixed, width


def test_prefixed_names_each_column_of_a_list_with_its_table() -> None:
    """'id, platform, ...' becomes 'c.id, c.platform, ...', as many columns as before."""
    assert prefixed("c", CHAT_COLUMNS) == "c.id, c.platform, c.external_id, c.title, c.server"
    assert width(CHAT_COLUMNS) == width(prefixed("c", CHAT_COLUMNS)) == 5
