"""The platform-neutral relay core: stories, lines, rounds, votes and the rules that bind them.

It imports no discord, telegram, torch or aiosqlite: it talks out through the ports in `ports.py`
and returns the plain dataclasses of `records.py` and `views.py`, which adapters render.
"""
