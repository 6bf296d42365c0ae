"""Examples of the staff operations on properties: a property manager, Marta Silva, sets up Riverside Court in Porto
with a staff token, adds its photos and memorandum, and submits it for publication."""
from __future__ import annotations

from typing import Any

from app.api.examples import error, money, success

CREATE_REQUEST = {
    "title": "Riverside Court", "property_type": "residential", "city": "Porto", "country": "PT",
    "street": "Rua do Infante 21", "postal_code": "4050-296",
    "description": "Eighteen **renovated flats** above the Douro, let on long leases.",
    "target_amount": "750000.00", "min_investment": "100.00", "max_investment": "50000.00",
    "return_rate_bps": 750, "return_frequency": "quarterly", "return_periods": 20, "capital_back": True,
    "funding_starts_at": "2027-02-01T09:00:00+00:00", "funding_ends_at": "2027-05-31T18:00:00+00:00",
    "amenities": ["Elevator"], "faqs": [{"question": "Who manages the building?",
                                         "answer": "A local manager, paid from the rent."}],
}
UPDATE_REQUEST = {"description": "Eighteen renovated flats above the Douro, let on long leases.",
                  "max_investment": "40000.00"}

_TERMS: dict[str, Any] = {"return_rate_bps": 750, "return_fixed_amount": None, "return_periods": 20, "capital_back": True,
          "late_fee": None, "resale_allowed": False, "resale_lockup_days": None,
          "summary": [["Target", "USD 750,000.00"], ["Investment", "USD 100.00 to USD 50,000.00"],
                      ["Expected return", "7.50 % a year"], ["Paid", "every quarter, for 5 years"],
                      ["Capital", "returned at the end"]],
          "example": "Invest 1000.00, receive 18.75 every quarter for 5 years, then your 1000.00 back."}
_RIVERSIDE: dict[str, Any] = {
    "id": 14, "slug": "riverside-court", "title": "Riverside Court", "status": "draft",
    "property_type": "residential", "city": "Porto", "country": "PT", "target_amount": money("750000.00"),
    "raised_amount": money("0.00"), "remaining_funding": money("750000.00"), "funded_percent": "0.0",
    "min_investment": money("100.00"), "max_investment": money("50000.00"), "fixed_amount": None,
    "unit_price": money("1.00"), "installments": None, "expected_return_rate": "7.50",
    "return_frequency": "quarterly", "funding_starts_at": "2027-02-01T09:00:00+00:00",
    "funding_ends_at": "2027-05-31T18:00:00+00:00", "images": [],
    "description": "Eighteen **renovated flats** above the Douro, let on long leases.",
    "description_html": "<p>Eighteen <strong>renovated flats</strong> above the Douro, let on long leases.</p>",
    "address": {"street": "Rua do Infante 21", "city": "Porto", "region": "", "postal_code": "4050-296",
                "country": "PT", "latitude": None, "longitude": None},
    "amenities": ["Elevator"],
    "faq": [{"question": "Who manages the building?", "answer": "A local manager, paid from the rent."}],
    "documents": [], "documents_version": "9b0e61c2f4a1d35e8c7b2a4f6d1e0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d",
    "video_url": None,
    "terms": _TERMS,
    "approval_request": None,
}
CREATED = success(_RIVERSIDE, message="Draft created.")
UPDATED = success({**_RIVERSIDE, "max_investment": money("40000.00"),
                   "description": "Eighteen renovated flats above the Douro, let on long leases.",
                   "description_html": "<p>Eighteen renovated flats above the Douro, let on long leases.</p>",
                   "terms": {**_TERMS, "summary": [["Target", "USD 750,000.00"],
                                                                ["Investment", "USD 100.00 to USD 40,000.00"]]}},
                  message="Saved.")
ARCHIVED = success({**_RIVERSIDE, "status": "archived"}, message="Archived.")

PHOTOS_REQUEST = {"photos": ["(a JPEG, PNG or WebP file)", "(another one)"]}
PHOTOS_ADDED = success([{"id": 51, "position": 1, "cover": True, "status": "processing"},
                        {"id": 52, "position": 2, "cover": False, "status": "processing"}],
                       message="2 photo(s) added; sizes are being made.")
DOCUMENT_REQUEST = {"title": "Offering memorandum", "document": "(a PDF file)"}
DOCUMENT_ADDED = success({"id": 31, "title": "Offering memorandum", "pages": 24, "size": 482113},
                         message="Document added.")
SUBMITTED = success({"id": 8, "kind": "publish", "status": "pending", "proposed": None},
                    message="Submitted for publication: a finance user approves it.")

FORBIDDEN = error("this needs the properties.edit permission")
TERMS_REFUSED = error("the investment terms do not hold together",
                      {"max_investment": ["The maximum must not be less than the minimum."]})
LOCKED = error("terms are locked: investors have already invested",
               {"target_amount": ["Locked: investors have already invested."]})
PHOTO_REFUSED = error("the photo is not acceptable", {"photos": ["This file is not a JPEG, PNG or WebP image."]})
DOCUMENT_REFUSED = error("the document is not acceptable", {"document": ["This file is not a PDF."]})
NOT_READY = error("not ready to publish: photos", {"status": ["Missing photos."]})
INVESTED = error("people have invested in this offering: it cannot be archived (cancel or complete it)")
