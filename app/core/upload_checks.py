"""What an uploaded file's content really is, decided where a crafted file can do no harm: run by
`app.core.uploads.clean_upload` in a child process with memory and time limits (`app.core.child`), where there is
no application context: the limits come as arguments.

Images are refused by pixel count from the header before any pixel is decoded, then verified, decoded, turned
upright and re-encoded without metadata. PDFs are refused when damaged, encrypted, longer than the page limit,
made of more objects than the object limit, or carrying scripts, automatic actions, embedded files or rich media.
"""
from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from app.core.i18n import N_, in_request_language

KINDS = ("jpeg", "png", "webp", "pdf")
_LABELS = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "pdf": "PDF"}
_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "pdf": "application/pdf"}
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "pdf": "pdf"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
# modes each format can save as they are; anything else is converted
_SAVE_MODES = {"jpeg": {"L", "RGB"}, "png": {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}, "webp": {"RGB", "RGBA"}}

PDF_EOF_WINDOW = 1024
DEFAULT_MAX_PIXELS = 25_000_000
DEFAULT_MAX_PAGES = 200
DEFAULT_MAX_OBJECTS = 100_000


class UploadRejected(Exception):
    """An upload that cannot be accepted. `message` is one sentence an investor understands, in the language of the
    request that shows it (the catalogue's translation of `template` with `params`; English outside a request, in
    logs and in the console); `code` is stable for programs (empty, too_large, unsupported_type, damaged,
    too_many_pixels, too_many_pages, too_many_objects, encrypted, active_content, embedded_content, unchecked).
    The checks run in a child process without a request: the sentence is translated where it is read."""

    def __init__(self, template: str, code: str = "rejected", params: dict[str, str] | None = None):
        self.template = template
        self.params = dict(params or {})
        super().__init__(self.english)
        self.code = code

    @property
    def english(self) -> str:
        return self.template % self.params if self.params else self.template

    @property
    def message(self) -> str:
        return in_request_language(self.template, **self.params)

    def __reduce__(self) -> tuple[Any, ...]:  # sent back from the child process whole, code included
        return (UploadRejected, (self.template, self.code, self.params))


@dataclass(frozen=True)
class CleanFile:
    data: bytes
    content_type: str
    extension: str
    kind: str  # "image" | "pdf"
    width: int | None
    height: int | None
    pages: int | None
    sha256: str
    size: int



_NOT_ALLOWED = {1: N_("This file is not a %(a)s."), 2: N_("This file is not a %(a)s or %(b)s."),
                3: N_("This file is not a %(a)s, %(b)s or %(c)s."), 4: N_("This file is not a %(a)s, %(b)s, %(c)s or %(d)s.")}


def not_allowed(allowed: tuple[str, ...]) -> UploadRejected:
    labels = [_LABELS[kind] for kind in KINDS if kind in allowed]
    return UploadRejected(_NOT_ALLOWED[len(labels)], "unsupported_type", dict(zip("abcd", labels, strict=False)))



@dataclass(frozen=True)
class Caps:
    """How much a file may hold: pixels of an image, pages and objects of a PDF."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_pages: int = DEFAULT_MAX_PAGES
    max_objects: int = DEFAULT_MAX_OBJECTS


def inspect(data: bytes, kind: str, caps: Caps) -> CleanFile:
    """The safe copy of `data`, whose magic bytes said `kind`; UploadRejected when it is not acceptable."""
    if kind == "pdf":
        return _clean_pdf(data, caps)
    return _clean_image(data, kind, caps.max_pixels)


# images ---------------------------------------------------------------------------------------------------------
def _damaged() -> UploadRejected:
    return UploadRejected(N_("This image is damaged or incomplete."), "damaged")


def _clean_image(data: bytes, kind: str, max_pixels: int) -> CleanFile:
    too_many = UploadRejected(N_("This image is too large (more than %(megapixels)s megapixels)."),
                              "too_many_pixels", {"megapixels": f"{max_pixels / 1_000_000:g}"})
    fmt = _PIL_FORMATS[kind]
    # Pillow's own bomb warning becomes an error too (a second line behind the explicit limit below), at the
    # limit at the latest
    pillow_limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            Image.MAX_IMAGE_PIXELS = min(pillow_limit or max_pixels, max_pixels)
            # 1. header only: refuse by pixel count before any pixel is decoded
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                width, height = probe.size
            if width <= 0 or height <= 0:
                raise _damaged()
            if width * height > max_pixels:
                raise too_many
            # 2. structural check
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                probe.verify()
            # 3. full decode (a truncated file fails here: LOAD_TRUNCATED_IMAGES stays off)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                if image.format not in (fmt, "MPO"):  # MPO: a phone's JPEG with extra frames
                    raise not_allowed((kind,))
                image.load()
                output, width, height = _reencode(image, kind)
        except UploadRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_many from None
        except MemoryError:
            raise too_many from None
        except Exception:
            raise _damaged() from None
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit
    return CleanFile(data=output, content_type=_CONTENT_TYPES[kind], extension=_EXTENSIONS[kind], kind="image",
                     width=width, height=height, pages=None, sha256=hashlib.sha256(output).hexdigest(),
                     size=len(output))


def _reencode(image: Image.Image, kind: str) -> tuple[bytes, int, int]:
    upright = ImageOps.exif_transpose(image)
    transparency = image.info.get("transparency")
    if upright is image:
        upright = image.copy()
    # nothing of the original metadata travels on: EXIF (GPS, orientation), XMP, ICC profile, comments, text
    upright.info = {}
    if kind == "png" and transparency is not None and upright.mode in {"1", "L", "I", "I;16", "P", "RGB"}:
        upright.info["transparency"] = transparency
    if upright.mode not in _SAVE_MODES[kind]:
        upright = _convert(upright, kind)
    out = io.BytesIO()
    if kind == "jpeg":
        upright.save(out, format="JPEG", quality=90, optimize=True)
    elif kind == "png":
        upright.save(out, format="PNG", optimize=True)
    else:
        upright.save(out, format="WEBP", quality=90)
    return out.getvalue(), upright.width, upright.height


def _convert(image: Image.Image, kind: str) -> Image.Image:
    alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info) or image.info.get("transparency") is not None
    if kind == "jpeg":
        if alpha:  # JPEG has no alpha: flatten onto white rather than letting hidden pixels show
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("L" if image.mode in {"1", "I", "I;16", "F"} else "RGB")
    return image.convert("RGBA" if alpha else "RGB")


# PDFs -----------------------------------------------------------------------------------------------------------



def _active() -> UploadRejected:
    return UploadRejected(N_("This PDF contains scripts or automatic actions and cannot be accepted."),
                          "active_content")


def _embedded() -> UploadRejected:
    return UploadRejected(N_("This PDF contains embedded files or media and cannot be accepted."), "embedded_content")


_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# whitespace or comments between a key and its value
_GAP = rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*[\r\n])*"
_GAP1 = rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*[\r\n])+"
_END = rb"(?=[\x00\t\n\x0c\r ()<>\[\]{}/%]|$)"
_REF = rb"\d+" + _GAP1 + rb"\d+" + _GAP1 + rb"R"
# Keys whose value is a string, dictionary, array or reference: the value is required in the pattern, so random
# bytes in a compressed stream do not look like one.
_RAW_ACTIVE = re.compile(
    rb"/JavaScript" + _END
    + rb"|/JS" + _GAP + rb"(?:[(<]|" + _REF + rb")"
    + rb"|/Launch" + _END
    + rb"|/AA" + _GAP + rb"(?:<<|" + _REF + rb")"
    + rb"|/XFA" + _GAP + rb"(?:[\[<]|" + _REF + rb")"
    + rb"|/OpenAction" + _GAP + rb"<<(?:(?!>>).){0,512}?/S" + _GAP + rb"/(?!GoTo" + _END + rb")",
    re.DOTALL)
_RAW_EMBEDDED = re.compile(rb"/EmbeddedFiles?" + _END + rb"|/RichMedia[A-Za-z]*" + _END)

_ACTIVE_KEYS = {"/JS", "/JavaScript", "/AA", "/XFA"}
_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/RichMediaExecute", "/ImportData", "/SubmitForm"}
_EMBEDDED_KEYS = {"/EmbeddedFiles", "/EmbeddedFile", "/EF", "/RichMediaContent", "/RichMediaSettings"}
_EMBEDDED_TYPES = {"/EmbeddedFile", "/RichMedia", "/FileAttachment", "/Movie", "/Sound", "/Screen", "/3D"}


def _pdf_damaged() -> UploadRejected:
    return UploadRejected(N_("This PDF is damaged or cannot be read."), "damaged")


def _scan_raw(data: bytes) -> None:
    decoded = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    if _RAW_ACTIVE.search(decoded):
        raise _active()
    if _RAW_EMBEDDED.search(decoded):
        raise _embedded()


def _too_many_pages(max_pages: int) -> UploadRejected:
    return UploadRejected(N_("This PDF has too many pages (more than %(pages)s)."), "too_many_pages",
                          {"pages": f"{max_pages:,}"})


def _too_many_objects(max_objects: int) -> UploadRejected:
    return UploadRejected(N_("This PDF is too complex (more than %(objects)s objects)."), "too_many_objects",
                          {"objects": f"{max_objects:,}"})


def _count_objects(reader: PdfReader) -> int:
    """Objects the cross-reference tables list (those in object streams included), without reading any."""
    listed = sum(len(numbers) for numbers in getattr(reader, "xref", {}).values())
    return listed + len(getattr(reader, "xref_objStm", {}))


def _count_pages(reader: PdfReader, max_pages: int) -> None:
    """Walk the page tree, counting a page each time it is reached, and stop as soon as there are too many: a tree
    whose nodes point at the same children again and again (2**20 pages in two kilobytes) is refused in
    max_pages steps, before pypdf flattens it."""
    root: Any = reader.trailer["/Root"].get_object()
    stack: list[Any] = [root["/Pages"]]
    pages = nodes = 0
    while stack:
        node = stack.pop()
        node = node.get_object() if hasattr(node, "get_object") else node
        if not isinstance(node, DictionaryObject):
            raise _pdf_damaged()
        kids = node.get("/Kids")
        if kids is None:
            pages += 1
            if pages > max_pages:
                raise _too_many_pages(max_pages)
            continue
        nodes += 1
        if nodes > max_pages + 64:  # more inner nodes than a tree of that many pages needs
            raise _too_many_pages(max_pages)
        kids = kids.get_object()
        if not isinstance(kids, ArrayObject):
            raise _pdf_damaged()
        stack.extend(kids)


def _clean_pdf(data: bytes, caps: Caps) -> CleanFile:
    if b"%%EOF" not in data[-PDF_EOF_WINDOW:]:
        raise _pdf_damaged()
    _scan_raw(data)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRejected(N_("This PDF is protected by a password; please upload a copy without one."),
                                 "encrypted")
        if _count_objects(reader) > caps.max_objects:
            raise _too_many_objects(caps.max_objects)
        _count_pages(reader, caps.max_pages)
        pages = len(reader.pages)
        if pages > caps.max_pages:
            raise _too_many_pages(caps.max_pages)
        _walk_pdf(reader, caps.max_objects)
    except UploadRejected:
        raise
    except Exception:
        raise _pdf_damaged() from None
    if pages < 1:
        raise _pdf_damaged()
    return CleanFile(data=data, content_type="application/pdf", extension="pdf", kind="pdf", width=None,
                     height=None, pages=pages, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _check_dict(obj: DictionaryObject) -> None:
    for name in obj:
        key = str(name)
        if key in _ACTIVE_KEYS:
            raise _active()
        if key in _EMBEDDED_KEYS or key.startswith("/RichMedia"):
            raise _embedded()
    action = obj.get("/S")
    if action is not None and str(action) in _ACTIVE_ACTIONS:
        raise _active()
    for key in ("/Type", "/Subtype"):
        value = obj.get(key)
        if value is not None and (str(value) in _EMBEDDED_TYPES or str(value).startswith("/RichMedia")):
            raise _embedded()
    if "/OpenAction" in obj:
        opener: Any = obj["/OpenAction"]  # whatever the file holds there: looked at by what it has
        opener = opener.get_object() if hasattr(opener, "get_object") else opener
        # a destination (array) or a plain GoTo is harmless; any other automatic action is not
        if hasattr(opener, "keys") and str(opener.get("/S")) != "/GoTo":
            raise _active()


def _walk_pdf(reader: PdfReader, max_objects: int) -> None:
    """Look at every object reachable from the trailer and every object listed in the cross-reference tables
    (including those packed in compressed object streams, which a raw scan cannot see)."""
    root: Any = reader.trailer["/Root"].get_object()  # a dictionary unless the file is damaged
    # the places the question names directly: document JavaScript and page actions
    names = root.get("/Names")
    names = names.get_object() if names is not None else None
    if isinstance(names, DictionaryObject) and ("/JavaScript" in names or "/EmbeddedFiles" in names):
        raise _active() if "/JavaScript" in names else _embedded()
    for page in reader.pages:
        if "/AA" in page:
            raise _active()

    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    for generation, numbers in getattr(reader, "xref", {}).items():
        stack.extend(IndirectObject(number, generation, reader) for number in numbers)
    stack.extend(IndirectObject(number, 0, reader) for number in getattr(reader, "xref_objStm", {}))
    visited = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        visited += 1
        if visited > 2 * max_objects:  # direct objects (inline dictionaries and arrays) counted too
            raise _too_many_objects(max_objects)
        if isinstance(obj, DictionaryObject):  # streams included: their dictionaries, not their data
            _check_dict(obj)
            stack.extend(value for key, value in obj.items() if key != "/Parent")
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
