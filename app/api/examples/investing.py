"""Examples of the catalogue and investing operations: properties, investing, the caller's investments."""
from __future__ import annotations

from app.api.examples import money, page, success


def _images(*photo_ids: int) -> list[dict]:
    base = "https://freehold.example.com/media/properties/photos"
    return [{"thumbnail": f"{base}/{i}/thumbnail.jpg", "medium": f"{base}/{i}/medium.jpg",
             "large": f"{base}/{i}/large.jpg", "cover": n == 0, "ready": True} for n, i in enumerate(photo_ids)]


# properties ---------------------------------------------------------------------------------------------------------
HARBOUR = {
    "id": 1, "slug": "harbour-lofts", "title": "Harbour Lofts", "status": "active", "property_type": "residential",
    "city": "Lisbon", "country": "PT", "target_amount": money("500000.00"), "raised_amount": money("212500.00"),
    "remaining_funding": money("287500.00"), "funded_percent": "42.5", "min_investment": money("100.00"),
    "max_investment": money("25000.00"), "fixed_amount": None, "unit_price": money("1.00"), "installments": None,
    "expected_return_rate": "8.00", "return_frequency": "quarterly",
    "funding_starts_at": "2026-08-03T09:00:00+00:00", "funding_ends_at": "2027-01-31T18:00:00+00:00",
    "images": _images(1, 2),
}
OAK_PARK = {
    "id": 3, "slug": "oak-park-homes", "title": "Oak Park Family Homes", "status": "active",
    "property_type": "residential", "city": "Austin", "country": "US", "target_amount": money("300000.00"),
    "raised_amount": money("8400.00"), "remaining_funding": money("291600.00"), "funded_percent": "2.8",
    "min_investment": money("1200.00"), "max_investment": None, "fixed_amount": money("1200.00"),
    "unit_price": money("1200.00"), "installments": {"count": 6, "interval": "1 months"},
    "expected_return_rate": "6.50", "return_frequency": "monthly",
    "funding_starts_at": "2026-11-12T09:00:00+00:00", "funding_ends_at": "2027-01-07T18:00:00+00:00",
    "images": _images(7),
}
PROPERTIES = page([HARBOUR, OAK_PARK], total=3)
PROPERTY = success({
    **HARBOUR,
    "description": "Twelve **riverside lofts** in a restored warehouse, let on long leases to young professionals.",
    "description_html": "<p>Twelve <strong>riverside lofts</strong> in a restored warehouse, let on long leases to "
                        "young professionals.</p>",
    "address": {"street": "Rua da Cintura do Porto 14", "city": "Lisbon", "region": "Lisboa",
                "postal_code": "1200-109", "country": "PT", "latitude": "38.706932", "longitude": "-9.152231"},
    "amenities": ["Elevator", "Parking", "River view"],
    "faq": [{"question": "How are returns paid?",
             "answer": "Into your Freehold wallet on each payment date; withdraw or reinvest them."}],
    "documents": [{"id": 1, "title": "Offering memorandum", "pages": 24, "size": 482113},
                  {"id": 2, "title": "Subscription terms", "pages": 6, "size": 98304}],
    "documents_version": "2c18cb8222689dbad4fc99601a97dbad1e841eda27187fd27f93b35971f233a0",
    "video_url": None,
    "terms": {"return_rate_bps": 800, "return_fixed_amount": None, "return_periods": 20, "capital_back": True,
              "late_fee": None, "resale_allowed": True, "resale_lockup_days": 90,
              "summary": [["Target", "USD 500,000.00"], ["Investment", "USD 100.00 to USD 25,000.00"],
                          ["Expected return", "8.00 % a year"], ["Paid", "every quarter, for 5 years"],
                          ["Capital", "returned at the end"], ["Resale", "allowed after 90 days"]],
              "example": "Invest 1000.00, receive 20.00 every quarter for 5 years, then your 1000.00 back."},
})

# investing ----------------------------------------------------------------------------------------------------------
_VERSION = "2c18cb8222689dbad4fc99601a97dbad1e841eda27187fd27f93b35971f233a0"
INVEST_REQUEST = {"amount": "1000.00", "acknowledge": True, "documents_version": _VERSION}


def _harbour(investment_id: int, amount: str, quarter: str, earned: str, on: str, at: str,
             returns: list[tuple[int, str, str | None]]) -> dict:
    """A Harbour Lofts holding of `amount` (8 % a year paid quarterly: `quarter` each, 20 periods, the capital back
    with the last), `returns` its calendar as (period, due on, paid at or None)."""
    upcoming = [due for _, due, paid_at in returns if not paid_at]
    return {
        "id": investment_id, "property_id": 1, "property_title": "Harbour Lofts", "property_slug": "harbour-lofts",
        "amount": money(amount), "paid_amount": money(amount),
        "returns_earned": money(earned), "status": "active",
        "units": int(amount.split(".")[0]), "units_listed": 0, "unit_price": money("1.00"),
        "acquired_by": "offering", "cost_amount": None,
        "next_return_date": upcoming[0], "next_return_amount": money(quarter), "next_installment": None,
        "installments": [{"index": 1, "due_on": on, "amount": money(amount), "status": "paid",
                          "late_fee": money("0.00"), "paid_at": at}],
        "invested_on": on, "documents_version": _VERSION, "acknowledged_at": at, "refunded_amount": money("0.00"),
        "fees_paid": money("0.00"), "closed_at": None, "close_reason": None,
        "schedule": [{"period": n, "due_on": due, "amount": money(quarter),
                      "capital": money(amount if n == 20 else "0.00"), "status": "paid" if paid_at else "upcoming",
                      "paid_at": paid_at} for n, due, paid_at in returns],
    }


INVESTED = success(_harbour(140, "1000.00", "20.00", "0.00", "2026-12-04", "2026-12-04T09:26:44+00:00", [
    (1, "2027-03-04", None), (2, "2027-06-04", None), (20, "2031-12-04", None)]))
_HOLDING = _harbour(118, "2500.00", "50.00", "50.00", "2026-08-20", "2026-08-20T11:05:31+00:00", [
    (1, "2026-11-20", "2026-11-20T06:00:09+00:00"), (2, "2027-02-20", None), (3, "2027-05-20", None),
    (20, "2031-08-20", None)])
INVESTMENT = success(_HOLDING)

# an offering paid in installments: the first one now, the next one due in a month
_OAK = {
    "id": 131, "property_id": 3, "property_title": "Oak Park Family Homes", "property_slug": "oak-park-homes",
    "amount": money("1200.00"), "paid_amount": money("400.00"), "returns_earned": money("0.00"), "status": "paying",
    "units": 0, "units_listed": 0, "unit_price": money("1200.00"), "acquired_by": "offering", "cost_amount": None,
    "next_return_date": None, "next_return_amount": None,
    "next_installment": {"index": 3, "due_on": "2027-01-28", "amount": money("200.00")},
    "installments": [
        {"index": 1, "due_on": "2026-11-28", "amount": money("200.00"), "status": "paid",
         "late_fee": money("0.00"), "paid_at": "2026-11-28T15:40:02+00:00"},
        {"index": 2, "due_on": "2026-12-28", "amount": money("200.00"), "status": "paid",
         "late_fee": money("0.00"), "paid_at": "2026-12-04T09:30:17+00:00"},
        {"index": 3, "due_on": "2027-01-28", "amount": money("200.00"), "status": "due",
         "late_fee": money("0.00"), "paid_at": None},
    ],
    "invested_on": "2026-11-28",
    "documents_version": "3c01a45521c809e63fc19e02395e95deb1326ab45ed7959d82b6d17f3053a185",
    "acknowledged_at": "2026-11-28T15:40:02+00:00", "refunded_amount": money("0.00"), "fees_paid": money("0.00"),
    "closed_at": None, "close_reason": None,
}
PAY_REQUEST = {"all_remaining": False}
PAID = success({**_OAK, "schedule": []})

INVESTMENTS = page([{k: v for k, v in holding.items() if k != "schedule"} for holding in (_OAK, _HOLDING)])
SUMMARY = success({
    "invested": money("3700.00"), "paid_in": money("2900.00"), "returns_earned": money("50.00"), "holdings": 2,
    "next_return_date": "2027-02-20", "next_return_amount": money("50.00"),
    "returns_by_month": [{"month": "2026-10", "amount": money("0.00")}, {"month": "2026-11", "amount": money("50.00")}],
})
