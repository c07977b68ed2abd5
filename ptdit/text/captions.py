"""Prompt cleaning of the Qihoo-T2X prompt pipeline (PixArt-alpha's caption rules), in plain Python.

The reference pipeline cleans a prompt twice with the same rules before T5 tokenisation:
percent-escapes decoded, lower case, URLs, HTML tags, ``@handles``, CJK characters, numeric tags,
file names and web-shop boilerplate removed, dashes and quotes unified, noise punctuation turned
into spaces, runs of whitespace collapsed and stray punctuation trimmed from both ends. This module
states those rules as a table written for this pack; :func:`clean_prompt` applies them.

Optional helpers: ``ftfy`` (when installed) repairs mis-decoded text ("cafÃ©" to "café") as
PixArt's does; without it that repair is skipped. HTML is read with the standard library's
``html.parser`` (the parser PixArt hands to BeautifulSoup), so ``bs4`` is never needed.
"""
from __future__ import annotations

import html
import re
import urllib.parse
from html.parser import HTMLParser

try:  # optional, as in the reference pipeline
    from ftfy import fix_text as _fix_text
except ImportError:
    _fix_text = None

MEDIA_EXTENSIONS = "png|jpe?g|bmp|webp|eps|pdf|apk|mp4"


def _rules(*pairs: tuple[str, str]) -> list[tuple[re.Pattern, str]]:
    return [(re.compile(pattern), replacement) for pattern, replacement in pairs]


# Before HTML is read: links and the literal placeholder PixArt's datasets use.
_LINKS = _rules(
    (r"<person>", "person"),
    (r"\b(?:https?://|www\.)\S*", ""),
    (r"\b[\w.-]+\.(?:com|net|org|co|ru|io|info|biz)(?:/\S*)?(?=\s|$)", ""),
)

# After HTML is read, before entities are decoded.
_SYMBOLS = _rules(
    (r"@[\w]+\b", ""),
    ("[\u31c0-\u9fff]+", ""),  # CJK strokes ... unified ideographs
    ("[\u2010-\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d\u00ad]+", "-"),
    ("[\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u3003\uff02]", '"'),
    ("[\u2018\u2019\u201a\u201b\u2032\u0060\u00b4\uff07]", "'"),
    (r"&quot;?|&amp;?", ""),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}\b", " "),           # IPv4 addresses
    (r"\d:\d\d\s+$", ""),                             # trailing article ids "1:23 "
    (r"\\n", " "),                                    # a literal backslash-n
    (r"#\d{1,3}\b|#\d{5,}\b|\b\d{6,}\b", ""),         # "#12", "#123456", long numbers
    (rf"\S+\.(?:{MEDIA_EXTENSIONS})\b", ""),          # file names
    (r"[\"']{2,}", '"'),
    (r"\.{2,}", " "),
    (r"[#®•©™&@·º½¾¿¡§~()\[\]{}|\\/*]+", " "),
    (r"\s+\.\s+", " "),
)

# After entities are decoded: codes, shop boilerplate, sizes, then spacing.
_WORDS = _rules(
    (r"\b[a-z]{1,3}\d{3,15}\b", ""),                  # "jc6640"
    (r"\b[a-z]+\d+[a-z]+\b", ""),                     # "abc12def"
    (r"\b\d+[a-z]+\d+\b", ""),                        # "12ab34"
    (r"(?:worldwide\s+)?(?:free\s+)?shipping", ""),
    (r"(?:free\s)?download(?:\sfree)?", ""),
    (r"\bclick\b\s(?:for|on)\s\w+", ""),
    (rf"\b(?:{MEDIA_EXTENSIONS})(?:\simages?)?", ""),
    (r"\bpage\s+\d+\b", ""),
    (r"\b\d*[a-z]+\d+[a-z]+\d+[a-z\d]*\b", " "),     # "a1b2c3"
    (r"\b\d+\.?\d*[x\u0445×]\d+\.?\d*\b", ""),             # sizes "1920x1080"
    (r"\b\s+:\s+", ": "),
    (r"(\D[,./])\b", r"\1 "),                         # a space after , . / before a word
    (r"\s+", " "),
)

# The ends of the cleaned prompt.
_EDGES = _rules(
    (r"^[\"']([\s\S]+)[\"']$", r"\1"),
    (r"^['_,\-:;]", ""),
    (r"['_,\-:+]$", ""),
    (r"^\.", ""),
)
_DASH_OR_UNDERSCORE = re.compile(r"[-_]")


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment (tags dropped, entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(text: str) -> str:
    """The text content of ``text`` read as HTML."""
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def _apply(rules: list[tuple[re.Pattern, str]], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def _clean_once(text: str) -> str:
    text = urllib.parse.unquote_plus(text).strip().lower()
    text = _apply(_SYMBOLS, html_text(_apply(_LINKS, text)))
    if len(_DASH_OR_UNDERSCORE.findall(text)) > 3:  # "a-b-c-d-e" or "my_file_name_x": word separators
        text = _DASH_OR_UNDERSCORE.sub(" ", text)
    if _fix_text is not None:
        text = _fix_text(text)
    text = _apply(_WORDS, html.unescape(html.unescape(text)).strip())
    return _apply(_EDGES, text.strip()).strip()


def clean_prompt(text: str) -> str:
    """A prompt as the reference pipeline hands it to the T5 tokenizer (the rules run twice)."""
    return _clean_once(_clean_once(str(text)))
