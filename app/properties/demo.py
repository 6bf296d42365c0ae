"""Demo properties in every state, with generated photos processed at once and two offering documents each.

Their funding is real investments: the caller passes `invest(p, plan)` (app/investing/demo.py does, through
investing.invest), so each property's raised amount equals its investments and the ledger verifies. Properties
never import investing: it sits above them."""
from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select

from app.auth.models import User
from app.core.db import in_unit_of_work, unit_of_work, utcnow
from app.extensions import db
from app.kyc.demo import sample_pdf
from app.properties import services as properties
from app.properties import workflow
from app.properties.models import Amenity, Property, PropertyFaq
from app.properties.tasks import process_photo

AMENITIES = ["Parking", "Elevator", "Gym", "Rooftop terrace", "Concierge", "EV charging", "Storage", "Garden",
             "Loading dock", "Solar panels"]
FAQ = [("How are returns paid?", "Into your Freehold wallet on each payment date; withdraw or reinvest them."),
       ("Who manages the property?", "A licensed local manager, paid from the rental income."),
       ("Can I sell my share early?", "Where resale is allowed, list it on the secondary market.")]

# Investments per property: (who, amount). "investor" is the demo investor, 1 to 3 the co-investors.
HARBOUR: Plan = [("investor", "5000.00"), (1, "25000.00"), (2, "25000.00"), (3, "25000.00"), (1, "25000.00"),
           (2, "20000.00")]
CANAL: Plan = [(n % 3 + 1, "5000.00") for n in range(12)]
OAK: Plan = [("investor", "1200.00")] + [(n % 3 + 1, "1200.00") for n in range(6)]
NORTHGATE: Plan = [("investor", "10000.00")] + [(n % 3 + 1, "50000.00") for n in range(7)] + [(2, "40000.00")]
VINEYARD: Plan = [("investor", "2500.00")] + [(n % 3 + 1, "5000.00") for n in range(9)] + [(3, "2500.00")]
HOTEL: Plan = [("investor", "6000.00"), (1, "30000.00"), (2, "20000.00")]

DEMO: list[tuple[str, str, str, str, str, str, int, dict[str, Any], str, Plan]] = [
    # slug, title, type, city, country, status, target, terms, description, investments
    ("harbour-lofts", "Harbour Lofts", "residential", "Lisbon", "PT", "active", 50_000_000,
     dict(min_investment=10_000, max_investment=2_500_000, return_rate_bps=800, return_frequency="quarterly",
          return_periods=20, capital_back=True, resale_allowed=True),
     "Twelve **riverside lofts** in a restored warehouse, let on long leases to young professionals.", HARBOUR),
    ("canal-street-offices", "Canal Street Offices", "commercial", "Amsterdam", "NL", "active", 20_000_000,
     dict(fixed_amount=500_000, return_fixed_amount=10_000, return_frequency="quarterly", return_periods=20,
          capital_back=True), "Grade A office floor fully let to a software company on a ten-year lease.", CANAL),
    ("oak-park-homes", "Oak Park Family Homes", "residential", "Austin", "US", "active", 30_000_000,
     dict(fixed_amount=120_000, installments_count=6, installment_interval=1, installment_unit="months",
          late_fee=2_000, return_rate_bps=650, return_frequency="monthly", return_periods=60, capital_back=True),
     "Eight detached family homes near good schools, paid for in six monthly installments.", OAK),
    ("northgate-logistics", "Northgate Logistics Park", "industrial", "Manchester", "GB", "funded", 40_000_000,
     dict(min_investment=50_000, max_investment=5_000_000, return_rate_bps=720, return_frequency="monthly",
          return_periods=84, capital_back=True, resale_allowed=True, resale_lockup_days=90),
     "A last-mile distribution warehouse let to a national carrier; "
     "the rent is shared out every month.", NORTHGATE),
    ("vineyard-plot", "Douro Vineyard Plot", "land", "Porto", "PT", "completed", 5_000_000,
     dict(min_investment=10_000, max_investment=500_000, return_rate_bps=500, return_frequency="yearly",
          return_periods=3, capital_back=True), "Terraced vineyard land, sold to a wine estate after three harvests.",
     VINEYARD),
    ("riverside-mixed", "Riverside Market Hall", "mixed_use", "Dublin", "IE", "draft", 25_000_000,
     dict(min_investment=25_000, max_investment=1_000_000, return_rate_bps=900, return_frequency="quarterly",
          return_periods=None, capital_back=False), "Shops on the ground floor, flats above. Opening soon.", []),
    ("seaside-hotel", "Seaside Boutique Hotel", "commercial", "Nice", "FR", "cancelled", 60_000_000,
     dict(min_investment=100_000, max_investment=6_000_000, return_rate_bps=1100, return_frequency="quarterly",
          return_periods=16, capital_back=True), "A twenty-room hotel; the offering was withdrawn by the sponsor.",
     HOTEL),
]

# Offerings with a history: (funding opened, funding closed, investments made, completed) in days before today.
# Their investments are made through investing.invest as of those days (see `demo_clock`), so their return
# calendars have dates in the past, which the distribution engine then pays.
HISTORY = {
    "northgate-logistics": (400, 340, 380, None),   # monthly rent since eleven months or so
    "vineyard-plot": (1300, 1200, 1250, 90),        # three yearly harvests and the capital paid, then sold
}

Plan = Sequence[tuple[str | int, str]]  # (who, amount in major units): "investor" or co-investor 1, 2, 3
Invest = Callable[[Property, Plan], None]
Clock = Callable[[datetime], AbstractContextManager]


@contextmanager
def demo_clock(moment: datetime) -> Iterator[None]:
    """Demo data only: run the property workflow as if it were `moment`, so that demo offerings can have a past
    (funding windows and return calendars months ago). The ledger, the audit trail and notifications keep the real
    time: they say when the demo was loaded. Investing adds its own clock around this one."""
    saved = workflow.utcnow
    workflow.utcnow = lambda: moment
    try:
        yield
    finally:
        workflow.utcnow = saved


def demo_photo(title: str, seed: int) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - demo pictures, reproducible on purpose
    image = Image.new("RGB", (1600, 1100), (rng.randint(150, 200), rng.randint(180, 215), rng.randint(200, 235)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 800, 1600, 1100], fill=(80 + rng.randint(0, 40), 120, 80))
    x = 200 + rng.randint(0, 300)
    height = 350 + rng.randint(0, 200)
    draw.rectangle([x, 800 - height, x + 700, 800], fill=(230, 225, 215), outline=(60, 60, 60), width=6)
    for row in range(3):
        for col in range(5):
            wx, wy = x + 60 + col * 125, 800 - height + 60 + row * 110
            draw.rectangle([wx, wy, wx + 70, wy + 60], fill=(90, 130, 170))
    draw.polygon([(x - 40, 800 - height), (x + 350, 800 - height - 180), (x + 740, 800 - height)],
                 fill=(150, 70, 50))
    draw.text((60, 60), title, fill=(30, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def _amenities() -> dict[str, Amenity]:
    amenities = {}
    for name in AMENITIES:
        amenity = db.session.scalar(select(Amenity).where(Amenity.name == name))
        if amenity is None:
            amenity = Amenity(name=name)
            db.session.add(amenity)
        amenities[name] = amenity
    db.session.flush()
    return amenities


def _create(index: int, row: tuple, amenities: dict[str, Amenity], manager: User, now: datetime) -> Property:
    """The draft with its content, terms, photos (still to process) and documents."""
    slug, title, kind, city, country, _status, target, term, description, _plan = row
    opened, closed, _, _ = HISTORY.get(slug, (20 + index, index * 3 - 40, None, None))
    p = Property(slug=slug, title=title, property_type=kind, city=city, country=country,
                 street=f"{10 + index} Demo Street", region="", postal_code=f"{1000 + index}",
                 description=description + "\n\n- Professionally managed\n- Insured\n- Quarterly reports",
                 target_amount=target, raised_amount=0, currency="USD", status="draft", created_by_id=manager.id,
                 funding_starts_at=now - timedelta(days=opened), funding_ends_at=now - timedelta(days=closed),
                 latitude=None, longitude=None, **term)
    p.amenities = [amenities[a] for a in random.Random(index).sample(AMENITIES, 4)]  # noqa: S311 - demo data
    p.faqs = [PropertyFaq(position=i, question=q, answer=a) for i, (q, a) in enumerate(FAQ, start=1)]
    db.session.add(p)
    db.session.flush()
    properties.check_terms_change(p, {})
    for n in range(3):
        properties.add_photo(p, demo_photo(title, index * 10 + n), actor=manager)
    for doc_title in ("Offering memorandum", "Subscription terms"):
        properties.add_document(p, sample_pdf(f"{title.upper()}  {doc_title}"), doc_title, actor=manager)
    db.session.flush()
    return p


def seed_properties(manager: User, approver: User, *, invest: Invest | None = None,
                    clock: Clock = demo_clock) -> None:
    """The demo properties, each submitted by `manager` and published by `approver` (finance) and, when `invest` is given, funded by `invest(p, plan)` with the
    investments of its plan (run under `clock(moment)` for offerings with a history). Idempotent.

    Commits as it goes (the photos are processed at once, from committed rows, so the demo has its images before
    a worker runs): call it outside any unit of work."""
    if in_unit_of_work():
        raise RuntimeError("the demo properties commit as they go: seed them outside a unit of work")
    with unit_of_work():
        amenities = _amenities()
    now = utcnow()
    for index, row in enumerate(DEMO):
        slug, status, plan = row[0], row[5], row[9]
        if db.session.scalar(select(Property.id).where(Property.slug == slug)) is not None:
            continue
        _, _, invested, completed = HISTORY.get(slug, (None, None, None, None))
        with unit_of_work():
            p = _create(index, row, amenities, manager, now)
            photo_ids = [photo.id for photo in p.photos]
        for photo_id in photo_ids:
            process_photo(photo_id)  # at once, so the demo has its images before a worker runs
        db.session.refresh(p)
        if status == "draft":
            continue
        with unit_of_work():
            with clock(now - timedelta(days=invested)) if invested else nullcontext():
                properties.approve(properties.submit(p, actor=manager), actor=approver)
                if invest is not None and plan:
                    invest(p, plan)
            db.session.refresh(p)
            if status == "completed":
                with clock(now - timedelta(days=completed)) if completed else nullcontext():
                    properties.complete(p, actor=manager, reason="Demo data: sold.")
            if status == "cancelled":
                properties.cancel(p, actor=manager, reason="Demo data: withdrawn by the sponsor.")
