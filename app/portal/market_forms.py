"""The market's forms (WTForms, CSRF-protected): buying, offering, listing units, countering and answering offers.

Prices are typed as decimal amounts of the listing's currency and read with Money.parse by the views; the forms
only check that something plausible was typed."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.core.money import Money, MoneyError

MESSAGE_MAX = 500
UNITS_MAX = 10**9


def _units():
    return IntegerField(_l("Units"), validators=[
        InputRequired(_l("Enter a number of units.")),
        NumberRange(1, UNITS_MAX, _l("Enter a whole number of units, at least 1."))])


def _price(label=None):
    return StringField(label or _l("Price per unit"),
                       validators=[DataRequired(_l("Enter a price per unit.")), Length(max=40)])


def _message():
    return TextAreaField(_l("Message (optional)"), validators=[Optional(), Length(max=MESSAGE_MAX,
                         message=_l("Keep the message under %(max)s characters.", max=MESSAGE_MAX))])


class BuyForm(FlaskForm):
    units = _units()
    confirm = HiddenField()
    key = HiddenField()


class OfferForm(FlaskForm):
    units = _units()
    price = _price()
    message = _message()
    confirm = HiddenField()


class SellForm(FlaskForm):
    units = _units()
    price = _price(_l("Asking price per unit"))
    expires_on = DateField(_l("Listed until"), validators=[Optional()])
    confirm = HiddenField()


class CounterForm(FlaskForm):
    price = _price(_l("Your price per unit"))
    message = _message()


class AnswerForm(FlaskForm):
    """Accept, reject, decline or withdraw: an optional message."""

    message = _message()


def parse_price(text: str | None, currency: str) -> Money:
    """A price typed in the form: thousands separators and spaces are fine; at least one cent."""
    cleaned = (text or "").replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not cleaned:
        raise MoneyError(_("Enter a price per unit."))
    return Money.parse(cleaned, currency)


def first_errors(form: FlaskForm) -> dict[str, list[str]]:
    return {name: list(messages) for name, messages in form.errors.items() if name != "csrf_token"}


def form_message(form: FlaskForm) -> str:
    """Every field's errors in one message."""
    return " ".join(message for messages in first_errors(form).values() for message in messages)


def sentence(text: str) -> str:
    """A service's message as a sentence."""
    text = (text or "").strip() or _("That did not work")
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
