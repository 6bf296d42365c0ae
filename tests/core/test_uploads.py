"""What an uploaded document really is, decided from its content, and made safe to keep."""
from __future__ import annotations

import hashlib
import io
import struct
import time
import tracemalloc

import pytest
from PIL import ExifTags, Image, ImageFile

from app.core import upload_checks
from app.core.uploads import CleanFile, UploadRejected, clean_upload, read_limited
from tests.core import files

NOT_ALLOWED = "This file is not a JPEG, PNG, WebP or PDF."
DAMAGED_IMAGE = "This image is damaged or incomplete."
TOO_MANY_PIXELS = "This image is too large (more than 25 megapixels)."
ACTIVE_PDF = "This PDF contains scripts or automatic actions and cannot be accepted."
EMBEDDED_PDF = "This PDF contains embedded files or media and cannot be accepted."
DAMAGED_PDF = "This PDF is damaged or cannot be read."
TOO_BIG = "This file is larger than 10 MB."


def _open(clean: CleanFile) -> Image.Image:
    image = Image.open(io.BytesIO(clean.data))
    image.load()
    return image


def _assert_no_metadata(clean: CleanFile) -> None:
    image = _open(clean)
    assert not image.getexif(), "EXIF survived"
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo), "GPS survived"
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "Comment"):
        assert key not in image.info, f"{key} survived"
    assert b"Exif\x00\x00" not in clean.data
    assert b"GPSLatitude" not in clean.data
    assert b"ns.adobe.com/xap" not in clean.data and b"adobe:ns:meta" not in clean.data
    assert b"taken at home" not in clean.data and b"secret note" not in clean.data


def _assert_consistent(clean: CleanFile) -> None:
    assert clean.size == len(clean.data)
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()


# accepted -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("build,content_type,extension,pil_format", [
    (files.jpeg, "image/jpeg", "jpg", "JPEG"),
    (files.png, "image/png", "png", "PNG"),
    (files.webp, "image/webp", "webp", "WEBP"),
])
def test_images_accepted_and_reencoded(build, content_type, extension, pil_format):
    clean = clean_upload(build())
    assert (clean.kind, clean.content_type, clean.extension) == ("image", content_type, extension)
    assert (clean.width, clean.height, clean.pages) == (32, 24, None)
    _assert_consistent(clean)
    image = _open(clean)
    assert image.format == pil_format and image.size == (32, 24)


def test_pdf_accepted_byte_for_byte():
    data = files.minimal_pdf()
    clean = clean_upload(data)
    assert (clean.kind, clean.content_type, clean.extension) == ("pdf", "application/pdf", "pdf")
    assert clean.data == data
    assert (clean.width, clean.height, clean.pages) == (None, None, 1)
    _assert_consistent(clean)


def test_pdf_page_count():
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    assert clean_upload(out.getvalue()).pages == 3


def test_pdf_made_by_pillow_accepted():
    out = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(out, format="PDF")
    assert clean_upload(out.getvalue()).pages == 1


def test_pdf_that_opens_on_its_first_page_accepted():
    assert clean_upload(files.pdf_with_goto_open_action()).pages == 1


def test_pdf_with_junk_before_header_accepted():
    data = b"\r\n" * 20 + files.minimal_pdf()
    assert clean_upload(data).data == data


def test_pdf_with_random_compressed_data_accepted():
    """Action names are matched with their values, so 2 MB of random stream bytes do not look like an action."""
    assert clean_upload(files.pdf_with_binary_noise()).pages == 1


def test_type_decided_by_content_not_by_caller():
    """No name or declared type goes in: a PNG is a PNG whatever it was called."""
    assert clean_upload(files.png()).content_type == "image/png"
    with pytest.raises(UploadRejected, match=r"^This file is not a PDF\.$"):
        clean_upload(files.png(), allowed=("pdf",))
    with pytest.raises(UploadRejected, match=r"^This file is not a JPEG or PNG\.$"):
        clean_upload(files.minimal_pdf(), allowed=("jpeg", "png"))
    with pytest.raises(ValueError):
        clean_upload(files.png(), allowed=("gif",))


# metadata and orientation -----------------------------------------------------------------------------------------
def test_jpeg_gps_removed_and_orientation_applied():
    data = files.jpeg_with_gps()
    original = Image.open(io.BytesIO(data))
    assert original.size == (40, 20)
    assert original.getexif()[ExifTags.Base.Orientation] == 6
    assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test file really carries a position
    assert b"GPSLatitude" in data and "icc_profile" in original.info

    clean = clean_upload(data)
    assert (clean.width, clean.height) == (20, 40)  # turned upright: width and height swapped
    _assert_consistent(clean)
    _assert_no_metadata(clean)
    image = _open(clean).convert("RGB")
    assert image.size == (20, 40)
    # stored left red / right blue; Orientation 6 turns it clockwise: red on top, blue below
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 150 and top[2] < 100, top
    assert bottom[2] > 150 and bottom[0] < 100, bottom


def test_webp_gps_removed_and_orientation_applied():
    clean = clean_upload(files.webp_with_gps())
    assert clean.content_type == "image/webp"
    assert (clean.width, clean.height) == (24, 32)
    _assert_no_metadata(clean)


def test_png_exif_and_text_removed():
    data = files.png_with_exif()
    assert b"eXIf" in data and b"secret note" in data
    clean = clean_upload(data)
    assert b"eXIf" not in clean.data and b"tEXt" not in clean.data
    _assert_no_metadata(clean)


@pytest.mark.parametrize("build,mode,expected_mode", [
    (lambda: files.jpeg(mode="CMYK"), "CMYK", "RGB"),
    (lambda: files.jpeg(mode="L"), "L", "L"),
    (lambda: files.png(mode="P"), "P", "P"),
    (lambda: files.png(mode="LA"), "LA", "LA"),
    (lambda: files.png(mode="RGBA"), "RGBA", "RGBA"),
    (lambda: files.png(mode="1"), "1", "1"),
])
def test_modes_kept_or_converted(build, mode, expected_mode):
    data = build()
    assert Image.open(io.BytesIO(data)).mode == mode
    clean = clean_upload(data)
    assert _open(clean).mode == expected_mode


def test_paletted_png_keeps_transparency():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((0, 0), 1)
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=0)
    cleaned = _open(clean_upload(out.getvalue()))
    assert cleaned.info.get("transparency") == 0


# refused ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("build,message,code", [
    (files.html_as_jpeg, NOT_ALLOWED, "unsupported_type"),
    (files.svg, NOT_ALLOWED, "unsupported_type"),
    (files.gif, NOT_ALLOWED, "unsupported_type"),
    (lambda: b"PK\x03\x04 a zip file", NOT_ALLOWED, "unsupported_type"),
    (lambda: b"%PDF-3.0\n" + files.minimal_pdf(), NOT_ALLOWED, "unsupported_type"),
    (lambda: b" " * 1024 + files.minimal_pdf(), NOT_ALLOWED, "unsupported_type"),
    (files.html_pdf_polyglot, NOT_ALLOWED, "unsupported_type"),
    (files.truncated_jpeg, DAMAGED_IMAGE, "damaged"),
    (lambda: files.png()[:-20], DAMAGED_IMAGE, "damaged"),
    (lambda: files.webp()[:40], DAMAGED_IMAGE, "damaged"),
    (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 100, DAMAGED_IMAGE, "damaged"),
    (lambda: b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, DAMAGED_IMAGE, "damaged"),
    (files.pdf_with_open_action_js, ACTIVE_PDF, "active_content"),
    (files.pdf_with_obfuscated_js, ACTIVE_PDF, "active_content"),
    (files.pdf_with_names_javascript, ACTIVE_PDF, "active_content"),
    (files.pdf_with_page_aa, ACTIVE_PDF, "active_content"),
    (files.pdf_with_launch, ACTIVE_PDF, "active_content"),
    (files.pdf_with_js_in_object_stream, ACTIVE_PDF, "active_content"),
    (files.pdf_with_embedded_file, EMBEDDED_PDF, "embedded_content"),
    (files.encrypted_pdf, "This PDF is protected by a password; please upload a copy without one.", "encrypted"),
    (files.pdf_without_eof, DAMAGED_PDF, "damaged"),
    (files.broken_pdf, DAMAGED_PDF, "damaged"),
    (lambda: b"", "This file is empty.", "empty"),
    (files.blob, TOO_BIG, "too_large"),
])
def test_bad_files_refused(build, message, code):
    with pytest.raises(UploadRejected) as caught:
        clean_upload(build())
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.code == code


@pytest.mark.parametrize("obfuscated", [
    b"/S /J#61vaScript", b"/#4A#53 (x)", b"/J#53 <6869>", b"/#41A << >>", b"/Launch", b"/L#61unch",
    b"/JS 12 0 R", b"/AA 7 0 R", b"/XFA [(a) 1 0 R]", b"/JS %comment\n(x)",
])
def test_raw_scan_sees_through_name_escapes(obfuscated):
    data = files.pdf_from_objects(files._page_objects(catalog_extra=b"/X << " + obfuscated + b" >> "))
    with pytest.raises(UploadRejected) as caught:
        clean_upload(data)
    assert caught.value.code == "active_content"


def test_object_stream_script_needs_the_parser():
    """A raw byte scan cannot see inside a compressed object stream; the pypdf walk does."""
    data = files.pdf_with_js_in_object_stream()
    upload_checks._scan_raw(data)  # passes: nothing visible in the raw bytes
    with pytest.raises(UploadRejected, match="scripts"):
        clean_upload(data)


def test_messages_are_single_sentences():
    for build in (files.html_as_jpeg, files.truncated_jpeg, files.pdf_with_open_action_js, files.blob,
                  lambda: b"", files.encrypted_pdf, files.broken_pdf, files.pdf_with_embedded_file):
        with pytest.raises(UploadRejected) as caught:
            clean_upload(build())
        message = caught.value.message
        assert message[0].isupper() and message.endswith(".") and message.count(". ") == 0, message


def test_limit_follows_max_bytes():
    with pytest.raises(UploadRejected, match=r"^This file is larger than 1 MB\.$"):
        clean_upload(files.blob(1024 * 1024 + 1), max_bytes=1024 * 1024)
    assert clean_upload(files.png(), max_bytes=len(files.png())).kind == "image"


# decompression bombs ----------------------------------------------------------------------------------------------
@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any image is decoded."""

    def refuse_load(self, *args, **kwargs):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_load)


@pytest.mark.parametrize("size", [(40_000, 40_000), (8_000, 8_000)])
def test_decompression_bomb_refused_before_decoding(size, no_decoding):
    """40,000 x 40,000 (1.6 gigapixels, 1.6 GB decoded) is past Pillow's own hard limit; 8,000 x 8,000
    (64 megapixels) is under Pillow's limits and stopped by ours. The check itself, in this process (uploads run
    it in a child: tests/security/test_costly_input.py), so that nothing it decodes goes unseen."""
    data = files.png_bomb(*size)
    assert len(data) < 300_000
    assert struct.unpack(">II", data[16:24]) == size  # IHDR width and height
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UploadRejected) as caught:
            upload_checks.inspect(data, "png", upload_checks.Caps())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.message == TOO_MANY_PIXELS
    assert caught.value.code == "too_many_pixels"
    assert elapsed < 2
    assert peak < 20 * 1024 * 1024, f"{peak} bytes allocated"


def test_pixel_limit_from_config(app, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_PIXELS", 500)
    with pytest.raises(UploadRejected, match=r"more than 0\.0005 megapixels") as caught:
        clean_upload(files.png(32, 24))  # 768 pixels
    assert caught.value.code == "too_many_pixels"
    monkeypatch.setitem(app.config, "UPLOAD_MAX_PIXELS", 768)
    assert clean_upload(files.png(32, 24)).width == 32


def test_pillow_bomb_warning_is_an_error(monkeypatch):
    """Past Pillow's warning threshold the image is refused even when our own limit is set higher (the check in
    this process, where Pillow's threshold can be lowered)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 768 pixels: a warning, not yet Pillow's error
    with pytest.raises(UploadRejected) as caught:
        upload_checks.inspect(files.png(32, 24), "png", upload_checks.Caps(max_pixels=10**12))
    assert caught.value.code == "too_many_pixels"
    assert Image.MAX_IMAGE_PIXELS == 500  # Pillow's own setting is left as it was


def test_truncated_images_stay_refused():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(UploadRejected):
        clean_upload(files.truncated_jpeg())
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# reading the upload -------------------------------------------------------------------------------------------------
class CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


class TrickleStream(CountingStream):
    """Hands out at most 1,000 bytes a call, as a socket may."""

    def read(self, size=-1):
        return super().read(1000 if size is None or size < 0 else min(size, 1000))


def test_read_limited_stops_after_the_limit():
    stream = CountingStream(files.blob())
    with pytest.raises(UploadRejected) as caught:
        read_limited(stream, 10 * 1024 * 1024)
    assert caught.value.message == TOO_BIG
    assert stream.bytes_read == 10 * 1024 * 1024 + 1


@pytest.mark.parametrize("stream_class", [CountingStream, TrickleStream])
def test_read_limited_returns_everything_up_to_the_limit(stream_class):
    data = bytes(range(256)) * 40
    assert read_limited(stream_class(data), len(data)) == data
    assert read_limited(stream_class(data), len(data) + 5) == data
    with pytest.raises(UploadRejected):
        read_limited(stream_class(data), len(data) - 1)
    assert read_limited(stream_class(b""), 10) == b""


def test_read_limited_with_werkzeug_file_storage():
    from werkzeug.datastructures import FileStorage

    upload = FileStorage(stream=io.BytesIO(files.png()), filename="passport.pdf", content_type="application/pdf")
    clean = clean_upload(read_limited(upload.stream, 10 * 1024 * 1024))
    assert clean.content_type == "image/png"  # the name and declared type are ignored
