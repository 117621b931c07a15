"""Microsoft Graph `message` and `mailFolder` resources built from the sandbox's model.

Messages come from the same raw RFC 5322 bytes the Gmail side serves (decoded names and subject,
as Outlook shows them); Gmail labels become folders. Events are `graph_event_payload`, which
shares the instant format and etags defined here.
"""

from __future__ import annotations

import base64
import html
import re
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from sandbox.workload import msids, rfc822
from sandbox.workload.model import USER_LABELS, Mailbox, SandboxMessage

WELL_KNOWN_FOLDERS: tuple[tuple[str, str], ...] = (
    ("inbox", "Inbox"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("deleteditems", "Deleted Items"),
    ("junkemail", "Junk Email"),
    ("archive", "Archive"),
    ("outbox", "Outbox"),
)
"""Well-known folder names (as in /mailFolders/{name}) and their display names."""

SUBFOLDER_LABEL = "FOLDER:"
"""A label `FOLDER:Projects/2026` files a message in the user folder Projects/2026 under the
well-known folder its other labels pick (Inbox, or Junk Email with SPAM, ...): nested folders."""
FOLDER_PROPERTIES = (
    "displayName", "parentFolderId", "childFolderCount", "unreadItemCount", "totalItemCount",
    "sizeInBytes", "isHidden", "childFolders", "messages",
)  # fmt: skip
"""The v1.0 `mailFolder` properties `$select` may name."""

_LABEL_FOLDERS = (
    ("DRAFT", "drafts"),
    ("TRASH", "deleteditems"),
    ("SPAM", "junkemail"),
    ("SENT", "sentitems"),
)

MESSAGE_PROPERTIES = (
    "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body",
    "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
    "internetMessageHeaders", "uniqueBody",
)  # fmt: skip
"""Everything $select may name; the last two are only returned when selected."""


NEVER = "0001-01-01T00:00:00Z"
"""Graph's "never" for date-times nobody set (e.g. a response time)."""
_SPACES = re.compile(r"\s+")


def folder_of(labels: list[str]) -> str:
    """The folder a message with these Gmail labels sits in, as a path from its well-known
    folder (`inbox`, `deleteditems/Old/2025`)."""
    base = next((folder for label, folder in _LABEL_FOLDERS if label in labels), "inbox")
    sub = next((x[len(SUBFOLDER_LABEL) :] for x in labels if x.startswith(SUBFOLDER_LABEL)), "")
    parts = [part for part in sub.split("/") if part.strip()]
    return "/".join([base, *parts])


def graph_instant(moment: datetime) -> str:
    """`2026-11-20T15:00:02Z`: how Graph writes receivedDateTime and friends (whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_etag(*parts: object) -> tuple[str, str]:
    """(`@odata.etag`, changeKey) derived from what identifies this version of an item."""
    key = base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + msids.digest(*parts)[:22])
    change_key = key.decode("ascii")
    return f'W/"{change_key}"', change_key


class MessageRenderer:
    """Graph `message` resources, parsed once per stored message (safe across threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def resource(self, box: Mailbox, msg: SandboxMessage) -> dict[str, Any]:
        """Every property (headers included); callers project with $select."""
        key = (msg.mailbox, msg.id)
        with self._lock:
            parsed = self._cache.get(key)
        if parsed is None:
            parsed = _parse(msg)
            with self._lock:
                self._cache[key] = parsed
        user = box.user_id or box.address
        received = datetime.fromtimestamp(msg.internal_date_ms / 1000, tz=UTC)
        labels = msg.label_ids
        etag, change_key = graph_etag(msg.id, tuple(labels))
        draft = "DRAFT" in labels
        # Transport headers exist only on mail that came in through transport: not on drafts,
        # nor on the sender's own copy in Sent Items.
        composed = draft or "SENT" in labels
        promo = bool({"CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_SOCIAL"} & set(labels))
        return {
            "@odata.etag": etag,
            "id": msg.id,
            "createdDateTime": graph_instant(received),
            "lastModifiedDateTime": graph_instant(received),
            "changeKey": change_key,
            "categories": [USER_LABELS[label] for label in labels if label in USER_LABELS],
            "receivedDateTime": graph_instant(received),
            "sentDateTime": parsed["sent"] or graph_instant(received),
            "hasAttachments": parsed["has_attachments"],
            "internetMessageId": msg.internet_message_id,
            "subject": parsed["subject"],
            "bodyPreview": parsed["preview"],
            "importance": "high" if "IMPORTANT" in labels else "normal",
            "parentFolderId": msids.folder_id(user, folder_of(labels)),
            "conversationId": msg.thread_id,
            "conversationIndex": base64.b64encode(msids.digest("ci", msg.thread_id)[:22]).decode(),
            "isDeliveryReceiptRequested": None if draft else False,
            "isReadReceiptRequested": False,
            "isRead": "UNREAD" not in labels,
            "isDraft": draft,
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            + msg.id.replace("-", "%2F").replace("_", "%2B").replace("=", "%3D")
            + "&exvsurl=1&viewmodel=ReadMessageItem",
            "inferenceClassification": "other" if promo else "focused",
            "body": {"contentType": "html", "content": parsed["html"]},
            "sender": parsed["from"],
            "from": parsed["from"],
            "toRecipients": parsed["to"],
            "ccRecipients": parsed["cc"],
            "bccRecipients": parsed["bcc"],
            "replyTo": parsed["reply_to"],
            "flag": {"flagStatus": "notFlagged"},
            "internetMessageHeaders": None if composed else parsed["headers"],
            "uniqueBody": {"contentType": "html", "content": parsed["html"]},
        }

    def forget(self, mailbox: str, message_id: str) -> None:
        with self._lock:
            self._cache.pop((mailbox, message_id), None)


def _recipients(values: list[str]) -> list[dict[str, Any]]:
    """Graph's recipient list for every header of one name, as Exchange stores it: encoded words
    in names decoded, every header of the name merged (a second To header adds its mailboxes),
    an empty group (`undisclosed-recipients:;`) gives none, and a mailbox it cannot resolve
    (`johndoe`, no `@`) stays, with what was written as its address."""
    out: list[dict[str, Any]] = []
    for value in values:
        try:
            mailboxes = [
                (a.display_name, a.addr_spec)
                for a in policy.default.header_factory("to", value).addresses
            ]
        except Exception:  # the header registry gives up on some garbage; split leniently
            mailboxes = getaddresses([value])
        for name, address in mailboxes:
            if address:
                out.append({"emailAddress": {"name": name or address, "address": address}})
    return out


def _parse(msg: SandboxMessage) -> dict[str, Any]:
    headers = rfc822.raw_headers(msg.raw)

    def get(name: str) -> str | None:
        return rfc822.header(headers, name)

    def every(name: str) -> list[str]:
        return [v for n, v in headers if n.lower() == name.lower()]

    try:
        subject = rfc822.decode_text(get("Subject"))
    except Exception:  # a broken encoded word: Outlook shows the raw text
        subject = get("Subject")
    sent = None
    try:
        date_value = get("Date")
        if date_value:
            moment = parsedate_to_datetime(date_value)
            if moment.tzinfo is not None:
                sent = graph_instant(moment)
    except (TypeError, ValueError):
        sent = None
    text, has_attachments = _body_text(msg.raw)
    senders = _recipients(every("From")[:1])
    return {
        "subject": subject,
        "sent": sent,
        "from": senders[0] if senders else None,
        "to": _recipients(every("To")),
        "cc": _recipients(every("Cc")),
        "bcc": _recipients(every("Bcc")),
        "reply_to": _recipients(every("Reply-To")),
        "headers": [{"name": n, "value": v} for n, v in headers],
        "preview": _SPACES.sub(" ", text).strip()[:255],
        "html": "<html><body><div>"
        + html.escape(text).replace("\n", "<br>")
        + "</div></body></html>",
        "has_attachments": has_attachments,
    }


def _body_text(raw: bytes) -> tuple[str, bool]:
    try:
        parsed = message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # unparseable mail still lists, with an empty body
        return "", False
    text, attachments = "", False
    for part in parsed.walk():
        if part.get_filename():
            attachments = True
        elif part.get_content_type() == "text/plain" and not text:
            data = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                text = data.decode(charset, "replace")
            except LookupError:
                text = data.decode("utf-8", "replace")
    return text, attachments


def folder_resources(box: Mailbox, counts: dict[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """Every folder of the mailbox by path: the well-known ones, then each user folder that
    holds a message (and its ancestors). `counts` maps path -> (total, unread)."""
    user = box.user_id or box.address
    paths = [name for name, _ in WELL_KNOWN_FOLDERS]
    for path in sorted(counts):
        parts = path.split("/")
        paths.extend("/".join(parts[:n]) for n in range(2, len(parts) + 1))
    paths = list(dict.fromkeys(paths))
    displays = dict(WELL_KNOWN_FOLDERS)
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        parent, _, leaf = path.rpartition("/")
        out[path] = {
            "id": msids.folder_id(user, path),
            "displayName": displays.get(path, leaf),
            "parentFolderId": msids.folder_id(user, parent or "msgfolderroot"),
            "childFolderCount": sum(p.rpartition("/")[0] == path for p in paths),
            "unreadItemCount": counts.get(path, (0, 0))[1],
            "totalItemCount": counts.get(path, (0, 0))[0],
            "sizeInBytes": 0,
            "isHidden": False,
        }
    return out
