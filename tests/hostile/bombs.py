"""Decompression bombs, PDFs that inflate in the parser, pages nested too deep.

Each is small on disk and huge once read; each is built here when a test
needs it, so none is committed as a binary.
"""

from __future__ import annotations

import zlib

MIB = 1 << 20


def brotli_bomb(size: int = 1 << 30) -> bytes:
    """``size`` zero bytes, brotli-compressed (1 GiB makes about 1.6 KB)."""
    import brotli

    compressor = brotli.Compressor(quality=5)
    block = b"\0" * MIB
    parts = [compressor.process(block) for _ in range(size // MIB)]
    return b"".join([*parts, compressor.finish()])


def gzip_bomb(size: int = 1 << 30) -> bytes:
    """``size`` zero bytes, gzip-compressed (1 GiB makes about 1 MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * MIB
    parts = [compressor.compress(block) for _ in range(size // MIB)]
    return b"".join([*parts, compressor.flush()])


def double_gzip_bomb(size: int = 1 << 30) -> bytes:
    """A gzip bomb gzipped again (``Content-Encoding: gzip, gzip``): about 2 KB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(gzip_bomb(size)) + compressor.flush()


def pdf_with_page(content: bytes) -> bytes:
    """A one-page PDF whose page content stream is ``content``, Flate-compressed."""
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pdf_operator_bomb(operators: int = 6_000_000) -> bytes:
    """A page of ``operators`` text-showing operators: about 40 MB of them
    compress to some 100 KB, and PDFium makes an object for every glyph."""
    return pdf_with_page(b"BT /F1 12 Tf 72 700 Td " + b"(x) Tj " * operators + b"ET")


def pdf_whitespace_page(size: int = 512 * MIB) -> bytes:
    """A page showing one string of ``size`` spaces."""
    return pdf_with_page(b"BT /F1 12 Tf 72 700 Td (" + b" " * size + b") Tj ET")


def pdf_with_text(text: str, title: str | None = None) -> bytes:
    """A small PDF showing ``text``, with ``title`` in its metadata if given."""
    from io import BytesIO

    from pypdf import PdfReader, PdfWriter

    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf_with_page(
        b"BT /F1 12 Tf 72 700 Td (" + escaped.encode("latin-1") + b") Tj ET"
    ))))  # fmt: skip
    if title is not None:
        writer.add_metadata({"/Title": title})
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def deep_html(depth: int = 100_000, text: str = "") -> bytes:
    """A page whose only text sits inside ``depth`` nested divs."""
    text = text or "The real text of the deep page survives the flattening of its nesting."
    body = "<div>" * depth + f"<p>{text}</p>" + "</div>" * depth
    return f"<html><head><title>Deep</title></head><body><main>{body}</main></body></html>".encode()
