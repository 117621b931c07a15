"""Touchpoint's provider-neutral vocabulary: statuses, windows, records, the connector interface,
and the text and header rules every provider shares.

It imports nothing of Touchpoint's (only the standard library), so every other package can
depend on it and it on none of them.
"""
