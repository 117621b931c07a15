"""Gmail's History records (users.history.list) from the sandbox's change log.

Shapes follow the discovery document shipped with google-api-python-client (`History`,
`HistoryMessageAdded`, `HistoryMessageDeleted`, `HistoryLabelAdded`, `HistoryLabelRemoved`):
ids are uint64 strings, each record lists the messages it touched under `messages` and the change
under exactly one of `messagesAdded`, `messagesDeleted`, `labelsAdded`, `labelsRemoved` (a
relabel that adds and removes gives two records).
"""

from __future__ import annotations

from typing import Any

from sandbox.mailstore import Change

HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")


def _message(change: Change, with_labels: bool = True) -> dict[str, Any]:
    message: dict[str, Any] = {"id": change.message_id, "threadId": change.thread_id}
    if with_labels:
        message["labelIds"] = list(change.labels)
    return message


def history_records(
    changes: list[Change], types: set[str], label_id: str | None = None
) -> list[dict[str, Any]]:
    """One History record per change and kind, oldest first, restricted to `types` and (when
    given) to messages carrying `label_id`."""
    records: list[dict[str, Any]] = []
    for change in changes:
        if label_id and label_id not in change.labels:
            continue
        base = {"id": str(change.history_id), "messages": [_message(change, False)]}
        if change.kind == "added" and "messageAdded" in types:
            records.append({**base, "messagesAdded": [{"message": _message(change)}]})
        elif change.kind == "deleted" and "messageDeleted" in types:
            records.append({**base, "messagesDeleted": [{"message": _message(change, False)}]})
        elif change.kind == "labels":
            before = set(change.labels_before or ())
            added = [label for label in change.labels if label not in before]
            removed = [
                label for label in (change.labels_before or ()) if label not in change.labels
            ]
            if added and "labelAdded" in types:
                entry = {"message": _message(change), "labelIds": added}
                records.append({**base, "labelsAdded": [entry]})
            if removed and "labelRemoved" in types:
                entry = {"message": _message(change), "labelIds": removed}
                records.append({**base, "labelsRemoved": [entry]})
    return records
