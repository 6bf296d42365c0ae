"""Photo variants, placeholders and the task that makes a stored photo's variants."""
from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from app.core.storage import get_storage, new_key
from app.core.uploads import clean_upload
from app.extensions import db
from app.properties import images
from app.properties.images import SIZES, make_variants, placeholder, upright_size
from app.properties.models import PHOTO_FAILED, PHOTO_PROCESSING, PHOTO_READY, Property, PropertyPhoto
from app.properties.tasks import MAX_RETRIES, process_photo
from tests.core import files

EXPECTED = {"thumbnail": (300, 200), "medium": (800, 600), "large": (1200, 900)}
RED, BLUE = (220, 30, 30), (30, 30, 220)


@pytest.fixture(autouse=True)
def uploads(app, monkeypatch, tmp_path) -> Path:
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True)
def changed(monkeypatch) -> list[int]:
    """The property ids the task reported through services.photos_changed (recorded, not run)."""
    try:
        from app.properties import services
    except ImportError:
        services = types.ModuleType("app.properties.services")
        monkeypatch.setitem(sys.modules, "app.properties.services", services)
    calls: list[int] = []
    monkeypatch.setattr(services, "photos_changed", calls.append, raising=False)
    return calls


def _close(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def _assert_clean_jpeg(data: bytes, size: tuple[int, int]) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == size
        assert image.mode == "RGB"
        assert image.info.get("progressive") or image.info.get("progression")
        assert not image.getexif()
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        for key in ("exif", "icc_profile", "xmp", "comment", "dpi"):
            assert key not in image.info, key
    assert b"Exif" not in data
    assert b"xmpmeta" not in data and b"http://ns.adobe.com" not in data
    assert b"ICC_PROFILE" not in data
    assert b"taken at home" not in data


# make_variants ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    files.jpeg(600, 1600),  # tall
    files.jpeg(2400, 500),  # wide
    files.jpeg(7, 5),  # tiny: scaled up
    files.png(900, 900),
    files.webp(1300, 700),
], ids=["tall", "wide", "tiny", "square-png", "webp"])
def test_variants_have_exactly_each_size(source):
    variants = make_variants(source)
    assert set(variants) == set(SIZES) == set(EXPECTED)
    for name, data in variants.items():
        _assert_clean_jpeg(data, EXPECTED[name])


def test_variants_are_centre_crops():
    wide = make_variants(files.jpeg(2400, 500))["medium"]  # red | blue, cropped to the middle: both halves show
    with Image.open(io.BytesIO(wide)) as image:
        assert _close(image.getpixel((100, 300)), RED)
        assert _close(image.getpixel((700, 300)), BLUE)


def test_variants_drop_exif_gps_xmp_icc_and_are_turned_upright():
    source = files.jpeg_with_gps(400, 200)  # stored 400 x 200 with Orientation=6: shown 200 x 400, red on top
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the builder really carries GPS
    assert b"Exif" in source
    assert upright_size(source) == (200, 400)
    variants = make_variants(source)
    for name, data in variants.items():
        _assert_clean_jpeg(data, EXPECTED[name])
    with Image.open(io.BytesIO(variants["thumbnail"])) as image:
        assert _close(image.getpixel((150, 10)), RED)
        assert _close(image.getpixel((150, 190)), BLUE)


def test_transparent_areas_become_white():
    out = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 0, 0, 0)).save(out, format="PNG")
    with Image.open(io.BytesIO(make_variants(out.getvalue())["thumbnail"])) as image:
        assert _close(image.getpixel((150, 100)), (255, 255, 255), tolerance=5)


@pytest.mark.parametrize("data", [
    b"",
    b"plain text, not a picture",
    files.html_as_jpeg(),
    files.svg(),
    files.minimal_pdf(),
    files.truncated_jpeg(),
    files.png_bomb(),
], ids=["empty", "text", "html", "svg", "pdf", "truncated", "bomb"])
def test_anything_but_a_usable_image_is_refused(data):
    with pytest.raises(ValueError):
        make_variants(data)


def test_pixel_limit_from_config(app, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_PIXELS", 1000)
    with pytest.raises(ValueError, match="megapixels"):
        make_variants(files.jpeg(40, 30))
    with pytest.raises(ValueError):
        upright_size(files.jpeg(40, 30))
    assert set(make_variants(files.jpeg(40, 20))) == set(SIZES)


# placeholders -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(EXPECTED))
def test_placeholder_sizes(name):
    data = placeholder(name)
    _assert_clean_jpeg(data, EXPECTED[name])
    assert placeholder(name) is data  # generated once
    with Image.open(io.BytesIO(data)) as image:
        colours = image.getcolors(maxcolors=1 << 16)
        assert colours is not None and len(colours) > 1  # not a blank rectangle: the outline is drawn


def test_placeholder_unknown_size():
    with pytest.raises(ValueError):
        placeholder("huge")


# the task ---------------------------------------------------------------------------------------------------------
def _photo(data: bytes | None, *, slug="harbour-view") -> PropertyPhoto:
    prop = Property(slug=slug, title="Harbour View", target_amount=100_000_00)
    db.session.add(prop)
    db.session.flush()
    key = new_key(f"properties/{prop.id}/originals", "jpg")
    if data is not None:
        get_storage().put(key, data, "image/jpeg")
    photo = PropertyPhoto(property_id=prop.id, original_key=key)
    db.session.add(photo)
    db.session.commit()
    return photo


def _stored_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _run(photo_id: int) -> str:
    return process_photo.delay(photo_id).get()


def test_task_makes_three_stored_variants_and_marks_ready(uploads):
    original = clean_upload(files.jpeg_with_gps(1600, 1000)).data  # cleaned as uploads are: upright 1000 x 1600
    photo = _photo(original)
    photo_id, property_id = photo.id, photo.property_id
    assert photo.status == PHOTO_PROCESSING

    assert _run(photo_id) == PHOTO_READY

    db.session.expire_all()
    photo = db.session.get(PropertyPhoto, photo_id)
    assert photo.status == PHOTO_READY and photo.error is None
    assert (photo.width, photo.height) == (1000, 1600)
    keys = {"thumbnail": photo.thumbnail_key, "medium": photo.medium_key, "large": photo.large_key}
    assert len(set(keys.values())) == 3
    storage = get_storage()
    for name, key in keys.items():
        assert key.startswith(f"properties/{property_id}/") and key.endswith(".jpg")
        _assert_clean_jpeg(storage.get(key), EXPECTED[name])
    assert _stored_files(uploads) == set(keys.values()) | {photo.original_key}


def test_second_run_is_skipped_and_changes_nothing(uploads):
    photo = _photo(files.jpeg(1000, 800))
    assert _run(photo.id) == PHOTO_READY
    db.session.expire_all()
    before = (photo.thumbnail_key, photo.medium_key, photo.large_key)
    stored = _stored_files(uploads)

    assert _run(photo.id) == "skipped"

    db.session.expire_all()
    assert (photo.thumbnail_key, photo.medium_key, photo.large_key) == before
    assert _stored_files(uploads) == stored


def test_broken_original_marks_failed_without_retry(uploads, monkeypatch):
    calls = []
    real = images.make_variants
    monkeypatch.setattr("app.properties.tasks.make_variants", lambda data: calls.append(1) or real(data))
    photo = _photo(files.truncated_jpeg())

    assert _run(photo.id) == PHOTO_FAILED

    db.session.expire_all()
    assert photo.status == PHOTO_FAILED
    assert photo.error and len(photo.error) <= 300
    assert photo.thumbnail_key is None and photo.medium_key is None and photo.large_key is None
    assert len(calls) == 1  # refused once, never retried
    assert _stored_files(uploads) == {photo.original_key}


def test_not_an_image_marks_failed():
    photo = _photo(files.html_as_jpeg())
    assert _run(photo.id) == PHOTO_FAILED
    db.session.expire_all()
    assert photo.status == PHOTO_FAILED and "not a usable image" in photo.error


def test_missing_original_marks_failed():
    photo = _photo(None)
    assert _run(photo.id) == PHOTO_FAILED
    db.session.expire_all()
    assert photo.status == PHOTO_FAILED and "missing" in photo.error


def test_missing_photo():
    assert _run(987654) == "missing"


def test_failed_photo_can_be_processed_again_once_fixed():
    photo = _photo(b"not an image")
    assert _run(photo.id) == PHOTO_FAILED
    get_storage().put(photo.original_key, files.jpeg(900, 600), "image/jpeg")
    assert _run(photo.id) == PHOTO_READY
    db.session.expire_all()
    assert photo.status == PHOTO_READY and photo.error is None


def test_variants_left_by_an_earlier_attempt_are_replaced_then_removed(uploads):
    photo = _photo(files.jpeg(1000, 800))
    storage = get_storage()
    old = [new_key(f"properties/{photo.property_id}", "jpg") for _ in range(3)]
    for key in old:
        storage.put(key, b"half-written", "image/jpeg")
    photo.thumbnail_key, photo.medium_key, photo.large_key = old
    db.session.commit()

    assert _run(photo.id) == PHOTO_READY

    db.session.expire_all()
    new = [photo.thumbnail_key, photo.medium_key, photo.large_key]
    assert not set(new) & set(old)
    assert not any(storage.exists(key) for key in old)
    assert _stored_files(uploads) == set(new) | {photo.original_key}
    _assert_clean_jpeg(storage.get(photo.large_key), EXPECTED["large"])


def test_a_run_that_loses_the_race_removes_its_own_files(uploads, monkeypatch):
    """Another delivery of the same task finished while this one was making images: its result stands."""
    photo = _photo(files.jpeg(1000, 800))
    photo_id = photo.id
    winner = {"thumbnail_key": "properties/w/t.jpg", "medium_key": "properties/w/m.jpg",
              "large_key": "properties/w/l.jpg"}
    real = images.make_variants

    def slow_make_variants(data):
        result = real(data)
        db.session.execute(PropertyPhoto.__table__.update().where(PropertyPhoto.id == photo_id)
                           .values(status=PHOTO_READY, **winner))
        db.session.commit()
        return result

    monkeypatch.setattr("app.properties.tasks.make_variants", slow_make_variants)
    assert _run(photo_id) == "skipped"

    db.session.expire_all()
    photo = db.session.get(PropertyPhoto, photo_id)
    assert (photo.thumbnail_key, photo.medium_key, photo.large_key) == tuple(winner.values())
    assert _stored_files(uploads) == {photo.original_key}


def test_a_storage_error_is_retried_a_bounded_number_of_times(monkeypatch, uploads):
    # eager Celery re-runs a retried task only when it does not propagate the Retry exception
    monkeypatch.setitem(process_photo.app.conf, "task_eager_propagates", False)
    storage = get_storage()
    real_put = type(storage).put
    failures = {"left": 0}
    attempts: list[str] = []

    def flaky_put(self, key, data, content_type):
        attempts.append(key)
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("disk unavailable")
        return real_put(self, key, data, content_type)

    monkeypatch.setattr(type(storage), "put", flaky_put)
    photo = _photo(files.jpeg(1000, 800))
    failures["left"] = 2  # the first attempt's first variant fails, then the first retry's
    assert _run(photo.id) == PHOTO_READY
    db.session.expire_all()
    assert photo.status == PHOTO_READY
    assert len(_stored_files(uploads)) == 4  # original + three variants, nothing left from failed tries

    other = _photo(files.jpeg(1000, 800), slug="other")
    failures["left"] = 10 ** 6
    attempts.clear()
    assert _run(other.id) == PHOTO_FAILED
    assert len(attempts) == 1 + MAX_RETRIES  # each try fails at its first file
    db.session.expire_all()
    assert other.status == PHOTO_FAILED and "OSError" in other.error


def test_caches_are_told_when_a_photo_becomes_ready(changed):
    photo = _photo(files.jpeg(1000, 800))

    assert _run(photo.id) == PHOTO_READY
    assert changed == [photo.property_id]
    assert _run(photo.id) == "skipped"
    assert changed == [photo.property_id]

    failed = _photo(b"broken", slug="broken")
    assert _run(failed.id) == PHOTO_FAILED
    assert changed == [photo.property_id]
