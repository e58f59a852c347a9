"""Static checks of the browser front end in web/ (no server, no browser: fast).

- every page the server serves exists, and every script, stylesheet and ES-module import resolves to a file;
- nothing parses data as HTML (innerHTML and friends are forbidden outside the vendored client);
- the protocol layer (web/js/protocol.js, its modules in web/js/protocol/ and its helpers) never touches the
  DOM and imports only its own layer;
- every static element a page module looks up by id exists in the page that loads it;
- the vendored Socket.IO client carries its licence; nothing is fetched from another host at run time.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "web"
JS = WEB / "js"
VENDOR = WEB / "vendor"

# Served as GET / , /s/{id}, /s/{id}/{page}, /e/{id}/admin (see docs/protocol.md, "Pages").
PAGES = ["index", "attend", "moderator", "chair", "av", "captioner", "interpreter", "display", "admin"]

# Modules that make up the protocol layer: no DOM, importable from a test runner or a worker. They speak in
# codes; words for people (js/labels.js, js/i18n.js) belong to the pages, in the reader's language.
PROTOCOL_LAYER = [
    "protocol.js",
    "protocol-types.js",
    *sorted(p.relative_to(JS).as_posix() for p in (JS / "protocol").glob("*.js")),
    "tokens.js",
    "route.js",
    "media.js",
]

# Hooks that end-to-end tests rely on (docs in web/js/ui.js).
TEST_HOOKS = [
    "session-state",
    "presence-total",
    "roster",
    "person",
    "connection-state",
    "register-form",
    "error-message",
    "state-live",
    "state-end",
    "state-reopen",
]

FORBIDDEN_SINKS = re.compile(
    r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write(ln)?|srcdoc)\b"
    r"|\beval\s*\(|\bnew\s+Function\s*\("
)
STATIC_IMPORT = re.compile(
    r"""(?:^|[;\s])(?:import|export)\s+(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]""", re.MULTILINE
)
DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*['"]([^'"]+)['"]\s*\)""")
BY_ID = re.compile(r"""\bbyId\(\s*['"]([^'"]+)['"]\s*\)""")
URL = re.compile(r"\bhttps?://", re.IGNORECASE)


def own_files(*suffixes: str) -> list[Path]:
    """Files of web/ written for Hemicycle (the vendored client is not ours to lint)."""
    return sorted(
        p for p in WEB.rglob("*") if p.is_file() and p.suffix in suffixes and VENDOR not in p.parents
    )


class PageParser(HTMLParser):
    """Collects what a page loads and the ids and attributes it declares."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.module_scripts: list[str] = []
        self.inline_scripts = 0
        self.stylesheets: list[str] = []
        self.ids: set[str] = set()
        self.testids: set[str] = set()
        self.live_regions = 0
        self.title = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "title":
            self.title = True
        if tag == "script":
            if "src" in a:
                assert a.get("type") == "module", f"script {a['src']} must be an ES module"
                self.module_scripts.append(a["src"])
            else:
                self._in_script = True
        if tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a["href"])
        if "id" in a:
            self.ids.add(a["id"])
        if "data-testid" in a:
            self.testids.add(a["data-testid"])
        if a.get("aria-live") == "polite":
            self.live_regions += 1

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def served_path(url: str) -> Path:
    """Where a /static/ URL of a page is on disk."""
    assert url.startswith("/static/"), f"{url}: pages load their files from /static/"
    return WEB / url.removeprefix("/static/")


def imports_of(module: Path) -> list[str]:
    text = module.read_text(encoding="utf-8")
    return STATIC_IMPORT.findall(text) + DYNAMIC_IMPORT.findall(text)


def resolve(module: Path, specifier: str) -> Path:
    if specifier.startswith("/static/"):
        return served_path(specifier)
    assert specifier.startswith(("./", "../")), (
        f"{module.relative_to(WEB)}: import {specifier!r} must be a relative path "
        "(no build step, no bare names)"
    )
    return (module.parent / specifier).resolve()


def module_closure(entry: Path) -> set[Path]:
    """The entry module and everything it imports, transitively (vendored files included, not followed)."""
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        if VENDOR in module.parents:
            continue
        todo.extend(resolve(module, spec) for spec in imports_of(module))
    return seen


@pytest.mark.parametrize("name", PAGES)
def test_page_exists_and_loads_existing_files(name: str) -> None:
    page = WEB / f"{name}.html"
    assert page.is_file(), f"web/{name}.html is missing"
    parsed = parse(page)
    assert parsed.lang, f"{name}.html: <html lang> is missing"
    assert parsed.title, f"{name}.html: <title> is missing"
    assert parsed.module_scripts, f"{name}.html loads no module"
    assert parsed.inline_scripts == 0, f"{name}.html: inline scripts are blocked by the page's CSP"
    assert parsed.live_regions >= 1, f"{name}.html: no polite live region for announcements"
    for url in parsed.module_scripts + parsed.stylesheets:
        assert served_path(url).is_file(), f"{name}.html: {url} does not exist"


@pytest.mark.parametrize("module", own_files(".js"), ids=lambda p: str(p.relative_to(WEB)))
def test_imports_resolve(module: Path) -> None:
    for spec in imports_of(module):
        target = resolve(module, spec)
        assert target.is_file(), f"{module.relative_to(WEB)}: import {spec!r} -> {target} does not exist"


@pytest.mark.parametrize("module", own_files(".js", ".html"), ids=lambda p: str(p.relative_to(WEB)))
def test_no_html_parsing_sinks(module: Path) -> None:
    """Names and titles come from people: they are inserted as text, never parsed as HTML."""
    for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
        match = FORBIDDEN_SINKS.search(line)
        assert not match, (
            f"{module.relative_to(WEB)}:{number}: {match.group(0)} is not allowed; use el() or textContent"
        )


@pytest.mark.parametrize("name", PROTOCOL_LAYER)
def test_protocol_layer_has_no_dom(name: str) -> None:
    module = JS / name
    text = module.read_text(encoding="utf-8")
    assert not re.search(r"\bdocument\b", text), f"js/{name} mentions document: DOM code belongs in the pages"
    layer = {(JS / n).resolve() for n in PROTOCOL_LAYER}
    for spec in imports_of(module):
        target = resolve(module, spec)
        assert target in layer or VENDOR in target.parents, (
            f"js/{name} imports {spec}: the protocol layer imports only itself and vendored code"
        )


def test_only_protocol_js_imports_socket_io() -> None:
    client = (VENDOR / "socket.io" / "socket.io.esm.min.js").resolve()
    importers = [
        m.relative_to(WEB).as_posix()
        for m in own_files(".js")
        if any(resolve(m, spec) == client for spec in imports_of(m))
    ]
    assert importers == ["js/protocol/core.js"]


@pytest.mark.parametrize("name", PAGES)
def test_element_ids_used_by_modules_exist(name: str) -> None:
    page = WEB / f"{name}.html"
    parsed = parse(page)
    modules = set().union(*(module_closure(served_path(src)) for src in parsed.module_scripts))
    for module in modules:
        if VENDOR in module.parents:
            continue
        for element_id in BY_ID.findall(module.read_text(encoding="utf-8")):
            assert element_id in parsed.ids, (
                f"{name}.html has no #{element_id}, which {module.relative_to(WEB)} looks up"
            )


def test_test_hooks_are_present() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in own_files(".js", ".html"))
    missing = [
        hook
        for hook in TEST_HOOKS
        if f'data-testid="{hook}"' not in text and f"testid: '{hook}'" not in text and f"'{hook}'" not in text
    ]
    assert not missing, f"test hooks not found in web/: {missing}"


def test_vendored_socket_io_client() -> None:
    folder = VENDOR / "socket.io"
    licence = folder / "LICENSE"
    assert licence.is_file(), "the vendored Socket.IO client must carry its LICENSE"
    assert "MIT License" in licence.read_text(encoding="utf-8")
    bundle = (folder / "socket.io.esm.min.js").read_text(encoding="utf-8")
    assert "Socket.IO v4.8.4" in bundle[:200]
    assert (folder / "README.md").is_file()


@pytest.mark.parametrize(
    "path", own_files(".js", ".html", ".css", ".md"), ids=lambda p: str(p.relative_to(WEB))
)
def test_no_external_urls(path: Path) -> None:
    """Venue networks are often filtered: every file a page needs is served by Hemicycle itself."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert not URL.search(line), f"{path.relative_to(WEB)}:{number}: absolute URL; serve it from /static/"


def test_user_text_is_isolated_for_bidi() -> None:
    """Names, affiliations and titles get dir="auto" (through ui.userText or an explicit attribute)."""
    ui = (JS / "ui.js").read_text(encoding="utf-8")
    assert "dir: 'auto'" in ui
    attend = (WEB / "attend.html").read_text(encoding="utf-8")
    for field in ("display_name", "affiliation"):
        assert re.search(rf'id="{field}"[^>]*dir="auto"', attend, re.S), f"#{field} needs dir=auto"


def test_country_codes_match_the_server() -> None:
    pycountry = pytest.importorskip("pycountry")
    labels = (JS / "labels.js").read_text(encoding="utf-8")
    block = re.search(r"COUNTRY_CODES = Object\.freeze\(`([^`]*)`", labels)
    assert block, "COUNTRY_CODES not found in js/labels.js"
    assert set(block.group(1).split()) == {c.alpha_2 for c in pycountry.countries}
