"""Identifiers that look like Microsoft's: GUIDs, Graph item ids and Outlook global object ids.

All are derived by hashing, so the same workload always hands out the same ids; none carries
meaning a client could rely on, exactly like the real ones (opaque, long, URL-safe base64).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import date

GOID_CLASS_ID = bytes.fromhex("040000008200E00074C5B7101A82E008")
"""The first 16 bytes of every Outlook meeting's global object id (MS-OXOCAL 2.2.1.27)."""

_VCAL_MARKER = b"vCal-Uid\x01\x00\x00\x00"


def digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()


def guid(*parts: object) -> str:
    """A deterministic GUID (version 4 layout) from `parts`."""
    return str(uuid.UUID(bytes=digest("guid", *parts)[:16], version=4))


def _item_id(kind: bytes, mailbox_guid: str, *parts: object) -> str:
    """`AAMkA...=`: Exchange's id layout, a mailbox GUID then opaque bytes, URL-safe base64."""
    tail = digest(kind, mailbox_guid, *parts)
    raw = b"\x00\x03\x24\x00" + mailbox_guid.encode("ascii") + b"\x00\x46\x00\x00\x00\x00\x00"
    raw += tail[:16] + b"\x07\x00" + kind + tail[16:31] + b"\x00\x00"
    return base64.urlsafe_b64encode(raw).decode("ascii")


def message_id(mailbox_guid: str, key: str) -> str:
    return _item_id(b"M", mailbox_guid, key)


def folder_id(mailbox_guid: str, well_known: str) -> str:
    return _item_id(b"F", mailbox_guid, well_known)


def event_id(mailbox_guid: str, uid: str, original_start: str | None = None) -> str:
    """The id of an event (series master or single) or, with `original_start`, of one occurrence."""
    return _item_id(b"E", mailbox_guid, uid, original_start or "")


def conversation_id(mailbox_guid: str, key: str) -> str:
    tail = digest(b"C", mailbox_guid, key)
    raw = b"\x00\x03\x10\x00" + tail[:16] + b"\x00\x10\x00" + tail[16:32]
    return base64.urlsafe_b64encode(raw).decode("ascii")


def native_goid(*parts: object) -> str:
    """A new Outlook-born meeting UID: the global object id in hex, instance date zeroed."""
    data = digest("goid", *parts)[:16]
    return _goid(b"\x00\x00\x00\x00", data, creation=digest("ctime", *parts)[:8])


def graph_uid(ical_uid: str, instance: date | None = None) -> str:
    """How Graph shows a meeting's UID (v1.0 `iCalUId`): a global object id in hex.

    Outlook-born UIDs already are one; any other UID (Google's `...@google.com`) is wrapped as
    `vCal-Uid` data. With `instance`, the occurrence's date is written into bytes 16-19, which is
    why Graph's `iCalUId` differs per occurrence (beta's `uid`, not in v1.0, is the series').
    """
    stamp = (
        b"\x00\x00\x00\x00"
        if instance is None
        else instance.year.to_bytes(2, "big") + bytes([instance.month, instance.day])
    )
    upper = ical_uid.upper()
    if upper.startswith(GOID_CLASS_ID.hex().upper()) and len(upper) >= 88:
        return upper[:32] + stamp.hex().upper() + upper[40:]
    data = _VCAL_MARKER + ical_uid.encode("utf-8") + b"\x00"
    return _goid(stamp, data)


def ical_uid_from_graph(value: str) -> str:
    """The organiser's UID back from Graph's `iCalUId` (what Google would show)."""
    raw = bytes.fromhex(value)
    data = raw[40:]
    if data.startswith(_VCAL_MARKER):
        return data[len(_VCAL_MARKER) :].rstrip(b"\x00").decode("utf-8")
    return (raw[:16] + b"\x00\x00\x00\x00" + raw[20:]).hex().upper()


def _goid(stamp: bytes, data: bytes, creation: bytes = b"\x00" * 8) -> str:
    raw = GOID_CLASS_ID + stamp + creation + b"\x00" * 8 + len(data).to_bytes(4, "little") + data
    return raw.hex().upper()
