"""Known-hash lists: every layout we meet is read, and every row not taken says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from safelight.link.hashlists import KnownHash, load_hash_list, normalise_hash, parse_hash_list

# Made-up values of the right shapes (not from any real list).
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ2 = "0123456789abcdef" * 4
MD5 = "0f343b0931126a20f133d67c2b018a3b"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def test_threatexchange_dataset_csv() -> None:
    text = (
        "collab,signal_type,signal_str,category,tags\n"
        f"Sample Collab,pdq,{PDQ},POSITIVE_CLASS,tag_a tag_b\n"
        f"Sample Collab,video_md5,{MD5.upper()},INVESTIGATION_SEED,\n"
        f"Sample Collab,pdq,{PDQ2},NEGATIVE_CLASS,\n"
        "Sample Collab,vpdq,abc,POSITIVE_CLASS,\n"
        "Sample Collab,trend_query,whatever,POSITIVE_CLASS,\n"
        "Sample Collab,mystery,abc,POSITIVE_CLASS,\n"
    )
    got = parse_hash_list(text, source="te.csv")
    assert got.layout == "csv with header"
    assert got.hashes == [
        KnownHash("pdq", PDQ, "Sample Collab | tag_a tag_b", line=2),
        KnownHash("md5", MD5, "Sample Collab", line=3),
    ]
    assert [(s.line, s.reason) for s in got.skipped] == [(4, "marked negative_class by the list")]
    assert [(r.line, r.reason) for r in got.rejects] == [
        (5, "unsupported hash type 'vpdq'"),
        (6, "unsupported hash type 'trend_query'"),
        (7, "unknown hash type 'mystery'"),
    ]
    assert all(r.source == "te.csv" and r.excerpt for r in got.rejects)


def test_threatexchange_signal_lines() -> None:
    text = f"pdq {PDQ}\nvideo_md5 {MD5}\nurl https://example.org/x\npdq {PDQ[:-1]}\njunk\n"
    got = parse_hash_list(text)
    assert got.layout == "signal lines"
    assert [(h.kind, h.value) for h in got.hashes] == [("pdq", PDQ), ("md5", MD5)]
    assert [r.line for r in got.rejects] == [3, 4, 5]
    assert "63 hex digits" in got.rejects[1].reason


def test_columns_by_name_tsv_with_ids_labels_and_partial_rows() -> None:
    text = (
        "ID\tMD5\tSHA-256\tPDQ\tQuality\tLabel\n"
        f"101\t{MD5}\t{SHA}\t{PDQ}\t87\tlist A\n"
        f"102\t\t\t{PDQ2}\t\tlist B\n"
        "103\t\t\t\t\tnothing here\n"
        f"104\t{MD5[:-2]}\t{SHA}\t\t\tbad md5\n"
    )
    got = parse_hash_list(text)
    assert got.layout == "tsv with header"
    assert [(h.kind, h.ref, h.label, h.quality, h.line) for h in got.hashes] == [
        ("md5", "101", "list A", None, 2),
        ("sha256", "101", "list A", None, 2),
        ("pdq", "101", "list A", 87, 2),
        ("pdq", "102", "list B", None, 3),
        ("sha256", "104", "bad md5", None, 5),
    ]
    assert [(r.line, r.reason) for r in got.rejects] == [
        (4, "no hash in row"),
        (5, "md5: md5 value has 30 hex digits, expected 32"),
    ]


def test_headerless_rows_take_kind_from_length() -> None:
    text = f"# a comment\n{PDQ}\n\n{MD5}\n0x{PDQ2.upper()}\nnot-a-hash\n{'a' * 40}\n"
    got = parse_hash_list(text)
    assert got.layout == "plain without header"
    assert [(h.kind, h.value, h.line) for h in got.hashes] == [
        ("pdq", PDQ, 2),
        ("md5", MD5, 4),
        ("pdq", PDQ2, 5),
    ]
    assert [(r.line, r.reason) for r in got.rejects] == [
        (6, "no MD5, SHA-256 or PDQ hex value in row"),
        (7, "hex value of 40 digits is not an MD5, SHA-256 or PDQ"),
    ]
    as_sha = parse_hash_list(f"{SHA}\n", hex64_kind="sha256")
    assert as_sha.hashes == [KnownHash("sha256", SHA, line=1)]


def test_headerless_csv_shapes_of_threatexchange_state_and_pdq_hasher_output() -> None:
    state = f'3058061737574159,{PDQ},3058061737574160,2020-07-01T18:31:15+0000,"tag_a tag_b"\n'
    got = parse_hash_list(state)
    assert got.hashes == [KnownHash("pdq", PDQ, "tag_a tag_b", "3058061737574159", None, 1)]
    hasher = f"{PDQ},100,/photos/a.jpg\n{PDQ2},45,/photos/b.jpg\n"
    got = parse_hash_list(hasher)
    assert [(h.quality, h.label) for h in got.hashes] == [
        (100, "/photos/a.jpg"),
        (45, "/photos/b.jpg"),
    ]


def test_semicolon_and_pipe_delimiters_and_quoted_labels() -> None:
    semi = f'hash;label\n{MD5};"shelter; east"\n'
    assert parse_hash_list(semi).hashes == [KnownHash("md5", MD5, "shelter; east", line=2)]
    pipe = f"md5|sha256\n{MD5}|{SHA}\n"
    got = parse_hash_list(pipe)
    assert got.layout == "pipe with header" and len(got.hashes) == 2


def test_prefixed_values_and_generic_hash_column() -> None:
    text = f"hash,label\npdq:{PDQ},a\nMD5={MD5},b\n{SHA},c\nsha256:{PDQ[:10]},d\n"
    got = parse_hash_list(text, hex64_kind="sha256")
    assert [(h.kind, h.label) for h in got.hashes] == [("pdq", "a"), ("md5", "b"), ("sha256", "c")]
    assert got.rejects[0].line == 5 and "10 hex digits" in got.rejects[0].reason


def test_bad_rows_never_stop_the_rest() -> None:
    rows = ["md5,label"] + [f"{MD5},ok {i}" if i % 3 else 'zz,"unclosed' for i in range(30)]
    got = parse_hash_list("\n".join(rows))
    assert len(got.hashes) == 20 and len(got.rejects) == 10
    assert parse_hash_list("").layout == "empty" and parse_hash_list("\n# only\n").hashes == []


def test_load_from_file_with_bom_or_latin1(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(("\ufeffmd5,label\n" + f"{MD5},Zürich\n").encode("utf-8"))
    assert load_hash_list(path).hashes == [KnownHash("md5", MD5, "Zürich", line=2)]
    path.write_bytes(f"md5,label\n{MD5},Zürich\n".encode("latin-1"))
    got = load_hash_list(path)
    assert got.hashes[0].label == "Zürich" and got.rejects == []
    assert all(r.source == str(path) for r in got.rejects)


def test_normalise_hash() -> None:
    assert normalise_hash(f" 0x{MD5.upper()} ", "md5") == MD5
    for value, kind in [("", "md5"), ("xyz", "md5"), (MD5, "pdq"), (MD5, "sha1")]:
        with pytest.raises(ValueError):
            normalise_hash(value, kind)
    with pytest.raises(ValueError):
        parse_hash_list(MD5, hex64_kind="md5")
