"""Investment terms: the rules that make them coherent, when they may change, what a publish needs, the fingerprint
an investor acknowledges, and the plain-words explanation with an example. Pure functions over a Property (no
database)."""
from __future__ import annotations

import hashlib

from app.core.errors import Conflict, ValidationError
from app.core.money import Money, round_half_even
from app.properties.models import ARCHIVED, CANCELLED, COMPLETED, FREQUENCIES, FUNDED, TYPES
from app.settings import registry
from app.settings import services as settings

MAX_AMOUNT = 10**13
# The highest annual rate an offering may promise. The cap is an admin four-eyes setting: read it through
# rate_cap_bps() only, never this default directly.
RATE_CAP_SETTING = "properties.rate_cap_bps"
DEFAULT_RATE_CAP_BPS = registry.get(RATE_CAP_SETTING).default  # 30 % a year
MAX_LATE_FEE_BPS = 1_000  # a late fee is at most 10 % of the installment it is charged on
PERIOD_NAMES = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}
PERIODS_PER_YEAR = {"monthly": 12, "quarterly": 4, "yearly": 1}
TERM_FIELDS = (
    "currency", "target_amount", "fixed_amount", "min_investment", "max_investment", "installments_count",
    "installment_interval", "installment_unit", "late_fee", "return_rate_bps", "return_fixed_amount",
    "return_frequency", "return_every_days", "return_periods", "capital_back", "funding_starts_at",
    "funding_ends_at", "resale_allowed", "unit_price", "resale_lockup_days",
)
DEFAULT_UNIT_PRICE = 100  # a range offering's unit, in minor units (1.00), until its manager sets another
MAX_LOCKUP_DAYS = 3650


def rate_cap_bps() -> int:
    """The highest annual rate (basis points) an offering may promise, fixed returns annualised: the admin four-eyes
    setting `properties.rate_cap_bps` (DEFAULT_RATE_CAP_BPS until an approved change raises or lowers it)."""
    return settings.value(RATE_CAP_SETTING)


def _percent(bps: int) -> str:
    return f"{bps / 100:.2f} %"


def _per(p) -> str:
    if p.return_frequency == "days":
        return f"per {p.return_every_days} days"
    return f"per {PERIOD_NAMES.get(p.return_frequency, 'period')}"


def max_fixed_return(p, cap_bps: int | None = None) -> int | None:
    """The highest fixed return per period the rate cap allows on the smallest investment (the fixed amount),
    rounded down; None when the terms give no way to say (no fixed amount or no valid period)."""
    cap = rate_cap_bps() if cap_bps is None else cap_bps
    if not p.fixed_amount or p.fixed_amount <= 0:
        return None
    if p.return_frequency in PERIODS_PER_YEAR:
        return p.fixed_amount * cap // (10_000 * PERIODS_PER_YEAR[p.return_frequency])
    if p.return_frequency == "days" and p.return_every_days and p.return_every_days > 0:
        return p.fixed_amount * cap * p.return_every_days // (10_000 * 365)
    return None


def installment_amount(p) -> int | None:
    """One installment of the smallest investment (the fixed amount, or the minimum of a range), rounded down."""
    base = p.fixed_amount if p.fixed_amount is not None else p.min_investment
    if not p.installments_count or not base or p.installments_count <= 0 or base <= 0:
        return None
    return base // p.installments_count


def bound_problems(p) -> dict[str, list[str]]:
    """What goes beyond the platform's bounds (the rate cap, fixed returns annualised against it, late fees),
    per field. Coherence is problems()'s business; this only reads the values that are set."""
    errors: dict[str, list[str]] = {}
    cap = rate_cap_bps()
    if p.return_rate_bps is not None and p.return_rate_bps > cap:
        errors.setdefault("return_rate_bps", []).append(f"At most {_percent(cap)} a year.")
    if p.return_fixed_amount is not None:
        most = max_fixed_return(p, cap)
        if most is not None and p.return_fixed_amount > most:
            errors.setdefault("return_fixed_amount", []).append(
                f"At most {Money(most, p.currency or 'USD').amount_str()} {_per(p)}: {cap / 100:g} % a year on the fixed "
                "amount.")
    if p.late_fee:
        installment = installment_amount(p)
        if installment is not None and p.late_fee * 10_000 > installment * MAX_LATE_FEE_BPS:
            most = installment * MAX_LATE_FEE_BPS // 10_000
            errors.setdefault("late_fee", []).append(
                f"At most {Money(most, p.currency or 'USD').amount_str()}: {MAX_LATE_FEE_BPS / 100:g} % of the installment.")
    return errors


def link_problems(p) -> dict[str, list[str]]:
    """Links shown to investors open over https only."""
    url = (p.video_url or "").strip()
    if url and not url.lower().startswith("https://"):
        return {"video_url": ["Use an https:// link."]}
    return {}


def periods_per_year(p) -> float | None:
    if p.return_frequency == "days":
        return 365 / p.return_every_days if p.return_every_days else None
    return PERIODS_PER_YEAR.get(p.return_frequency)


def expected_return_bps(p) -> int | None:
    """The annual rate, or the fixed sum per period annualised against the fixed investment amount."""
    if p.return_rate_bps is not None:
        return p.return_rate_bps
    if p.return_fixed_amount and p.fixed_amount and p.return_frequency in PERIODS_PER_YEAR:
        return round_half_even(p.return_fixed_amount * PERIODS_PER_YEAR[p.return_frequency] * 10_000, p.fixed_amount)
    if p.return_fixed_amount and p.fixed_amount and p.return_every_days:
        return round_half_even(p.return_fixed_amount * 365 * 10_000, p.fixed_amount * p.return_every_days)
    return None


def problems(p, *, bounds: bool = True) -> dict[str, list[str]]:
    """Everything incoherent in the terms, and (unless bounds=False) everything beyond the platform's bounds, per
    field (empty when they hold together and stay within the bounds)."""
    errors: dict[str, list[str]] = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    if not p.target_amount or p.target_amount <= 0 or p.target_amount > MAX_AMOUNT:
        add("target_amount", "The target must be a positive amount.")
    fixed = p.fixed_amount is not None
    ranged = p.min_investment is not None or p.max_investment is not None
    if fixed and ranged:
        add("fixed_amount", "Choose either a fixed amount or a minimum and maximum, not both.")
    elif not fixed and not ranged:
        add("fixed_amount", "Set a fixed amount, or a minimum and a maximum per investment.")
    if fixed:
        if p.fixed_amount <= 0:
            add("fixed_amount", "The fixed amount must be positive.")
        elif p.target_amount and p.target_amount > 0:
            if p.fixed_amount > p.target_amount:
                add("fixed_amount", "The fixed amount is above the target.")
            elif p.target_amount % p.fixed_amount:
                add("fixed_amount", "The target must be a whole number of fixed amounts.")
    unit = DEFAULT_UNIT_PRICE if p.unit_price is None else p.unit_price  # unset: the default, once saved
    if ranged and (isinstance(unit, bool) or not isinstance(unit, int) or not 0 < unit <= MAX_AMOUNT):
        add("unit_price", "The unit price must be a positive amount.")
        unit = None
    if ranged and unit and p.min_investment and p.max_investment and (p.min_investment % unit
                                                                     or p.max_investment % unit):
        add("unit_price", "The minimum and the maximum must be whole units of the unit price.")
    lockup = p.resale_lockup_days
    if lockup is not None and (isinstance(lockup, bool) or not isinstance(lockup, int)
                               or not 0 <= lockup <= MAX_LOCKUP_DAYS):
        add("resale_lockup_days", f"0 to {MAX_LOCKUP_DAYS:,} days, or empty for the market's default.")
    if ranged:
        if p.min_investment is None or p.max_investment is None:
            add("min_investment", "Set both a minimum and a maximum.")
        elif p.min_investment <= 0:
            add("min_investment", "The minimum must be positive.")
        elif p.min_investment > p.max_investment:
            add("min_investment", "The minimum is above the maximum.")
        elif p.target_amount and p.max_investment > p.target_amount:
            add("max_investment", "The maximum is above the target.")
    if p.installments_count is not None:
        if not 2 <= p.installments_count <= 120:
            add("installments_count", "Use 2 to 120 installments, or none.")
        if not p.installment_interval or p.installment_interval < 1 or p.installment_unit not in ("days", "months"):
            add("installment_interval", "Give the interval between installments in days or months.")
        if fixed and p.fixed_amount and p.installments_count and p.fixed_amount % p.installments_count:
            add("installments_count", "The fixed amount does not divide into equal installments.")
        if p.late_fee is not None and p.late_fee < 0:
            add("late_fee", "The late fee cannot be negative.")
    elif p.late_fee:
        add("late_fee", "A late fee needs installments.")
    rate, fixed_sum = p.return_rate_bps, p.return_fixed_amount
    if (rate is None) == (fixed_sum is None):
        add("return_rate_bps", "Set either an annual rate or a fixed sum per period.")
    if rate is not None and not 1 <= rate <= 10_000:
        add("return_rate_bps", "The annual rate must be between 0.01 % and 100 % (1 to 10,000 basis points).")
    if fixed_sum is not None:
        if fixed_sum <= 0:
            add("return_fixed_amount", "The fixed sum must be positive.")
        if not fixed:
            add("return_fixed_amount", "A fixed sum per period needs a fixed investment amount.")
    if p.return_frequency not in FREQUENCIES:
        add("return_frequency", "Monthly, quarterly, yearly or every N days.")
    elif p.return_frequency == "days" and not (p.return_every_days and 1 <= p.return_every_days <= 3650):
        add("return_every_days", "Every 1 to 3,650 days.")
    if p.return_periods is not None and not 1 <= p.return_periods <= 1200:
        add("return_periods", "1 to 1,200 periods, or empty for the property's lifetime.")
    if p.capital_back and p.return_periods is None:
        add("capital_back", "Capital can only come back at the end of a set number of periods.")
    if p.funding_starts_at and p.funding_ends_at and p.funding_ends_at <= p.funding_starts_at:
        add("funding_ends_at", "The funding window must end after it starts.")
    if bounds:
        for field, messages in bound_problems(p).items():
            for message in messages:
                add(field, message)
    return errors


def check_change(p, before: dict) -> None:
    """Refuse incoherent terms, and any change of terms once someone has invested or the offering has closed.
    `before` is the property's snapshot before the change (empty for a new property). The platform's bounds apply
    to changed terms (and to a new property): terms stored before a bound existed stay as they are until changed.
    A changed video link must be https."""
    changed = {f for f in TERM_FIELDS if before.get(f) != getattr(p, f)}
    if changed and before.get("raised_amount", 0) > 0:
        raise Conflict("terms are locked: investors have already invested",
                       {f: ["Locked: investors have already invested."] for f in sorted(changed)})
    if p.status in (FUNDED, COMPLETED, CANCELLED, ARCHIVED) and changed:
        raise Conflict(f"terms of a {p.status} property cannot change")
    errors = problems(p, bounds=bool(changed) or not before)
    if not before or before.get("video_url") != p.video_url:
        errors.update(link_problems(p))
    if errors:
        raise ValidationError("the investment terms do not hold together", errors)
    if p.property_type not in TYPES:
        raise ValidationError("unknown type", {"property_type": [f"One of {', '.join(TYPES)}."]})


def terms_fingerprint(p) -> str:
    """A fingerprint of the terms alone: what a publication or terms-change approval was asked about."""
    return hashlib.sha256("\n".join(f"{f}={getattr(p, f)!s}" for f in TERM_FIELDS).encode()).hexdigest()


def commitment(p) -> dict:
    """What the platform commits to pay at full funding (the whole target raised): the returns over the term, the
    capital back, and the number of periods. For an offering without a set number of periods (the property's
    lifetime) `returns` is None and `per_year` says what a year costs."""
    target = p.target_amount or 0
    if p.return_fixed_amount is not None and p.fixed_amount:
        per_period = (target // p.fixed_amount) * p.return_fixed_amount
    elif p.return_rate_bps is not None and p.return_frequency in PERIODS_PER_YEAR:
        per_period = round_half_even(target * p.return_rate_bps, 10_000 * PERIODS_PER_YEAR[p.return_frequency])
    elif p.return_rate_bps is not None and p.return_every_days:
        per_period = round_half_even(target * p.return_rate_bps * p.return_every_days, 10_000 * 365)
    else:
        per_period = 0
    per_year = periods_per_year(p)
    yearly = round(per_period * per_year) if per_year else 0
    lifetime = p.return_periods is None
    returns = None if lifetime else per_period * p.return_periods
    capital = target if p.capital_back and not lifetime else 0
    money = lambda v: Money(v, p.currency).display()  # noqa: E731
    if lifetime:
        sentence = f"{money(per_period)} {_per(p)}, about {money(yearly)} a year, for the property's lifetime"
    else:
        sentence = (f"{money(returns or 0)} in returns over {p.return_periods} periods ({money(per_period)} "
                    f"{_per(p)})" + (f", then {money(capital)} of capital back" if capital else ""))
    return {"returns": returns, "capital": capital, "periods": p.return_periods, "per_period": per_period,
            "per_year": yearly, "lifetime": lifetime, "total": (returns or 0) + capital,
            "sentence": sentence + "."}


def offering_version(p) -> str:
    """A fingerprint of what the investor acknowledges: the offering documents (by content) and the terms."""
    parts = [f"doc:{d.id}:{d.sha256}" for d in sorted(p.documents, key=lambda d: d.id)]
    parts += [f"{f}={getattr(p, f)!s}" for f in TERM_FIELDS]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def missing_to_publish(p) -> list[str]:
    missing = []
    if problems(p, bounds=False):
        missing.append("coherent investment terms")
    elif bound_problems(p):
        missing.append("terms within the platform's bounds")
    if link_problems(p):
        missing.append("an https video link")
    if not (p.funding_starts_at and p.funding_ends_at):
        missing.append("a funding window")
    cover = p.cover
    if cover is None or cover.status != "ready":
        missing.append("a processed cover photo")
    if not p.description.strip():
        missing.append("a description")
    if not p.city or not p.country:
        missing.append("an address")
    return missing


def _every(p) -> str:
    if p.return_frequency == "days":
        return f"every {p.return_every_days} days"
    return {"monthly": "every month", "quarterly": "every quarter", "yearly": "every year"}[p.return_frequency]


def _duration(p) -> str:
    if p.return_periods is None:
        return "for as long as the property is held"
    if p.return_frequency in PERIODS_PER_YEAR:
        years, rest = divmod(p.return_periods, PERIODS_PER_YEAR[p.return_frequency])
        if not rest:
            return f"for {years} year{'s' if years != 1 else ''}"
    return f"for {p.return_periods} payments"


def example(p) -> dict:
    """An example investment in plain words: what you put in, what you get and when."""
    amount = p.fixed_amount or min(max(100_000, p.min_investment or 0), p.max_investment or 100_000)
    money = Money(amount, p.currency)
    if p.return_rate_bps is not None:
        per_year = periods_per_year(p) or 1
        per_period = Money(round_half_even(amount * p.return_rate_bps, round(per_year * 10_000)), p.currency)
    else:
        per_period = Money(p.return_fixed_amount or 0, p.currency)
    sentence = f"Invest {money.amount_str()}, receive {per_period.amount_str()} {_every(p)} {_duration(p)}"
    if p.capital_back and p.return_periods:
        sentence += f", then your {money.amount_str()} back"
    sentence += "."
    if p.installments_count:
        unit = "month" if p.installment_unit == "months" else "day"
        each = Money(amount // p.installments_count, p.currency)
        sentence += (f" You pay it in {p.installments_count} installments of about {each.amount_str()}, one every "
                     f"{p.installment_interval} {unit}{'s' if p.installment_interval != 1 else ''}"
                     + (f"; a late installment costs {Money(p.late_fee, p.currency).amount_str()}." if p.late_fee
                        else "."))
    return {"amount": money, "per_period": per_period, "sentence": sentence}


def summary(p) -> list[tuple[str, str]]:
    """Label / value pairs for the detail page."""
    money = lambda v: Money(v, p.currency).display() if v is not None else "—"  # noqa: E731
    rows = [("Target", money(p.target_amount))]
    if p.fixed_amount:
        rows.append(("Investment", f"{money(p.fixed_amount)} each"))
    else:
        rows.append(("Investment", f"{money(p.min_investment)} to {money(p.max_investment)}"))
    bps = expected_return_bps(p)
    rows.append(("Expected return", f"{bps / 100:.2f} % a year" if bps is not None else "—"))
    rows.append(("Paid", f"{_every(p)}, {_duration(p)}"))
    rows.append(("Capital", "returned at the end" if p.capital_back else "not returned (income only)"))
    if p.installments_count:
        rows.append(("Installments", f"{p.installments_count}, every {p.installment_interval} {p.installment_unit}"))
    rows.append(("Resale", "allowed on the secondary market" if p.resale_allowed else "not allowed"))
    return rows
