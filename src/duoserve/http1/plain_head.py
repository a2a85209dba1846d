"""The plain request head: the regexes that match it and the framing they decide.

HttptoolsCodec begins the common short head with these (no llhttp, no build_head); they
are kept apart from the codec's state so that the grammar they encode reads in one place."""

from __future__ import annotations

import re

from .head import HOST_VALUE

# Heads up to this long are matched by regular expressions (the codec's _plain, SIMPLE),
# longer ones by llhttp: CPython's regex engine costs more per byte and per field over its
# passes than llhttp does with a Python callback per field, which is less from about here
# (codec instructions per head of Chromium's fields: 216 bytes, 72k by regex and 75k by
# llhttp; 331 bytes, 83k and 81k; 476 bytes, 93k and 86k).
REGEX_HEAD = 256
# The common head in one match: origin-form target without a fragment, HTTP/1.0 or 1.1,
# CRLF lines, single spaces, field names that are tokens and values of VCHAR/obs-text
# with inner SP/HTAB (RFC 9112 §3, §5; RFC 9110 §5.5), so no control character can be in
# it. Group 4 is the field block, each name after a "\n". Anything else: the llhttp path.
TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
VALUE = rb"(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?"
# A field line is a name, a colon and any VCHAR/obs-text/SP/HTAB: one character class,
# which is the same language as OWS, VALUE, OWS and far cheaper to match (no nested
# group to backtrack through).
SIMPLE = re.compile(
    rb"(" + TOKEN + rb") (/[\x21\x22\x24-\x7e]*) HTTP/1\.([01])\r"
    rb"(\n(?:" + TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)
FIELD = re.compile(rb"(" + TOKEN + rb"):[ \t]*(" + VALUE + rb")[ \t]*\r\n")
# In a lower-cased field block: the fields the codec's _plain() looks at (one valid Host
# line, one Content-Length of a size every parser reads alike, one Connection field of a
# single close or keep-alive) and those that ask for more than a plain request (chunked
# framing, an upgrade, an expectation).
NOTED = re.compile(rb"\n(host|content-length|connection|transfer-encoding|upgrade|expect):")
HOST_ONLY = [b"host"]
HOST_AND_LENGTH = ([b"host", b"content-length"], [b"content-length", b"host"])
# The field names of a lower-cased block and the values of the block as received, in
# order: a head SIMPLE matched has one of each per line (a name is a token, so the first
# colon on a line ends it; values hold no CR or LF).
NAMES = re.compile(rb"\n(" + TOKEN + rb"):")
# Values keep their trailing OWS here (bytes.rstrip takes it off: SIMPLE has let no
# other whitespace into a value).
VALUES = re.compile(rb":[ \t]*([^\r]*)\r")
BODY_OR_UPGRADE = re.compile(rb"\n(?:content-length|transfer-encoding|upgrade):")
HOST_LINE = re.compile(rb"\nhost:[ \t]*" + HOST_VALUE + rb"[ \t]*\r")
LENGTH_LINE = re.compile(rb"\ncontent-length:[ \t]*([0-9]{1,15})[ \t]*\r")
CONNECTION_LINE = re.compile(rb"\nconnection:[ \t]*(close|keep-alive)[ \t]*\r")


def plain_framing(
    low: bytes, noted: list[bytes], minor: bytes, body_limit: int
) -> tuple[int | None, bool] | None:
    """For HttptoolsCodec._plain(), a lower-cased field block whose `noted` fields are more than one
    Host: its Content-Length (or None) and whether the connection stays open, when both
    are plain (one valid Host, for HTTP/1.0 none; one Content-Length within the body
    limit; one Connection field that is just close or keep-alive; no chunked framing,
    upgrade or expectation); None otherwise."""
    hosts = noted.count(b"host")
    if hosts > 1 or (hosts == 0 and minor == b"1"):
        return None
    if hosts and HOST_LINE.search(low) is None:
        return None
    length = None
    keep_alive = minor == b"1"
    for name in noted:
        if name == b"content-length":
            found = LENGTH_LINE.search(low)
            if found is None or length is not None:
                return None
            length = int(found.group(1))
            if body_limit and length > body_limit:
                return None  # build_head() answers 413
        elif name == b"connection":
            option = CONNECTION_LINE.search(low)
            if option is None or noted.count(b"connection") > 1:
                return None
            keep_alive = option.group(1) == b"keep-alive"
        elif name != b"host":
            return None  # chunked framing, an upgrade or an expectation
    return length, keep_alive
