"""The generated table of hash formats in docs/connectors.md is current, and every format in it
has a vector made by the software that writes it (in a ``test_hashes_*.py`` or a ``test_hash_*.py``)."""

from __future__ import annotations

from connectors.hashes import reference
from connectors.hashes.schemes import FORMATS
from tests.connectors.hashes.legacy import FORMAT_CASES
from tests.connectors.hashes.test_hash_aspnet import PUBLISHED_SUCCESS
from tests.connectors.hashes.test_hash_crypt import RECORDED


def test_every_format_has_a_case():
    schemes = {case.scheme for case in FORMAT_CASES.values()}
    schemes |= {key.split("-")[0] for key in RECORDED} | {scheme for scheme, _ in PUBLISHED_SUCCESS.values()}
    assert schemes == set(FORMATS)


def test_the_generated_table_of_formats_is_current():
    text = reference.DOCS_FILE.read_text()
    assert reference.rewrite(text) == text, (
        "docs/connectors.md: the hash formats table is out of date; "
        "run `python -m connectors.hashes.reference --write`")


def test_a_stale_table_is_noticed(tmp_path):
    text = reference.DOCS_FILE.read_text()
    start = text.index(reference.BEGIN) + len(reference.BEGIN)
    emptied = text[:start] + "\n" + text[text.index(reference.END):]
    assert reference.rewrite(emptied) == reference.rewrite(text)
    stale = tmp_path / "connectors.md"
    stale.write_text(emptied)
    assert reference.is_stale(stale)


def test_the_table_names_each_format_once_with_who_writes_it():
    table = reference.render_table()
    for name, found in FORMATS.items():
        [row] = [line for line in table.splitlines() if line.startswith(f"| `{name}` |")]
        assert found.written_by and found.recognised_by in row
        assert ("by default" in row) == found.auto


def test_the_readme_states_no_count_of_formats_that_could_drift():
    readme = (reference.ROOT / "README.md").read_text()
    assert "formats)" not in readme and "docs/connectors.md#type--hashes" in readme
