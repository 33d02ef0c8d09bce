"""What a hostile client sends: text with controls and NULs, values past every limit, bytes
that are not UTF-8, Unicode digits, deeply nested JSON, headers that are not what they say.

The strategies favour the shapes that have broken login services before over uniform noise;
hypothesis mixes and shrinks them.
"""

from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

CONTROL = "".join(chr(c) for c in range(0, 32)) + "\x7f"
#: Values that have each caused a 500 somewhere (NUL to PostgreSQL, Arabic-Indic digits to int()).
NASTY = ["\x00", "a\x00b", "\r\n", "١٢٣", "𝟙𝟚𝟛", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
         "%00", "%ff", "..", "../../etc/passwd", "' OR 1=1 --", "<script>", "{{7*7}}", "${7*7}",
         "null", "true", "[]", "{}", "-1", "0", "1e309", "NaN", " ", "", "ı", "ß", "ﬀ", "\u202e"]


def deep_json(depth: int) -> str:
    """``[[[...]]]`` nested ``depth`` deep (a RecursionError in a naive parser)."""
    return "[" * depth + "]" * depth


text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(CONTROL + "abc=&%;:/?#@"), max_size=20),
    st.text(min_size=300, max_size=3000),
    st.integers(min_value=5_000, max_value=70_000).map(lambda n: "x" * n),
    st.integers(min_value=50, max_value=20_000).map(deep_json),
    st.dictionaries(st.text(max_size=5), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=12), max_size=4).map(json.dumps),
    st.sampled_from(['{"id": 1, "rawId": null, "response": {"clientDataJSON": 5}}',
                     '{"type": "public-key", "id": "AA", "rawId": "AA", "response": {}}',
                     '{"response": {"transports": "usb"}}']),
)

header_value = st.one_of(
    st.sampled_from(["", " ", "Basic", "Basic !!!", "Bearer", "Bearer \x00", "DPoP x", "Bearer " + "A" * 5000,
                     *("Basic " + base64.b64encode(raw).decode()
                       for raw in (b"\xff\xfe:\xfd", b"nocolon", b"test-app:", b":", b"\x00:\x00"))]),
    st.binary(max_size=60).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
)

host = st.one_of(
    st.just("localhost"), st.just("a" * 80 + ".example.com"), st.just("localhost:99999"),
    st.just("[::1"), st.just("exa mple.com"), st.just("xn--ls8h.example"), st.just("..."),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
)

content_type = st.sampled_from([
    None, "application/x-www-form-urlencoded", "application/json", "text/plain",
    "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=zzz",
    "application/x-www-form-urlencoded; charset=utf-7", "application/jwt",
])


@st.composite
def fields(draw, names: list[str]) -> dict[str, str]:
    """A form: some of ``names`` (the page's own fields) and a stranger or two, hostile values."""
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))) if names else []
    extra = draw(st.lists(st.text(min_size=1, max_size=12), max_size=2))
    return {name: draw(text) for name in [*chosen, *extra]}


def raw_multipart(parts: list[tuple[str | None, bytes]], boundary: str = "fz") -> bytes:
    """A multipart body by hand, so a part may have no name at all."""
    chunks = []
    for name, value in parts:
        disposition = "form-data" if name is None else f'form-data; name="{name}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        chunks.append(head + value + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()
