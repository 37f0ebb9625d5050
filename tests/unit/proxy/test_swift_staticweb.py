"""Static web settings, who gets a web site, and the HTML listing."""

from __future__ import annotations

from dolmen.proxy.swift.staticweb import (
    WebSettings,
    css_href,
    human_size,
    render_listing,
    wants_static_web,
    web_settings,
)


def test_settings_come_from_container_metadata():
    settings = web_settings({"web-index": "index.html", "web-listings": "True", "web-error": "error.html"})
    assert settings == WebSettings(index="index.html", error="error.html", listings=True)
    assert settings.active
    assert not web_settings({"web-error": "error.html", "web-listings": "no"}).active
    assert web_settings({"web-directory-type": "text/directory"}).directory_type == "text/directory"


def test_only_anonymous_or_web_mode_reads_get_a_web_site():
    assert wants_static_web("GET", {})
    assert wants_static_web("HEAD", {"X-Auth-Token": "t", "X-Web-Mode": "true"})
    assert not wants_static_web("GET", {"X-Auth-Token": "t"})
    assert not wants_static_web("PUT", {})


def test_sizes_read_as_swift_shows_them():
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 10 * 2**20, 3 * 2**30)] == [
        "0",
        "1023",
        "1Ki",
        "2Ki",
        "10Mi",
        "3Gi",
    ]


def test_style_sheets_are_linked_from_any_depth():
    assert css_href("site.css", "") == "site.css"
    assert css_href("site.css", "a/b/") == "../../site.css"
    assert css_href("/other/site.css", "a/") == "/other/site.css"


def test_a_listing_shows_subdirs_then_objects_relative_to_its_prefix_and_escapes_names():
    rows = [
        {"subdir": "docs/img/"},
        {
            "name": "docs/<b>.txt",
            "bytes": 2048,
            "content_type": "text/plain",
            "last_modified": "2024-01-02T03:04:05.123",
        },
    ]
    page = render_listing("/v1/AUTH_a/site/docs/", "docs/", rows, WebSettings(listings=True)).decode()
    assert "<title>Listing of /v1/AUTH_a/site/docs/</title>" in page
    assert '<a href="../">../</a>' in page
    assert page.index('href="img/"') < page.index('href="%3Cb%3E.txt"')
    assert "&lt;b&gt;.txt" in page and "<b>.txt" not in page
    assert 'class="item type-text type-plain"' in page and "2Ki" in page and "2024-01-02 03:04:05" in page
    styled = render_listing(
        "/v1/AUTH_a/site/", "", [], WebSettings(listings=True, listings_css="s.css")
    ).decode()
    assert '<link rel="stylesheet" type="text/css" href="s.css" />' in styled and "../" not in styled
