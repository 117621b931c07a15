"""Reads a tenant's CRM from two CSV files with pandas, as the rows `check_crm` checks.

accounts.csv: `account_id,name,domains` (domains `;`-separated, may be empty).
contacts.csv: `contact_id,name,email,account_ids` (account ids `;`-separated).
UTF-8 (a byte-order mark is accepted), a header line, comma-separated, RFC 4180 quoting. Every
value is read as text (no number or date guessing, an empty field is empty text, never NaN).
Blank lines are skipped and keep the line numbers of the rows after them right. A file that is
missing, not UTF-8, not CSV, or whose columns differ from these raises `CrmFileError`: the load
does not start.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from resources.registry.crm import NumberedRow

ACCOUNT_COLUMNS = ("account_id", "name", "domains")
CONTACT_COLUMNS = ("contact_id", "name", "email", "account_ids")
HEADER_LINE = 1


class CrmFileError(Exception):
    """A CRM file that cannot be used at all, said in one line."""


def read_crm_csv(path: str | Path, columns: tuple[str, ...]) -> list[NumberedRow]:
    """The file's rows with their line numbers; `columns` must be exactly its header's."""
    path = Path(path)
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            quoting=csv.QUOTE_MINIMAL,
        )
    except FileNotFoundError:
        raise CrmFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CrmFileError(f"{path}: not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise CrmFileError(f"{path}: empty file (expected a header: {','.join(columns)})") from None
    except (pd.errors.ParserError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CrmFileError(f"{path}: not a readable CSV file ({first})") from None
    check_columns(path, [str(c) for c in frame.columns], columns)
    rows: list[NumberedRow] = []
    for index, record in enumerate(frame.to_dict("records")):
        values = {k: v.strip() for k, v in record.items()}
        if any(values.values()):
            rows.append((index + HEADER_LINE + 1, values))
    return rows


def check_columns(path: Path, found: list[str], expected: tuple[str, ...]) -> None:
    """One error naming every missing and every unknown column (pandas renames a repeated
    column `x.1`, which shows as unknown)."""
    stripped = [c.strip() for c in found]
    missing = [c for c in expected if c not in stripped]
    unknown = [c for c in stripped if c not in expected]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise CrmFileError(f"{path}: {'; '.join(parts)} (expected: {','.join(expected)})")
