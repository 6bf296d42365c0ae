"""Builders for test files: good images and PDFs, and the bad ones an upload check must refuse."""
from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache

from PIL import ExifTags, Image

GPS_LATITUDE = ((40, 1), (26, 1), (4629, 100))


def _pattern(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: tells which way an image was turned."""
    image = Image.new("RGB", (width, height), (220, 30, 30))
    image.paste((30, 30, 220), (width // 2, 0, width, height))
    return image.convert(mode) if mode != "RGB" else image


def exif_with_gps(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (40.0, 26.0, 46.29)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (79.0, 58.0, 56.0)
    return exif


XMP_WITH_GPS = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
                b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
                b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="40,26.7715N" '
                b'exif:GPSLongitude="79,58.9333W"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def jpeg_with_gps(width: int = 40, height: int = 20) -> bytes:
    """A JPEG stored 40 x 20 with EXIF Orientation=6 (shown turned 90 degrees: 20 x 40), GPS EXIF and XMP,
    a comment and an ICC profile."""
    from PIL import ImageCms

    out = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _pattern(width, height).save(out, format="JPEG", exif=exif_with_gps(orientation=6), xmp=XMP_WITH_GPS,
                                 comment=b"taken at home", icc_profile=icc, quality=95)
    return out.getvalue()


def jpeg(width: int = 32, height: int = 24, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    _pattern(width, height, mode).save(out, format="JPEG", quality=90)
    return out.getvalue()


def png(width: int = 32, height: int = 24, mode: str = "RGB", **params) -> bytes:
    out = io.BytesIO()
    _pattern(width, height, mode).save(out, format="PNG", **params)
    return out.getvalue()


def png_with_exif() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "secret note")
    return png(exif=exif_with_gps(), pnginfo=text)


def webp(width: int = 32, height: int = 24, **params) -> bytes:
    out = io.BytesIO()
    _pattern(width, height).save(out, format="WEBP", quality=90, **params)
    return out.getvalue()


def webp_with_gps() -> bytes:
    return webp(exif=exif_with_gps(orientation=6), xmp=XMP_WITH_GPS)


def truncated_jpeg() -> bytes:
    data = jpeg(400, 300)
    return data[: len(data) // 2]


def html_as_jpeg() -> bytes:
    """What someone might upload as passport.jpg."""
    return b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'


def gif() -> bytes:
    out = io.BytesIO()
    _pattern(8, 8).save(out, format="GIF")
    return out.getvalue()


def blob(size: int = 11 * 1024 * 1024) -> bytes:
    return b"\xff\xd8\xff" + b"\0" * (size - 3)


# a PNG decompression bomb, written by hand --------------------------------------------------------------------------
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


@lru_cache(maxsize=4)
def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A 1-bit paletted PNG of width x height black pixels (1.6 gigapixels by default) whose IDAT is a valid,
    complete and tiny zlib stream of zeros. Decoding it would need width * height bytes of memory; building it
    never holds more than one band of rows."""
    row = 1 + (width + 7) // 8  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    band_rows = max(1, min(height, (4 * 1024 * 1024) // row))
    band = b"\0" * (row * band_rows)
    parts = []
    remaining = height
    while remaining:
        rows = min(band_rows, remaining)
        parts.append(compressor.compress(band if rows == band_rows else band[: row * rows]))
        remaining -= rows
    parts.append(compressor.flush())
    idat = b"".join(parts)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)  # bit depth 1, colour type 3 (palette)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"PLTE", b"\0\0\0\xff\xff\xff")
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


# PDFs -------------------------------------------------------------------------------------------------------------
def pdf_from_objects(objects: list[bytes], *, root: int = 1, header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
                     trailer_extra: bytes = b"") -> bytes:
    """A PDF whose objects are numbered from 1, with a correct cross-reference table."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += (b"trailer\n<< /Size %d /Root %d 0 R " % (len(objects) + 1, root) + trailer_extra
            + b">>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)


def _page_objects(catalog_extra: bytes = b"", page_extra: bytes = b"", text: bytes = b"Hello") -> list[bytes]:
    content = b"BT /F1 24 Tf 72 720 Td (" + text + b") Tj ET"
    return [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b">>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def minimal_pdf() -> bytes:
    return pdf_from_objects(_page_objects())


def pdf_with_goto_open_action() -> bytes:
    """An /OpenAction that only opens page 1: common and harmless."""
    return pdf_from_objects(_page_objects(catalog_extra=b"/OpenAction [3 0 R /Fit] "))


def pdf_with_open_action_js() -> bytes:
    return pdf_from_objects(_page_objects(
        catalog_extra=b"/OpenAction << /Type /Action /S /JavaScript /JS (app.alert\\('hi'\\);) >> "))


def pdf_with_obfuscated_js() -> bytes:
    """/J#61vaScript is /JavaScript once the name escape is decoded; /J#53 is /JS."""
    return pdf_from_objects(_page_objects(
        catalog_extra=b"/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >> "))


def pdf_with_names_javascript() -> bytes:
    objects = _page_objects(catalog_extra=b"/Names << /JavaScript 6 0 R >> ")
    objects.append(b"<< /Names [(init) 7 0 R] >>")
    objects.append(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>")
    return pdf_from_objects(objects)


def pdf_with_page_aa() -> bytes:
    return pdf_from_objects([*_page_objects(page_extra=b"/AA << /O 6 0 R >> "), b"<< /S /URI /URI (http://example.invalid/) >>"])


def pdf_with_launch() -> bytes:
    return pdf_from_objects(_page_objects(
        catalog_extra=b"/OpenAction << /S /Launch /F (cmd.exe) >> "))


def pdf_with_embedded_file() -> bytes:
    data = b"MZ not really a program"
    objects = _page_objects(catalog_extra=b"/Names << /EmbeddedFiles 6 0 R >> ")
    objects.append(b"<< /Names [(invoice.exe) 7 0 R] >>")
    objects.append(b"<< /Type /Filespec /F (invoice.exe) /EF << /F 8 0 R >> >>")
    objects.append(b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    return pdf_from_objects(objects)


def pdf_with_js_in_object_stream() -> bytes:
    """The JavaScript action sits inside a Flate-compressed object stream, invisible to a raw byte scan;
    only a parser that opens object streams sees it."""
    action = b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"
    head = b"6 0 "
    packed = zlib.compress(head + action)
    objects = _page_objects(catalog_extra=b"/OpenAction 6 0 R ")
    objects.append(b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
                   % (len(head), len(packed)) + packed + b"\nendstream")
    # object 6 lives in object stream 7: needs a cross-reference stream, written below
    header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    out = bytearray(header)
    offsets = []
    for number, body in zip([1, 2, 3, 4, 5, 7], objects):  # object 6 is packed inside object stream 7
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_number = 8
    xref_offset = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    for number in range(1, xref_number + 1):
        if number <= 5:
            rows.append(struct.pack(">BIH", 1, offsets[number - 1], 0))
        elif number == 6:
            rows.append(struct.pack(">BIH", 2, 7, 0))
        elif number == 7:
            rows.append(struct.pack(">BIH", 1, offsets[5], 0))
        else:
            rows.append(struct.pack(">BIH", 1, xref_offset, 0))
    table = zlib.compress(b"".join(rows))
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % (xref_number, xref_number + 1, len(table)) + table + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(out)


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf())))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_without_eof() -> bytes:
    return minimal_pdf().replace(b"%%EOF", b"")


def broken_pdf() -> bytes:
    """Right header and trailer marker, nothing readable between them."""
    return b"%PDF-1.4\n" + b"this is not a pdf body " * 20 + b"\n%%EOF\n"


def html_pdf_polyglot() -> bytes:
    return b"<html><script>alert(1)</script>\n" + minimal_pdf()


def pdf_with_binary_noise(size: int = 2 * 1024 * 1024, seed: int = 7) -> bytes:
    """A PDF with a large compressed-looking stream (random bytes): a raw scan must not see actions in noise."""
    import random

    noise = random.Random(seed).randbytes(size)
    objects = _page_objects()
    objects[3] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(noise) + noise + b"\nendstream"
    return pdf_from_objects(objects)


# PDFs that cost more to read than they weigh ----------------------------------------------------------------------
_BLANK_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def pdf_with_pages(count: int) -> bytes:
    """count blank pages under one page-tree node."""
    kids = b" ".join(b"%d 0 R" % (number + 3) for number in range(count))
    return pdf_from_objects([b"<< /Type /Catalog /Pages 2 0 R >>",
                             b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count] + [_BLANK_PAGE] * count)


def pdf_with_objects(count: int) -> bytes:
    """One blank page, and `count` more objects (each the number 0) listed in the cross-reference table."""
    return pdf_from_objects([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                             _BLANK_PAGE] + [b"0"] * count)


def pdf_with_doubling_page_tree(depth: int = 40) -> bytes:
    """A page tree in which every node lists the next one twice: 2**depth pages in about 3 KB, which a reader
    that flattens the tree tries to build."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for number in range(2, depth + 2):
        objects.append(b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count 2 >>" % (number + 1, number + 1))
    objects.append(_BLANK_PAGE.replace(b"2 0 R", b"%d 0 R" % (depth + 1)))
    return pdf_from_objects(objects)
