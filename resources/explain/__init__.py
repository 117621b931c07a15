"""`touchpoint explain`: why a message or a meeting is (not) logged against each CRM account,
answered from the warehouse. `reading` gathers the rows, `deciding` applies the rules of
vocabulary/engagement.py to them (never rules of its own), `rendering` says it in plain words or
JSON. `explain_message` / `explain_meeting` (in `service`) tie the three together.
"""
