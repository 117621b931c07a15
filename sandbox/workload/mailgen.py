"""Builds RFC 5322 message bytes with the stdlib email package, keeping headers exactly as given.

The compat32 policy is used on purpose: it writes header values verbatim (pre-encoded words
stay as we encoded them, e.g. `=?ISO-8859-1?Q?...?=`) and only folds long lines, which is what
real mail looks like and what parsers downstream must cope with.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.generator import BytesGenerator
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

WIRE_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=78)

_Q_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")
_MAX_WORD = 75


def _q_encode(data: bytes) -> str:
    out = []
    for byte in data:
        if byte == 0x20:
            out.append("_")
        elif byte in _Q_SAFE:
            out.append(chr(byte))
        else:
            out.append(f"={byte:02X}")
    return "".join(out)


def encode_word(text: str, charset: str = "UTF-8", encoding: str = "B") -> str:
    """RFC 2047 encoded words for `text`, split so each word stays within 75 characters."""
    words: list[str] = []
    chunk = ""
    for char in text:
        candidate = chunk + char
        if len(_encode_one(candidate, charset, encoding)) > _MAX_WORD and chunk:
            words.append(_encode_one(chunk, charset, encoding))
            chunk = char
        else:
            chunk = candidate
    if chunk:
        words.append(_encode_one(chunk, charset, encoding))
    return " ".join(words)


def _encode_one(text: str, charset: str, encoding: str) -> str:
    data = text.encode(charset)
    b_encoded = encoding.upper() == "B"
    payload = base64.b64encode(data).decode("ascii") if b_encoded else _q_encode(data)
    return f"=?{charset}?{encoding.upper()}?{payload}?="


def format_address(name: str, address: str) -> str:
    """`Name <addr>` as a mail client writes it: quoted when needed, encoded when non-ASCII."""
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    return f"{Header(name, 'utf-8').encode()} <{address}>"


@dataclass
class MessageSpec:
    """Everything that goes into one message; header values are already wire-ready strings."""

    from_header: str
    to_header: str | None
    cc_header: str | None
    subject_header: str | None
    date: datetime
    message_id: str
    body_text: str
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    shape: str = "plain"
    extra_headers: Sequence[tuple[str, str]] = ()
    boundary: str | None = None


def build_message(spec: MessageSpec) -> bytes:
    """The message as CRLF wire bytes; pass `boundary` for reproducible multipart bytes."""
    if spec.shape == "alternative":
        msg = MIMEMultipart("alternative", boundary=spec.boundary)
        msg.attach(MIMEText(spec.body_text, "plain", "utf-8"))
        html = "<html><body><p>" + spec.body_text.replace("\n", "<br>") + "</p></body></html>"
        msg.attach(MIMEText(html, "html", "utf-8"))
    elif spec.shape == "attachment":
        msg = MIMEMultipart("mixed", boundary=spec.boundary)
        msg.attach(MIMEText(spec.body_text, "plain", "utf-8"))
        pdf = MIMEApplication(b"%PDF-1.4\n% sandbox attachment\n%%EOF\n", "pdf")
        pdf.add_header("Content-Disposition", "attachment", filename="statement-of-work.pdf")
        msg.attach(pdf)
    else:
        msg = MIMEText(spec.body_text, "plain", "utf-8")
    headers: list[tuple[str, str]] = [("Date", format_datetime(spec.date))]
    headers.append(("From", spec.from_header))
    if spec.to_header is not None:
        headers.append(("To", spec.to_header))
    if spec.cc_header:
        headers.append(("Cc", spec.cc_header))
    if spec.subject_header is not None:
        headers.append(("Subject", spec.subject_header))
    headers.append(("Message-ID", spec.message_id))
    if spec.in_reply_to:
        headers.append(("In-Reply-To", spec.in_reply_to))
    if spec.references:
        headers.append(("References", " ".join(spec.references)))
    headers.extend(spec.extra_headers)
    existing = list(msg.items())
    for name in list(msg.keys()):
        del msg[name]
    for name, value in headers + existing:
        msg[name] = value
    fp = io.BytesIO()
    BytesGenerator(fp, mangle_from_=False, policy=WIRE_POLICY).flatten(msg)
    return fp.getvalue()
