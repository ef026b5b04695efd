"""Content sniffing: a file's first bytes must agree with its extension."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flextype_core import sniff

SAMPLES = {
    "gif": (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    "jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    "jpeg": (b"\xff\xd8\xff\xe1\x00\x10Exif", "image/jpeg"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    "svg": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    "ico": (b"\x00\x00\x01\x00\x01\x00\x10\x10", "image/vnd.microsoft.icon"),
    "pdf": (b"%PDF-1.7\n", "application/pdf"),
    "txt": ("Grüße\n".encode(), "text/plain"),
    "md": (b"# Title\n", "text/markdown"),
    "zip": (b"PK\x03\x04\x14\x00", "application/zip"),
    "mp3": (b"ID3\x04\x00\x00", "audio/mpeg"),
    "mp4": (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
    "webm": (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "video/webm"),
}


@pytest.mark.parametrize("extension", list(SAMPLES))
def test_content_matching_its_extension_gives_its_mime_type(extension: str) -> None:
    head, mime = SAMPLES[extension]
    assert sniff.detect(head, extension) == mime
    assert sniff.MIME_TYPES[extension] == mime


@pytest.mark.parametrize("extension", [e for e in SAMPLES if e not in {"txt", "md"}])
def test_content_of_another_type_is_refused(extension: str) -> None:
    other = b"<?php system($_GET['c']); ?>" if extension != "svg" else b"GIF89a<svg"
    assert sniff.detect(other, extension) is None


def test_the_extension_is_compared_ignoring_case_and_a_leading_dot() -> None:
    assert sniff.detect(SAMPLES["png"][0], ".PNG") == "image/png"


def test_an_unknown_extension_is_refused() -> None:
    assert sniff.detect(b"hello", "exe") is None
    assert sniff.detect(b"hello", "") is None


def test_an_mp3_may_start_with_a_frame_sync_instead_of_a_tag() -> None:
    assert sniff.detect(b"\xff\xfb\x90\x64", "mp3") == "audio/mpeg"
    assert sniff.detect(b"\xff\x00\x90\x64", "mp3") is None


@pytest.mark.parametrize("head", [b"a\x00b", b"\xff\xfe\x00t", b"\xc3\x28"])
def test_text_with_a_nul_or_invalid_utf8_is_refused(head: bytes) -> None:
    assert sniff.detect(head, "txt") is None


def test_text_cut_inside_a_character_is_still_text() -> None:
    assert sniff.detect("ab€".encode()[:-1], "txt") == "text/plain"


def test_an_svg_must_be_markup_containing_an_svg_element() -> None:
    assert sniff.detect(b"\xef\xbb\xbf  <svg width='1'/>", "svg") == "image/svg+xml"
    assert sniff.detect(b"<html><body></body></html>", "svg") is None
    assert sniff.detect(b"hello <svg", "svg") is None


def test_an_empty_file_is_only_text() -> None:
    assert sniff.detect(b"", "txt") == "text/plain"
    assert all(sniff.detect(b"", e) is None for e in SAMPLES if e not in {"txt", "md"})


@given(st.text())
def test_any_utf8_text_without_nul_is_text(text: str) -> None:
    data = text.replace("\x00", "").encode()
    assert sniff.detect(data, "md") == "text/markdown"


@given(st.binary(max_size=64), st.sampled_from(list(SAMPLES)))
def test_detect_gives_the_extensions_type_or_none(head: bytes, extension: str) -> None:
    assert sniff.detect(head, extension) in {None, SAMPLES[extension][1]}
