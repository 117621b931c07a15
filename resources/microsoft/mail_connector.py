"""One Microsoft 365 mailbox through Microsoft Graph, behind `MailConnector`.

Listing does the work: `/users/{owner}/messages` filtered on receivedDateTime, with `$select` of
exactly the fields a record needs and `$top=1000`, already returns every message's payload, so a
window costs one request per 1,000 messages. The payloads are kept and `fetch_messages` hands
them out without another request; ids it did not list (a later sync asking for a few) are
fetched through `$batch`, 20 per request.

Drafts, Junk Email and Deleted Items (and their subfolders) are left out of listings: their
folder ids are resolved once per connector. Each payload is annotated with the well-known name
of its folder (`FOLDER_KEY`), so parsing can label it without knowing Graph's opaque ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from resources.microsoft.auth import GRAPH_MAIL_SCOPES
from resources.microsoft.client import (
    graph_time,
    open_graph_client,
    select,
    user_path,
)
from resources.microsoft.errors import failure
from resources.microsoft.mail_parsing import FOLDER_KEY
from resources.microsoft.settings import MAX_BATCH_SIZE, GraphSettings
from vocabulary.connectors import ApiStats, MailChanges
from vocabulary.records import RawMessage, Removal
from vocabulary.status import ConnectionStatus
from vocabulary.text import identify_listed_item, safe_excerpt
from vocabulary.windows import SyncWindow

MESSAGE_FIELDS = (
    "receivedDateTime",
    "sentDateTime",
    "internetMessageId",
    "conversationId",
    "subject",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "parentFolderId",
    "categories",
    "isDraft",
    "internetMessageHeaders",
)
"""`$select` of messages: exactly what `parse_graph_message` reads (`id` comes regardless).
`internetMessageHeaders` is returned only when selected; it makes a received message's header
fields and defects the same as Gmail's."""
LABELLED_FOLDERS = ("inbox", "sentitems", "archive", "drafts", "junkemail", "deleteditems")
"""Well-known folders resolved once: their names become labels."""
SKIPPED_FOLDERS = ("drafts", "junkemail", "deleteditems")
"""Never synced (drafts, spam, trash), subfolders included."""
LIST_METHOD = "graph.messages.list"
GET_METHOD = "graph.messages.get"
FOLDER_METHOD = "graph.mailFolders.get"
CHILD_FOLDERS_METHOD = "graph.mailFolders.childFolders.list"
FOLDER_LIST_METHOD = "graph.mailFolders.list"
DELTA_METHOD = "graph.mailFolders.messages.delta"
DELTA_SCOPE = "graph:folder:"
"""Change cursors are per synced folder: this prefix, then the folder id; the cursor is the
folder's @odata.deltaLink."""
REMOVAL_BY_FOLDER = {
    "deleteditems": Removal.TRASHED,
    "junkemail": Removal.SPAM,
    "drafts": Removal.DRAFT,
}
"""Why a message that left the synced folders is not synced, by the skipped folder it went to."""


class GraphMailConnector:
    """Mail of one connected Microsoft 365 mailbox (`MailConnector`).

    `stats` follow GoogleMailConnector's: `api_calls` are Graph requests (each `$batch` part
    one), `http_requests` round trips including token requests, `quota_units` the requests
    Graph's per-mailbox throttling counts (one each), `retries`, `throttled_seconds`.
    Requests go one at a time (so never more than Graph's 4 in flight) and are paced to
    `requests_per_ten_minutes` per `throttle_window_seconds` (Graph: 10,000 per 600 s).
    The constructor sends nothing; msal's token cache arrives as `token_cache` and leaves
    through `save_token_cache` (see MicrosoftTokens).
    """

    provider = "microsoft"

    def __init__(
        self,
        owner_email: str,
        refresh_token: str,
        token_cache: str | None = None,
        save_token_cache: Callable[[str], None] | None = None,
        *,
        settings: GraphSettings,
    ) -> None:
        self.owner_email = owner_email
        self.stats = ApiStats()
        self.vanished_message_ids: list[str] = []
        """Ids asked for but gone (404) when fetched; not yielded."""
        self.client = open_graph_client(
            owner_email,
            refresh_token,
            token_cache,
            save_token_cache,
            scopes=GRAPH_MAIL_SCOPES,
            settings=settings,
            stats=self.stats,
        )
        self.tokens = self.client.tokens
        self._batch_size = max(1, min(settings.batch_size, MAX_BATCH_SIZE))
        self._page_size = settings.top
        self._user = user_path(owner_email)
        self._folders: dict[str, str] | None = None  # folder id -> well-known name
        self._skipped: set[str] = set()
        self._listed: dict[str, RawMessage] = {}

    def __repr__(self) -> str:
        return f"GraphMailConnector(owner_email={self.owner_email!r})"

    def close(self) -> None:
        """Closes kept-alive connections."""
        self.client.close()

    # ---- MailConnector -------------------------------------------------------------------------

    def list_message_ids(self, window: SyncWindow) -> list[str]:
        """Ids of messages received in `window`, drafts, junk and deleted items excluded."""
        self._resolve_folders()
        params = {
            "$filter": (
                f"receivedDateTime ge {graph_time(window.start)} "
                f"and receivedDateTime lt {graph_time(window.end)}"
            ),
            "$select": select(MESSAGE_FIELDS),
            "$top": self._page_size,
        }
        url = self.client.url(f"{self._user}/messages", params)
        ids: list[str] = []
        for page in self.client.pages(url, LIST_METHOD):
            for item in page:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    # Unreadable: it cannot be told apart from drafts or junk, so it is kept
                    # and quarantined under the id it carries (or a stable stand-in).
                    item_id, error, excerpt = identify_listed_item(item)
                    self._listed[item_id] = (
                        RawMessage(item_id, item)  # parsing quarantines it: no id
                        if isinstance(item, dict)
                        else RawMessage(item_id, None, error, excerpt)
                    )
                    ids.append(item_id)
                    continue
                if item.get("isDraft") is True or item.get("parentFolderId") in self._skipped:
                    continue
                self._listed[item["id"]] = RawMessage(item["id"], self._annotate(item))
                ids.append(item["id"])
        return list(dict.fromkeys(ids))

    def fetch_messages(self, message_ids: Sequence[str]) -> Iterator[RawMessage]:
        """The payloads of these ids: listed ones from memory, the others through `$batch`."""
        wanted = list(dict.fromkeys(message_ids))
        missing = [i for i in wanted if i not in self._listed]
        fetched: dict[str, RawMessage] = {}
        if missing:
            self._resolve_folders()
            fetched = self._fetch(missing)
        for message_id in wanted:
            if message_id in self._listed:
                yield self._listed[message_id]
            elif message_id in fetched:
                yield fetched[message_id]

    def mail_changes(
        self, cursors: Mapping[str, str], relist_since: datetime, track_since: datetime
    ) -> MailChanges:
        """A delta round per synced folder from its stored delta link. A folder seen for the
        first time gets an initial round; when nothing is stored yet, a folder we tracked is
        gone, or Graph forgot a link (410), every folder starts over and the initial rounds are
        the full listing. Initial rounds track messages received since `track_since`."""
        self._resolve_folders()
        scopes = {DELTA_SCOPE + folder: folder for folder in self._synced_folders()}
        # A delta link stored under another Graph root (the deployment's base URL changed) is no
        # cursor of this client's: start over rather than refuse it as a foreign link.
        restart = (
            not cursors
            or bool(set(cursors) - set(scopes))
            or not all(self.client.owns(link) for link in cursors.values())
        )
        state: dict[str, str | None] = {}  # id -> None (in a synced folder) or removal reason
        links: dict[str, str] = {}
        if not restart:
            for scope, folder in scopes.items():
                stored = cursors.get(scope)
                link = self._delta_round(
                    stored or self._initial_delta_url(folder, track_since),
                    state,
                    # A new folder's messages are all "present"; only the span the sync
                    # holds (or is about to) matters.
                    keep_since=None if stored else relist_since,
                )
                if link is None:
                    restart = True
                    break
                links[scope] = link
        if restart:
            state, links = {}, {}
            for scope, folder in scopes.items():
                url = self._initial_delta_url(folder, track_since)
                link = self._delta_round(url, state, keep_since=relist_since)
                if link is None:
                    raise failure(ConnectionStatus.SYNC_ERROR, "delta_restart_refused")
                links[scope] = link
        self._explain_removals(state)
        return MailChanges(
            links,
            present=[mid for mid, reason in state.items() if reason is None],
            removed={mid: reason for mid, reason in state.items() if reason is not None},
            relisted_since=relist_since if restart else None,
        )

    # ---- internals -----------------------------------------------------------------------------

    def _initial_delta_url(self, folder_id: str, track_since: datetime) -> str:
        # Message delta documents only $select and a receivedDateTime ge/gt $filter here.
        return self.client.url(
            f"{self._user}/mailFolders/{folder_id}/messages/delta",
            {
                "$select": select(MESSAGE_FIELDS),
                "$filter": f"receivedDateTime ge {graph_time(track_since)}",
            },
        )

    def _delta_round(
        self, url: str, state: dict[str, str | None], keep_since: datetime | None
    ) -> str | None:
        """Follows one folder's round to its @odata.deltaLink and folds its items into `state`
        (a message present in any synced folder stays present whatever another folder says);
        None when Graph no longer knows the link (410) or the folder is gone (404)."""
        headers = {"Prefer": f"odata.maxpagesize={self._page_size}"}
        seen: set[str] = set()
        next_url = url
        while True:
            answer = self.client.get(next_url, DELTA_METHOD, headers, accept=frozenset({410}))
            if answer.status in (404, 410):
                return None
            body = answer.body or {}
            if not isinstance(body.get("value"), list):
                raise failure(ConnectionStatus.SYNC_ERROR, "unreadable_page")
            for item in body["value"]:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    continue
                mid = item["id"]
                if "@removed" in item:
                    if state.get(mid, Removal.MOVED_OUT) is not None:
                        state[mid] = Removal.MOVED_OUT
                    continue
                if keep_since is not None and _received_before(item, keep_since):
                    continue
                self._listed[mid] = RawMessage(mid, self._annotate(item))
                state[mid] = None
            delta_link = body.get("@odata.deltaLink")
            if isinstance(delta_link, str) and delta_link:
                return delta_link
            link = body.get("@odata.nextLink")
            if not isinstance(link, str) or not link or link in seen:
                raise failure(ConnectionStatus.SYNC_ERROR, "delta_round_unfinished")
            seen.add(link)
            next_url = link

    def _explain_removals(self, state: dict[str, str | None]) -> None:
        """Asks Graph where the messages that left a synced folder went (one `$batch` per 20):
        gone (deleted), in a skipped folder (trash, junk, drafts), or in another synced folder
        after all (present)."""
        moved = [mid for mid, reason in state.items() if reason is not None]
        if not moved:
            return
        for mid, raw in self._fetch(moved).items():
            folder = (raw.payload or {}).get(FOLDER_KEY)
            if raw.payload is None:
                continue
            if folder in REMOVAL_BY_FOLDER:
                state[mid] = REMOVAL_BY_FOLDER[folder]
            elif raw.payload.get("parentFolderId") not in self._skipped:
                self._listed[mid] = raw
                state[mid] = None
        for mid in moved:
            if mid in self.vanished_message_ids:
                state[mid] = Removal.DELETED

    def _synced_folders(self) -> list[str]:
        """Ids of every mail folder outside drafts, junk and deleted items, subfolders too."""
        folders: list[str] = []
        url: str | None = self.client.url(
            f"{self._user}/mailFolders", {"$select": "id,childFolderCount", "$top": 100}
        )
        nested: list[str] = []
        while url is not None:
            for page in self.client.pages(url, FOLDER_LIST_METHOD):
                for folder in page:
                    folder_id = folder.get("id") if isinstance(folder, dict) else None
                    if not isinstance(folder_id, str) or folder_id in self._skipped:
                        continue
                    folders.append(folder_id)
                    if (folder.get("childFolderCount") or 0) > 0:
                        nested.append(folder_id)
            url = None
            if nested:
                url = self.client.url(
                    f"{self._user}/mailFolders/{nested.pop()}/childFolders",
                    {"$select": "id,childFolderCount", "$top": 100},
                )
        return list(dict.fromkeys(folders))

    def _annotate(self, payload: dict[str, Any]) -> dict[str, Any]:
        folder = (self._folders or {}).get(str(payload.get("parentFolderId")))
        if folder is not None:
            payload[FOLDER_KEY] = folder
        return payload

    def _fetch(self, message_ids: list[str]) -> dict[str, RawMessage]:
        query = "?$select=" + select(MESSAGE_FIELDS)
        paths = {
            str(n): f"{self._user}/messages/{message_id}{query}"
            for n, message_id in enumerate(message_ids)
        }
        answers = self.client.batch_get(paths, GET_METHOD, self._batch_size)
        out: dict[str, RawMessage] = {}
        for n, message_id in enumerate(message_ids):
            answer = answers.get(str(n))
            if answer is None or answer.status == 404:
                self.vanished_message_ids.append(message_id)
                continue
            if answer.body is None:
                out[message_id] = RawMessage(
                    message_id, None, answer.error, safe_excerpt(answer.text)
                )
                continue
            out[message_id] = RawMessage(message_id, self._annotate(answer.body))
        return out

    def _resolve_folders(self) -> None:
        """Ids of the well-known folders (one `$batch`), and of the skipped folders' subfolders."""
        if self._folders is not None:
            return
        paths = {
            name: f"{self._user}/mailFolders/{name}?$select=id,childFolderCount"
            for name in LABELLED_FOLDERS
        }
        answers = self.client.batch_get(paths, FOLDER_METHOD)
        folders: dict[str, str] = {}
        skipped: set[str] = set()
        nested: list[tuple[str, str]] = []  # (folder id, well-known name it sits under)
        for name in LABELLED_FOLDERS:
            answer = answers.get(name)
            if answer is None or answer.status == 404:
                if name in SKIPPED_FOLDERS:
                    raise failure(ConnectionStatus.SYNC_ERROR, "well_known_folder_missing")
                continue
            body = answer.body or {}
            folder_id = body.get("id")
            if not isinstance(folder_id, str):
                raise failure(ConnectionStatus.SYNC_ERROR, "unreadable_folder")
            folders[folder_id] = name
            if name in SKIPPED_FOLDERS:
                skipped.add(folder_id)
                if (body.get("childFolderCount") or 0) > 0:
                    nested.append((folder_id, name))
        while nested:
            parent, name = nested.pop()
            url = self.client.url(
                f"{self._user}/mailFolders/{parent}/childFolders",
                {"$select": "id,childFolderCount", "$top": 100},
            )
            for page in self.client.pages(url, CHILD_FOLDERS_METHOD):
                for child in page:
                    child_id = child.get("id") if isinstance(child, dict) else None
                    if not isinstance(child_id, str) or child_id in skipped:
                        continue
                    skipped.add(child_id)
                    folders[child_id] = name
                    if (child.get("childFolderCount") or 0) > 0:
                        nested.append((child_id, name))
        self._folders = folders
        self._skipped = skipped


def _received_before(item: Mapping[str, Any], moment: datetime) -> bool:
    """Whether a listed message was received before `moment` (unreadable dates: no)."""
    received = item.get("receivedDateTime")
    if not isinstance(received, str):
        return False
    try:
        when = datetime.fromisoformat(received.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when.tzinfo is not None and when < moment
