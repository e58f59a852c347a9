"""Static checks of the interface's languages (no server, no browser: fast).

Messages are keyed by their English text (web/js/i18n.js). A small extractor reads every `t('...')` and
`tn(count, '...', '...')` of web/js and every `data-i18n` text and `data-i18n-attrs` attribute of web/*.html;
then:

- every call passes literal English (a variable would hide its message from translators);
- French is complete; no catalogue keeps a message the source no longer has;
- placeholders (`{name}`) match between the English and each translation;
- plural entries carry the categories Intl.PluralRules has for their language;
- each catalogue is valid JSON naming its language, and Arabic runs right to left;
- page modules pass no English words to the page without t() (a heuristic that catches regressions).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

WEB = Path(__file__).resolve().parent.parent / "web"
JS = WEB / "js"
CATALOGUES = WEB / "i18n"

# The categories of Intl.PluralRules(code).resolvedOptions().pluralCategories (CLDR), as browsers report them.
PLURAL_CATEGORIES = {
    "en": {"one", "other"},
    "fr": {"one", "many", "other"},
    "es": {"one", "many", "other"},
    "ru": {"one", "few", "many", "other"},
    "ar": {"zero", "one", "two", "few", "many", "other"},
    "zh": {"other"},
}
DIRECTIONS = {"en": "ltr", "fr": "ltr", "es": "ltr", "ru": "ltr", "zh": "ltr", "ar": "rtl"}

# t(variable) is allowed only where the message was extracted elsewhere: translateStatic() translates the
# texts of the HTML files (extracted from them below).
PASS_THROUGH = {"i18n.js"}

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# msg('...') is a message kept in the reader's language (js/i18n.js): extracted like t('...').
CALL = re.compile(r"(?<![\w$.])(tn?|msg)\(")
ESCAPES = {"n": "\n", "t": "\t", "'": "'", '"': '"', "\\": "\\", "`": "`"}


class NotLiteral(ValueError):
    """A t() or tn() argument that is not a plain string literal."""


@dataclass
class Message:
    """One message: its English id, its English singular for plurals, and where it is used."""

    text: str
    one: str | None = None
    places: list[str] = field(default_factory=list)

    @property
    def plural(self) -> bool:
        return self.one is not None


def skip_space(source: str, i: int) -> int:
    while i < len(source) and source[i] in " \t\r\n":
        i += 1
    return i


def read_literal(source: str, i: int) -> tuple[str, int]:
    """The string literal starting at source[i] (quotes or a backtick without ${}), and the index after it."""
    quote = source[i] if i < len(source) else ""
    if quote not in "'\"`":
        raise NotLiteral(source[i : i + 40])
    out = []
    i += 1
    while i < len(source) and source[i] != quote:
        char = source[i]
        if char == "\\":
            nxt = source[i + 1]
            if nxt == "u":
                out.append(chr(int(source[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if quote == "`" and source.startswith("${", i):
            raise NotLiteral(source[i : i + 40])
        out.append(char)
        i += 1
    return "".join(out), i + 1


def read_message(source: str, i: int) -> tuple[str, int]:
    """A message argument: a literal, or literals joined with + (a long message split over lines)."""
    text, i = read_literal(source, i)
    while True:
        j = skip_space(source, i)
        if j >= len(source) or source[j] != "+":
            return text, i
        more, i = read_literal(source, skip_space(source, j + 1))
        text += more


def skip_argument(source: str, i: int) -> int:
    """Index of the comma ending the argument that starts at i (brackets and strings skipped)."""
    depth = 0
    while i < len(source):
        char = source[i]
        if char in "'\"`":
            _, i = read_literal(source, i) if char != "`" else (None, source.index("`", i + 1) + 1)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            return i
        i += 1
    raise ValueError("unterminated call")


def strip_comments(source: str) -> str:
    """The source with comments blanked out (kept the same length, so positions and lines hold)."""
    out = list(source)
    i = 0
    while i < len(source):
        char = source[i]
        if char in "'\"`":
            end = i + 1
            while end < len(source) and source[end] != char:
                end += 2 if source[end] == "\\" else 1
            i = end + 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            end = len(source) if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif source.startswith("/*", i):
            end = source.index("*/", i) + 2
            out[i:end] = [c if c == "\n" else " " for c in source[i:end]]
            i = end
        elif char == "/" and re.search(r"[(,=:!&|?;{}\[]\s*$", source[max(0, i - 20) : i]):
            # A regular expression literal: skip it, so its quotes are not taken for strings.
            end = i + 1
            while end < len(source) and source[end] != "/":
                end += 2 if source[end] == "\\" else 1
            i = end + 1
        else:
            i += 1
    return "".join(out)


@dataclass
class Extraction:
    messages: dict[str, Message]
    problems: list[str]
    spans: dict[Path, list[tuple[int, int]]]


def extract_js(files: list[Path]) -> Extraction:
    messages: dict[str, Message] = {}
    problems: list[str] = []
    spans: dict[Path, list[tuple[int, int]]] = {}

    def add(text: str, where: str, one: str | None = None) -> None:
        message = messages.setdefault(text, Message(text, one))
        if one is not None and message.one not in (None, one):
            problems.append(f"{where}: {text!r} has two singulars: {message.one!r} and {one!r}")
        message.one = message.one or one
        message.places.append(where)

    for path in files:
        source = strip_comments(path.read_text(encoding="utf-8"))
        name = label(path)
        spans[path] = []
        for match in CALL.finditer(source):
            if re.search(r"function\s+$", source[: match.start()][-12:]):
                continue
            where = f"{name}:{source.count(chr(10), 0, match.start()) + 1}"
            i = skip_space(source, match.end())
            try:
                if match.group(1) == "tn":
                    i = skip_space(source, skip_argument(source, i) + 1)
                    start = i
                    one, i = read_message(source, i)
                    i = skip_space(source, i)
                    assert source[i] == ",", f"{where}: tn() needs the singular and the plural"
                    other, i = read_message(source, skip_space(source, i + 1))
                    add(other, where, one)
                else:
                    start = i
                    text, i = read_message(source, i)
                    add(text, where)
                spans[path].append((start, i))
            except NotLiteral as exc:
                if path.name not in PASS_THROUGH:
                    problems.append(f"{where}: {match.group(1)}() of something other than a literal: {exc}")
    return Extraction(messages, problems, spans)


class StaticText(HTMLParser):
    """The messages of an HTML page: data-i18n texts and data-i18n-attrs attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[str] = []
        self.problems: list[str] = []
        self._open: list[tuple[str, list[str]]] = []  # elements marked data-i18n, with their text so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in a.get("data-i18n-attrs", "").split():
            if a.get(name):
                self.messages.append(a[name])
            else:
                self.problems.append(f"<{tag}> names {name} in data-i18n-attrs but has no such attribute")
        if self._open:
            self.problems.append(f"<{tag}> inside an element marked data-i18n: its text would be replaced")
        if "data-i18n" in a:
            if a["data-i18n"]:
                self.messages.append(a["data-i18n"])
            else:
                self._open.append((tag, []))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            text = " ".join("".join(self._open.pop()[1]).split())
            if text:
                self.messages.append(text)


def label(path: Path) -> str:
    return path.relative_to(WEB).as_posix() if WEB in path.parents else path.name


def own_js() -> list[Path]:
    return sorted(p for p in JS.rglob("*.js"))


def pages() -> list[Path]:
    return sorted(WEB.glob("*.html"))


# The printable report, which the server writes in the reader's language with the same catalogues: its
# t('...') and tn(n, '...', '...') calls read like the pages'.
REPORT_TEMPLATE = WEB.parent / "server" / "templates" / "report.html"


def all_messages() -> dict[str, Message]:
    extraction = extract_js([*own_js(), REPORT_TEMPLATE])
    messages = dict(extraction.messages)
    for page in pages():
        parser = StaticText()
        parser.feed(page.read_text(encoding="utf-8"))
        for text in parser.messages:
            messages.setdefault(text, Message(text)).places.append(page.name)
    return messages


def catalogue(code: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CATALOGUES / f"{code}.json").read_text(encoding="utf-8"))
    return data


CODES = sorted(p.stem for p in CATALOGUES.glob("*.json"))


# ---------------------------------------------------------------------------------------------------------


def test_the_extractor_reads_what_it_should(tmp_path: Path) -> None:
    """The extractor itself, on a made-up module: literals, escapes, tn() with an expression, and refusals."""
    sample = tmp_path / "sample.js"
    sample.write_text(
        "// t('not this: a comment')\n"
        "el('p', {}, t('Raise hand'), t(\"It\\u2019s {name}\", { name }));\n"
        "t('A long message, '\n  + 'split over two lines.');\n"
        "const x = tn(list.filter((e) => e.a, 2).length, '{count} hand', '{count} hands');\n"
        "const y = t(variable);\nconst z = t(`Hello ${who}`);\nfoo.t('not a call of ours');\n"
        "el('button', {}, msg('Stop'));\n",
        encoding="utf-8",
    )
    extraction = extract_js([sample])
    assert set(extraction.messages) == {
        "Raise hand",
        "It\u2019s {name}",
        "{count} hands",
        "A long message, split over two lines.",
        "Stop",
    }
    assert extraction.messages["{count} hands"].one == "{count} hand"
    assert len(extraction.problems) == 2, extraction.problems


def test_messages_are_literal() -> None:
    extraction = extract_js(own_js())
    assert not extraction.problems, "\n".join(extraction.problems)
    assert len(extraction.messages) > 300, "the extractor finds too few messages: is it still working?"


def test_html_marks_only_text() -> None:
    for page in pages():
        parser = StaticText()
        parser.feed(page.read_text(encoding="utf-8"))
        assert not parser.problems, f"{page.name}: {parser.problems}"
        assert parser.messages, f"{page.name} marks nothing for translation"


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_every_page_loads_the_languages_and_shows_the_picker(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "data-language-picker" in text, f"{page.name}: no place for the language picker"
    title = re.search(r"<title([^>]*)>([^<]*)</title>", text)
    assert title and (title.group(2) == "Hemicycle" or "data-i18n" in title.group(1)), (
        f"{page.name}: the page's <title> is not translated"
    )
    module = re.search(r'<script type="module" src="/static/js/pages/(\w+)\.js"', text)
    assert module, f"{page.name}: no page module"
    # The page module must reach i18n.js through its imports (its top-level await then runs first).
    seen, todo = set(), [JS / "pages" / f"{module.group(1)}.js"]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for spec in re.findall(r"""^import\s[^'"]*['"](\.{1,2}/[^'"]+)['"]""", current.read_text(), re.M):
            todo.append((current.parent / spec).resolve())
    assert (JS / "i18n.js").resolve() in seen, f"{page.name}: its module does not import js/i18n.js"


@pytest.mark.parametrize("code", CODES)
def test_catalogue_shape(code: str) -> None:
    data = catalogue(code)
    assert data["language"] == code
    assert data["dir"] == DIRECTIONS[code]
    assert isinstance(data["name"], str) and data["name"]
    assert isinstance(data["messages"], dict)
    i18n = (JS / "i18n.js").read_text(encoding="utf-8")
    assert f"code: '{code}', name: '{data['name']}', dir: '{data['dir']}'" in i18n, (
        f"{code}.json and the LANGUAGES of js/i18n.js disagree"
    )


def test_every_language_has_a_catalogue() -> None:
    assert set(CODES) == set(PLURAL_CATEGORIES) - {"en"}


@pytest.mark.parametrize("code", CODES)
def test_catalogue_entries_match_the_source(code: str) -> None:
    messages = all_messages()
    entries = catalogue(code)["messages"]
    stale = sorted(set(entries) - set(messages))
    assert not stale, f"{code}.json has messages the source no longer uses: {stale}"
    problems = []
    for key, value in entries.items():
        message = messages[key]
        source_names = set(PLACEHOLDER.findall(key)) | set(PLACEHOLDER.findall(message.one or ""))
        if message.plural:
            if not isinstance(value, dict):
                problems.append(f"{key!r}: a plural message needs an object of plural categories")
                continue
            missing = PLURAL_CATEGORIES[code] - set(value)
            extra = set(value) - PLURAL_CATEGORIES[code]
            if missing or extra:
                problems.append(f"{key!r}: categories missing {sorted(missing)}, unknown {sorted(extra)}")
            for category, text in value.items():
                names = set(PLACEHOLDER.findall(text))
                # A form for one, two or zero may say the number in words; every other name must be there.
                if names - source_names or (source_names - {"count"}) - names:
                    expected = sorted(source_names)
                    problems.append(f"{key!r} [{category}]: placeholders {sorted(names)}, not {expected}")
        else:
            if not isinstance(value, str) or not value:
                problems.append(f"{key!r}: a message needs a non-empty text")
                continue
            names = set(PLACEHOLDER.findall(value))
            if names != source_names:
                problems.append(f"{key!r}: placeholders {sorted(names)}, not {sorted(source_names)}")
    assert not problems, f"{code}.json:\n" + "\n".join(problems)


def test_french_is_complete() -> None:
    missing = sorted(set(all_messages()) - set(catalogue("fr")["messages"]))
    assert not missing, f"fr.json lacks {len(missing)} messages: {missing}"


def test_other_languages_cover_the_page_chrome() -> None:
    """Navigation, the floor and the queue, a raised hand, questions, connection states, in every language."""
    chrome = [
        "Skip to main content",
        "Language",
        "Connected.",
        "Connecting…",
        "Ask for the floor",
        "Lower my hand",
        "The floor",
        "Now speaking",
        "Next in line",
        "Questions",
        "Ask a question",
        "Send question",
        "Vote",
        "Register and follow",
        "This link has expired",
        "Time left",
        "Statement",
        "Point of order",
        "Right of reply",
        "Government",
        "Civil society",
    ]
    for code in CODES:
        entries = catalogue(code)["messages"]
        missing = [m for m in chrome if m not in entries]
        assert not missing, f"{code}.json lacks page chrome: {missing}"


# ---------------------------------------------------------------------------------------------------------
# Untranslated words passed to the page

NO_WORDS = {
    "protocol.js",
    "media.js",
    "tokens.js",
    "route.js",
    "i18n.js",
}  # codes only, or the machinery itself
PAGE_LAYER = [
    p
    for p in own_js()
    if p.name not in NO_WORDS and p.name != "protocol-types.js" and p.parent.name != "protocol"
]  # the protocol client's modules (web/js/protocol/) speak in codes too
LITERAL = re.compile(r"'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`")
# What may stand before a string that is not for people: hooks, classes, codes, keys, comparisons, imports.
NOT_FOR_PEOPLE = re.compile(
    r"(?:testid|class|className|cls|type|name|native|role|dir|lang|id|for|value|rel|target|href|action|kind|source|"
    r"inputmode|autocomplete|spellcheck|method|scope|step|min|max|maxlength|rows|tabindex|draggable|"
    r"'aria-[\w-]+'(?<!'aria-label')|'data-[\w-]+')\s*:\s*$"
    r"|(?:===?|!==?|case|in|from|import|querySelector(?:All)?\(|closest\(|getAttribute\(|setAttribute\(|"
    r"removeAttribute\(|hasAttribute\(|addEventListener\(|dispatchEvent\(new \w+\(|getElementById\(|byId\(|"
    r"createElement\(|el\(|includes\(|startsWith\(|endsWith\(|split\(|join\(|padStart\(\d+,|setProperty\(|"
    r"Error\(|ProtocolError\(|request\(|emit\(|on\(|\.key\s*===|subscribe\(|publish\()\s*$"
)
# Literal words that are the same in every language.
ALLOWED = {"Hemicycle", "—", "–", "·", " · ", ", ", ": ", " ", "…", "✓", "▲", "#", "%"}
ALLOWED |= {"ms", "kbit/s", "dBov"}  # units of the link health table
WORDS = re.compile(r"[A-Za-z]{2,}")


def untranslated(path: Path) -> list[str]:
    source = strip_comments(path.read_text(encoding="utf-8"))
    inside = extract_js([path])
    covered = inside.spans[path]
    found = []
    for match in LITERAL.finditer(source):
        if any(start <= match.start() < end for start, end in covered):
            continue
        raw = match.group(0)
        # Template parts are code, not words (a nested template cuts the match short: the rest is code too).
        body = re.sub(r"\$\{.*", " ", re.sub(r"\$\{(?:[^{}]|\{[^{}]*\})*\}", " ", raw[1:-1]))
        if raw[1:-1] in ALLOWED or not WORDS.search(body):
            continue
        # Words for people: a capital letter followed by lower case, or two words with a space between.
        if not re.search(r"[A-Z][a-z]|[a-z]{2,} [a-z]{2,}", body):
            continue
        before = source[max(0, match.start() - 60) : match.start()]
        if NOT_FOR_PEOPLE.search(before):
            continue
        line_start = source[source.rfind("\n", 0, match.start()) + 1 : match.start()]
        css = re.fullmatch(r"[a-z][\w-]*(?: [a-z][\w-]*)*", body.strip())
        if css and re.search(r"class(?:Name)?\s*[:=]", line_start):
            continue  # class names chosen by a condition
        if re.fullmatch(r"[a-z][a-z]*(?: [a-z][a-z]*)* [a-z]+-[a-z-]+", body.strip()):
            continue  # class names passed on ("secondary danger-text")
        line = source.count("\n", 0, match.start()) + 1
        found.append(f"{label(path)}:{line}: {raw[:70]}")
    return found


def test_the_guard_catches_an_untranslated_string(tmp_path: Path) -> None:
    sample = tmp_path / "guard.js"
    sample.write_text(
        "el('p', { class: 'muted hint', testid: 'x' }, 'Nobody is waiting.');\n"
        "el('p', {}, `${n} people waiting`);\nel('p', {}, t('Fine'), 'Hemicycle');\n",
        encoding="utf-8",
    )
    found = untranslated(sample)
    assert len(found) == 2, found


def test_page_modules_translate_what_they_show() -> None:
    found = [line for path in PAGE_LAYER for line in untranslated(path)]
    assert not found, "English shown without t():\n" + "\n".join(found)


class UnmarkedText(HTMLParser):
    """Words in an HTML page outside any element marked data-i18n, and labelling attributes left unmarked."""

    VOID: ClassVar[frozenset[str]] = frozenset(
        ["meta", "link", "input", "br", "img", "hr", "source", "track", "wbr", "area", "base", "col", "embed"]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, whether its text is for translation or exempt)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        marked = set(a.get("data-i18n-attrs", "").split())
        for name in ("aria-label", "title", "placeholder"):
            if WORDS.search(a.get(name, "")) and name not in marked:
                self.found.append(f"<{tag} {name}={a[name]!r}> without data-i18n-attrs")
        if tag in self.VOID:
            return
        covered = (
            "data-i18n" in a or tag in ("noscript", "script", "style") or (self._stack and self._stack[-1][1])
        )
        self._stack.append((tag, bool(covered)))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not WORDS.search(text) or text in ALLOWED or text.startswith("<!"):
            return
        if not (self._stack and self._stack[-1][1]):
            self.found.append(repr(text))


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_pages_mark_every_word(page: Path) -> None:
    parser = UnmarkedText()
    parser.feed(page.read_text(encoding="utf-8"))
    assert not parser.found, f"{page.name}: words not marked for translation: {parser.found}"


def test_the_html_guard_catches_unmarked_words() -> None:
    parser = UnmarkedText()
    parser.feed(
        "<!doctype html><html><head><title data-i18n>Fine — Hemicycle</title></head><body>"
        '<a class="brand" href="/">Hemicycle</a><p>Not marked</p>'
        '<label><span data-i18n>Name</span> <input></label><section aria-label="Session"></section>'
        "<noscript><p>This page needs JavaScript.</p></noscript></body></html>"
    )
    assert parser.found == ["'Not marked'", "<section aria-label='Session'> without data-i18n-attrs"]
