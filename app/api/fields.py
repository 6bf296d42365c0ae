"""Money at the edges of the API, and how the OpenAPI document shows it.

- `MoneyField` dumps `{"amount": "1250.00", "currency": "USD"}`: a decimal string in major units with its currency.
- `AmountField` takes the decimal string a request sends (`"100.00"`), checked by `Money.parse` in the platform
  currency: a float, a sign, a zero or more decimals than the currency has is a 422 on that field.

`field_properties` is the apispec attribute function that documents both (registered by `app.api.init_api`)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any

from marshmallow import ValidationError, fields, missing
from marshmallow.utils import get_value

from app.core.money import Money, MoneyError
from app.ledger.services import platform_currency

# a request's amount: digits, optionally a point and decimals (how many the currency allows is checked on top)
AMOUNT_PATTERN = r"^(0|[1-9][0-9]*)(\.[0-9]+)?$"
# an answer's amount: a ledger line that debits is negative
SIGNED_AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

MONEY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "string", "pattern": SIGNED_AMOUNT_PATTERN, "example": "1250.00",
                   "description": "decimal string in major units, with as many decimals as the currency has"},
        "currency": {"type": "string", "pattern": CURRENCY_PATTERN, "minLength": 3, "maxLength": 3,
                     "example": "USD", "description": "ISO 4217 code"},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
    "example": {"amount": "1250.00", "currency": "USD"},
}


class MoneyField(fields.Field):
    """An amount with its currency, `{"amount": "1250.00", "currency": "USD"}` (or null when `allow_none`).

    The attribute may hold a `Money`, or the same object already dumped (a cached presenter's dict). With
    `currency="currency"` it holds minor units and the dumped object's `currency` names the code. `value` computes
    it from the object instead of reading an attribute (`value=lambda p: Money(p.amount + p.fee, p.currency)`)."""

    def __init__(self, *, currency: str | None = None, value: Callable[[Any], Any] | None = None, **kwargs: Any):
        kwargs.setdefault("dump_only", True)
        super().__init__(**kwargs)
        self.currency_attribute = currency
        self.value = value

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        if self.value is not None:
            return self.value(obj)
        return super().get_value(obj, attr, accessor=accessor, default=default)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> dict | None:
        if value is None:
            return None
        if isinstance(value, Money):
            return value.as_dict()
        if isinstance(value, Mapping):
            return {"amount": value["amount"], "currency": value["currency"]}
        if isinstance(value, int) and not isinstance(value, bool) and self.currency_attribute:
            return Money(value, get_value(obj, self.currency_attribute)).as_dict()
        raise TypeError(f"{attr}: a MoneyField dumps Money, not {type(value).__name__}")


class AmountField(fields.Field):
    """A request's amount: a decimal string in major units of the platform currency. It loads as the string it
    was (the handler turns it into Money); anything `Money.parse` refuses is a field error with its reason."""

    def __init__(self, *, allow_zero: bool = False, allow_blank: bool = False,
                 currency: Callable[[], str] = platform_currency, **kwargs: Any):
        super().__init__(**kwargs)
        self.allow_zero = allow_zero
        self.allow_blank = allow_blank
        self.currency = currency

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if self.allow_blank and value == "":
            return value
        try:
            Money.parse(value, self.currency(), allow_zero=self.allow_zero)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def field_properties(self: Any, field: fields.Field, **kwargs: Any) -> dict:
    """apispec attribute function: the OpenAPI schema of MoneyField and AmountField, and of a nullable Nested."""
    ret = kwargs.get("ret", {})
    if isinstance(field, MoneyField):
        return {key: deepcopy(value) for key, value in MONEY_SCHEMA.items() if key not in ret}
    if isinstance(field, AmountField):
        pattern = f"^({AMOUNT_PATTERN[1:-1]})?$" if field.allow_blank else AMOUNT_PATTERN
        properties = {"type": "string", "pattern": pattern, "example": "100.00"}
        if "description" not in ret:
            properties["description"] = ('decimal string in major units of the platform currency, e.g. "100.00": '
                                         "no number, sign or exponent, and no more decimals than the currency has")
        return properties
    if isinstance(field, fields.Nested) and field.allow_none and "anyOf" in ret:
        # apispec writes a nullable reference as anyOf [{type: object, nullable: true}, $ref], which any object
        # matches: null is the only other value sent
        return {"anyOf": [*(part for part in ret["anyOf"] if "$ref" in part),
                          {"type": "object", "nullable": True, "enum": [None]}]}
    return {}
