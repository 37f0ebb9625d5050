"""Static web sites served from containers, as Swift's staticweb middleware.

A container's metadata `Web-Index` (an index object served for the container
and for every pseudo-directory), `Web-Listings` (HTML listings where no index
exists), `Web-Listings-CSS` (a style sheet the listings link to), `Web-Error`
(`<status><suffix>` objects, such as `404error.html`, served for 404s) and
`Web-Directory-Type` (the content type of directory marker objects, by default
`application/directory`) turn it into a web site. This applies to GET and HEAD
requests without a token, or with `X-Web-Mode: true`, on containers whose objects
the requester may read (a public container, `X-Container-Read: .r:*`); listings
also need the right to list (`.rlistings`). Paths of pseudo-directories without a
trailing slash are redirected (301) to the slash form, as Swift does, so that
relative links in pages resolve.

Pure: the settings, the decisions' inputs and the HTML listing. The async
`serve` walks Swift's steps; every read it makes is authorised as the requester's own.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from dolmen.proxy.errors import AccessDenied, NotAuthenticated
from dolmen.proxy.swift.access import Gatekeeper
from dolmen.proxy.swift.listings import TRUE_VALUES, object_rows
from dolmen.proxy.swift.paths import SwiftPath

from dolmen.cluster import ClusterClient, ListingQuery, NotFound, ObjectInfo
from dolmen.limits import LISTING_PAGE_ENTRIES_MAX
from dolmen.serving import BodyStreamResponse

DEFAULT_DIRECTORY_TYPE = "application/directory"
SIZE_SUFFIXES = "KMGTPEZY"

ServeObject = Callable[[SwiftPath], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class WebSettings:
    """A container's static web metadata."""

    index: str = ""
    error: str = ""
    listings: bool = False
    listings_css: str = ""
    directory_type: str = DEFAULT_DIRECTORY_TYPE

    @property
    def active(self) -> bool:
        return bool(self.index) or self.listings


def web_settings(metadata: Mapping[str, str]) -> WebSettings:
    return WebSettings(
        index=metadata.get("web-index", "").strip(),
        error=metadata.get("web-error", "").strip(),
        listings=metadata.get("web-listings", "").strip().lower() in TRUE_VALUES,
        listings_css=metadata.get("web-listings-css", "").strip(),
        directory_type=metadata.get("web-directory-type", "").strip() or DEFAULT_DIRECTORY_TYPE,
    )


def wants_static_web(method: str, headers: Mapping[str, str]) -> bool:
    """GET and HEAD without a token, or any GET and HEAD that asks with X-Web-Mode: true."""
    if method not in ("GET", "HEAD"):
        return False
    web_mode = headers.get("X-Web-Mode", "").strip().lower() in TRUE_VALUES
    return web_mode or not (headers.get("X-Auth-Token") or headers.get("X-Storage-Token"))


def is_directory_marker(info: ObjectInfo, settings: WebSettings) -> bool:
    return info.content_type == settings.directory_type and info.length <= 1


def human_size(size_bytes: int) -> str:
    """Swift's listing sizes: bytes below 1 KiB, else rounded to the unit, `12Ki`, `3Mi`..."""
    value, index = size_bytes, -1
    while value >= 1024 and index + 1 < len(SIZE_SUFFIXES):
        index += 1
        value = round(value / 1024)
    return str(value) if index < 0 else f"{value}{SIZE_SUFFIXES[index]}i"


def css_href(css: str, prefix: str) -> str:
    """The style sheet's link from a listing of `prefix`: absolute stays, relative climbs to the container."""
    if css.startswith(("/", "http://", "https://")):
        return quote(css, safe=":/")
    return "../" * prefix.count("/") + quote(css)


def render_listing(
    label: str, prefix: str, rows: Sequence[Mapping[str, object]], settings: WebSettings
) -> bytes:
    """The HTML listing of a pseudo-directory: its subdirectories first, then its objects."""
    title = html.escape(label)
    head = [
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">',
        "<html>",
        " <head>",
        f"  <title>Listing of {title}</title>",
    ]
    if settings.listings_css:
        head.append(
            f'  <link rel="stylesheet" type="text/css" href="{html.escape(css_href(settings.listings_css, prefix))}" />'
        )
    else:
        head.append(
            '  <style type="text/css">\n   h1 {font-size: 1em; font-weight: bold;}\n'
            "   th {text-align: left; padding: 0px 1em 0px 1em;}\n   td {padding: 0px 1em 0px 1em;}\n"
            "   a {text-decoration: none;}\n  </style>"
        )
    body = [
        " </head>",
        " <body>",
        f'  <h1 id="title">Listing of {title}</h1>',
        '  <table id="listing">',
        '   <tr id="heading">\n    <th class="colname">Name</th>\n    <th class="colsize">Size</th>\n'
        '    <th class="coldate">Date</th>\n   </tr>',
    ]
    if prefix:
        body.append(_row("item", "../", "../", "&nbsp;", "&nbsp;", parent=True))
    for row in rows:
        if "subdir" in row:
            name = str(row["subdir"])[len(prefix) :]
            body.append(_row("item subdir", quote(name), html.escape(name), "&nbsp;", "&nbsp;"))
    for row in rows:
        if "name" in row:
            name = str(row["name"])[len(prefix) :]
            kinds = " ".join(
                "type-" + html.escape(part.lower()) for part in str(row["content_type"]).split("/")
            )
            when = html.escape(str(row["last_modified"]).split(".")[0].replace("T", " "))
            size = human_size(int(str(row["bytes"])))
            body.append(_row(f"item {kinds}", quote(name), html.escape(name), size, when))
    body += ["  </table>", " </body>", "</html>", ""]
    return "\n".join(head + body).encode()


def _row(kind: str, href: str, text: str, size: str, when: str, *, parent: bool = False) -> str:
    row_id = ' id="parent"' if parent else ""
    return (
        f'   <tr{row_id} class="{kind}">\n    <td class="colname"><a href="{href}">{text}</a></td>\n'
        f'    <td class="colsize">{size}</td>\n    <td class="coldate">{when}</td>\n   </tr>'
    )


# --- I/O -------------------------------------------------------------------------


class StaticWeb:
    """One static web request: Swift's steps, every read authorised as the requester's."""

    def __init__(
        self,
        request: web.Request,
        path: SwiftPath,
        settings: WebSettings,
        *,
        gatekeeper: Gatekeeper,
        client: ClusterClient,
        serve_object: ServeObject,
    ) -> None:
        assert path.container is not None
        self.request = request
        self.path = path
        self.container: str = path.container
        self.settings = settings
        self.gatekeeper = gatekeeper
        self.client = client
        self.serve_object = serve_object
        self.raw_path = request.raw_path.partition("?")[0]

    async def serve(self) -> web.StreamResponse:
        if self.path.obj is None:
            return await self._container()
        return await self._object(self.path.obj)

    async def _container(self) -> web.StreamResponse:
        if not self.raw_path.endswith("/"):
            return self._redirect()
        if self.settings.index and await self._found(self.settings.index):
            return await self.serve_object(self._at(self.settings.index))
        return await self._listing("")

    async def _object(self, obj: str) -> web.StreamResponse:
        info = await self._found(obj)
        if info is not None and not is_directory_marker(info, self.settings):
            return await self.serve_object(self.path)
        if self.settings.index:
            index = obj.rstrip("/") + "/" + self.settings.index
            if await self._found(index):
                return (
                    self._redirect()
                    if not self.raw_path.endswith("/")
                    else await self.serve_object(self._at(index))
                )
        if not self.raw_path.endswith("/"):
            if self.settings.listings and await self._listing_rows(obj + "/", limit=1):
                return self._redirect()
            return await self._error(404)
        return await self._listing(obj)

    async def _listing(self, prefix: str) -> web.StreamResponse:
        if not self.settings.listings:
            return await self._error(404)
        rows = await self._listing_rows(prefix, limit=LISTING_PAGE_ENTRIES_MAX)
        if not rows and prefix:
            return await self._error(404)
        label = f"/{self.raw_path.split('/', 2)[1]}/{self.path.account}/{self.container}/{prefix}"
        body = render_listing(label, prefix, rows, self.settings)
        return web.Response(body=body, headers={"Content-Type": "text/html; charset=UTF-8"})

    async def _listing_rows(self, prefix: str, *, limit: int) -> list[dict[str, object]]:
        await self.gatekeeper.authorise(
            "GET", SwiftPath(self.path.account, self.container), self.request.headers, changes_acls=False
        )
        listing = await self.client.list_objects(
            self.path.account, self.container, ListingQuery(prefix=prefix, delimiter="/", limit=limit)
        )
        return object_rows(listing.entries)

    async def _found(self, obj: str) -> ObjectInfo | None:
        """The object's info if it exists and the requester may read it (else NotAuthenticated/AccessDenied)."""
        await self.gatekeeper.authorise("GET", self._at(obj), self.request.headers, changes_acls=False)
        try:
            return await self.client.head_object(self.path.account, self.container, obj)
        except NotFound:
            return None

    async def _error(self, status: int) -> web.StreamResponse:
        """The container's `<status><Web-Error>` page with that status, or Swift's plain error."""
        page = f"{status}{self.settings.error}"
        try:
            if not self.settings.error or await self._found(page) is None:
                raise NotFound("no such page")
        except (NotFound, NotAuthenticated, AccessDenied):
            raise NotFound(f"no object at {self.raw_path!r}") from None
        async with self.client.get_object(self.path.account, self.container, page) as reader:
            response = BodyStreamResponse(status=status, headers={"Content-Type": reader.info.content_type})
            response.content_length = reader.info.length
            self.request["response"] = response
            await response.prepare(self.request)
            if self.request.method == "GET":
                async for chunk in reader.body:
                    await response.write(chunk)
            await response.write_eof()
        return response

    def _at(self, obj: str) -> SwiftPath:
        return SwiftPath(self.path.account, self.container, obj)

    def _redirect(self) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": self.raw_path + "/"})
