"""The public shape of a property (CONTRACT.md fields and more), shared by the API and the portal, cacheable:
plain data only, nothing about the viewer or the request (image links are built from BASE_URL, never the Host)."""
from __future__ import annotations

import markdown
import nh3

from app.core.money import Money
from app.core.urls import external_url
from app.properties import terms
from app.properties.models import Property

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "h3", "h4", "blockquote", "a", "code"}


def money(value: int | None, currency: str) -> dict | None:
    return None if value is None else Money(value, currency).as_dict()


def render_markdown(source: str) -> str:
    """Markdown to HTML, then only a small allow-list of tags survives (no scripts, styles, images or handlers)."""
    html = markdown.markdown(source or "", extensions=["sane_lists"])
    # nh3 (ammonia): the maintained HTML sanitiser; links get rel="noopener noreferrer"
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                     url_schemes={"http", "https", "mailto"})


def images(p: Property) -> list[dict]:
    return [{"id": ph.id, "cover": ph.is_cover, "caption": ph.caption, "ready": ph.status == "ready",
             **{size: external_url("properties_media.photo", photo_id=ph.id, size=size)
                for size in ("thumbnail", "medium", "large")}}
            for ph in p.photos]


def summary(p: Property) -> dict:
    bps = terms.expected_return_bps(p)
    return {
        "id": p.id, "slug": p.slug, "title": p.title, "status": p.status, "property_type": p.property_type,
        "city": p.city, "country": p.country,
        "target_amount": money(p.target_amount, p.currency), "raised_amount": money(p.raised_amount, p.currency),
        "remaining_funding": money(p.remaining_amount, p.currency),
        "funded_percent": f"{p.raised_amount * 100 / p.target_amount:.1f}",
        "min_investment": money(p.fixed_amount if p.fixed_amount else p.min_investment, p.currency),
        "max_investment": None if p.fixed_amount else money(p.max_investment, p.currency),
        "fixed_amount": money(p.fixed_amount, p.currency),
        "unit_price": money(p.unit_price, p.currency),
        "installments": ({"count": p.installments_count,
                          "interval": f"{p.installment_interval} {p.installment_unit}"}
                         if p.installments_count else None),
        "expected_return_rate": f"{bps / 100:.2f}" if bps is not None else None,
        "return_frequency": p.return_frequency if p.return_frequency != "days" else f"every {p.return_every_days} days",
        "funding_starts_at": p.funding_starts_at.isoformat() if p.funding_starts_at else None,
        "funding_ends_at": p.funding_ends_at.isoformat() if p.funding_ends_at else None,
        "images": images(p),
    }


def detail(p: Property) -> dict:
    data = summary(p)
    data.update({
        "description": p.description, "description_html": render_markdown(p.description),
        "address": {"street": p.street, "city": p.city, "region": p.region, "postal_code": p.postal_code,
                    "country": p.country,
                    "latitude": str(p.latitude) if p.latitude is not None else None,
                    "longitude": str(p.longitude) if p.longitude is not None else None},
        "amenities": [a.name for a in p.amenities],
        "faq": [{"question": f.question, "answer": f.answer} for f in p.faqs],
        "documents": [{"id": d.id, "title": d.title, "pages": d.pages, "size": d.size} for d in p.documents],
        "documents_version": terms.offering_version(p),
        "video_url": p.video_url,
        "terms": {"return_rate_bps": p.return_rate_bps,
                  "return_fixed_amount": money(p.return_fixed_amount, p.currency),
                  "return_periods": p.return_periods, "capital_back": p.capital_back,
                  "late_fee": money(p.late_fee, p.currency), "resale_allowed": p.resale_allowed,
                  "resale_lockup_days": p.resale_lockup_days,
                  "summary": terms.summary(p), "example": terms.example(p)["sentence"]},
    })
    return data
