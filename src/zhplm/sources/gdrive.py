"""Google Drive file links: the direct-download URL, then the confirm / virus-scan interstitial pages.

Large Drive files answer the download URL with an HTML "can't scan for viruses" page (old style: a link
carrying ``confirm=<token>``; new style: a form posting ``id``, ``export``, ``confirm``, ``uuid`` to
``drive.usercontent.google.com/download``). :func:`confirm_url` turns such a page into the next URL;
any other HTML (quota exceeded, sign-in, not found) is an :class:`UnexpectedContentError`, never saved
as a checkpoint. Folder links cannot be fetched without the Drive API and are manual downloads.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from html.parser import HTMLParser

from zhplm.catalog.schema import Download
from zhplm.errors import ManualDownloadRequired
from zhplm.sources import http
from zhplm.sources.base import Attempt, FetchContext, Source, StoredBlob

DOWNLOAD_URL = "https://drive.google.com/uc?export=download&id={id}"
_ID_PATTERNS = (
    re.compile(r"/file/d/([A-Za-z0-9_-]{10,})"),
    re.compile(r"[?&]id=([A-Za-z0-9_-]{10,})"),
    re.compile(r"/open\?id=([A-Za-z0-9_-]{10,})"),
)


def is_folder(url: str) -> bool:
    return "/drive/folders/" in url or "/folderview" in url


def file_id(url: str) -> str | None:
    for pat in _ID_PATTERNS:
        m = pat.search(url)
        if m:
            return m.group(1)
    return None


def direct_url(url: str, model_id: str = "") -> str:
    """The URL to GET for a Drive share link (a non-Drive URL is returned unchanged)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if is_folder(url):
        raise ManualDownloadRequired(
            model_id,
            f"{url} is a Google Drive folder, which cannot be downloaded without signing in to the Drive "
            f"API. Open it in a browser, download the checkpoint file(s), then run "
            f"`zhplm import {model_id or 'MODEL_ID'} PATH`.",
        )
    if host.endswith("google.com") and "export=download" not in url:
        fid = file_id(url)
        if fid:
            return DOWNLOAD_URL.format(id=fid)
    return url


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self._current: tuple[str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = (a.get("action", ""), {})
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            self._current[1][a["name"]] = a.get("value", "")
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def confirm_url(page: str, page_url: str) -> str | None:
    """The next URL for a Drive confirm / virus-scan page, or None for any other HTML page."""
    parser = _Forms()
    parser.feed(page)
    for action, fields in parser.forms:
        if "confirm" in fields and ("id" in fields or "id=" in action):
            target = urllib.parse.urljoin(page_url, html.unescape(action))
            sep = "&" if "?" in target else "?"
            return target + sep + urllib.parse.urlencode(fields)
    for href in parser.links:
        href = html.unescape(href)
        if "confirm=" in href and ("export=download" in href or "id=" in href):
            return urllib.parse.urljoin(page_url, href)
    m = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    fid = file_id(page_url)
    if m and fid:
        return urllib.parse.urljoin(page_url, f"?export=download&confirm={m.group(1)}&id={fid}")
    return None


class GdriveSource(Source):
    """Google Drive file links (folders and sign-in walls are manual)."""

    kind = "gdrive"
    hosts = frozenset({"google-drive"})
    automatic = True
    ready = False

    def route(self, link: Download) -> Attempt | None:
        blocked = {"folder", "login-required", "application-required"} & set(link.notes)
        if is_folder(link.url) or blocked or file_id(link.url) is None:
            return None
        return Attempt(self.kind, link, why="a Google Drive file (confirm pages followed)")

    def fetch(self, attempt: Attempt, ctx: FetchContext) -> StoredBlob:
        url = direct_url(attempt.download.url, ctx.record.id)
        return http.fetch_blob(attempt, ctx, url, html_handler=confirm_url)


SOURCE = GdriveSource()

__all__ = [
    "DOWNLOAD_URL",
    "SOURCE",
    "GdriveSource",
    "confirm_url",
    "direct_url",
    "file_id",
    "is_folder",
]
