"""The sandbox staff templates render in, with limits on what they may compute.

Jinja's immutable sandbox already keeps a template away from attributes and globals; these limits keep it from
using the server's CPU and memory:
- when a template is read: no exponentiation (`**`), no number larger than MAX_CONSTANT written in an expression,
  no `range()` or `pow()` (the sandbox has no globals anyway);
- while it renders: the arithmetic and repetition operators refuse to build a string or list longer than
  MAX_LENGTH or a number larger than MAX_NUMBER, string formatting refuses widths larger than MAX_LENGTH, the
  output stops at MAX_OUTPUT characters and the rendering at its time budget (checked as output is produced).
Previews and saves render in a child process (`render_parts`, run through `app.core.child`), whose memory and
wall-clock limits also end what the checks above cannot see (a loop that writes nothing).

Besides the data, an override has the `local_amount` filter of the file templates ("5000.00"|local_amount("USD"))
and one global, `_(text)`: the trusted e-mail layout's texts looked up in the current language's catalogue
(English in the child process, which has no app). It takes no variables, so it formats nothing; staff write their
overrides in one language and have no other use for it.
"""
from __future__ import annotations

import re
import time
from typing import Any

from flask_babel import gettext, ngettext, pgettext
from jinja2 import BaseLoader, DictLoader, StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateNotFound, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.money import Money, MoneyError

MAX_CONSTANT = 1_000_000
MAX_NUMBER = 10**18
MAX_LENGTH = 100_000
MAX_OUTPUT = 500_000
DEFAULT_SECONDS = 3.0
_FORBIDDEN_CALLS = frozenset({"range", "pow", "lipsum", "cycler", "joiner", "namespace", "dict"})
# a printf width or precision: digits or "*" (taken from the arguments)
_PRINTF_SIZES = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
PROBLEMS = (TemplateSyntaxError, TemplateNotFound, SecurityError, UndefinedError, TypeError, ValueError,
            ArithmeticError)


class TooCostly(SecurityError):
    """A template that would compute a huge value, write too much or run too long."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_printf(fmt: str) -> None:
    for width, precision in _PRINTF_SIZES.findall(fmt):
        if "*" in (width, precision):
            raise TooCostly("a width taken from the arguments (*) is not allowed in formatting")
        if any(size and int(size) > MAX_LENGTH for size in (width, precision)):
            raise TooCostly(f"a width larger than {MAX_LENGTH:,} is not allowed in formatting")


def _limited_format(value: Any, *args: Any, **kwargs: Any) -> str:
    fmt = str(value)
    _check_printf(fmt)
    return fmt % (kwargs or args)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox whose arithmetic cannot build huge values. Intercepting an operator also keeps
    Jinja's compiler from folding it into a constant at compile time (where `9**9**9` would be computed)."""

    intercepted_binops = frozenset({"**", "*", "/", "//", "%", "+", "-"})

    def __init__(self, **options: Any):
        super().__init__(undefined=StrictUndefined, **options)
        self.globals.clear()  # no range(), lipsum, dict(), cycler...: only the event's data
        self.filters["format"] = _limited_format

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            raise TooCostly("exponentiation (**) is not allowed")
        if operator_ == "%" and isinstance(left, str):
            _check_printf(left)
        if operator_ == "*":
            for sequence, count in ((left, right), (right, left)):
                if (isinstance(sequence, (str, list, tuple)) and isinstance(count, int)
                        and len(sequence) * count > MAX_LENGTH):
                    raise TooCostly(f"this would repeat a text or list to more than {MAX_LENGTH:,} items")
        if (operator_ == "+" and all(isinstance(side, (str, list, tuple)) for side in (left, right))
                and len(left) + len(right) > MAX_LENGTH):
            raise TooCostly(f"this would make a text or list longer than {MAX_LENGTH:,} items")
        if _number(left) and _number(right) and max(abs(left), abs(right)) > MAX_NUMBER:
            raise TooCostly(f"numbers larger than {MAX_NUMBER:,} are not allowed")
        result = self.binop_table[operator_](left, right)
        if _number(result) and not abs(result) <= MAX_NUMBER:  # also NaN and infinity
            raise TooCostly(f"numbers larger than {MAX_NUMBER:,} are not allowed")
        return result


def local_amount(value: Any, currency: Any = None) -> str:
    """A decimal string and its currency ("5000.00", "USD"), or Money, as the reader reads it in the current
    language (Money.local()). What does not parse is shown as it came."""
    if isinstance(value, Money):
        return value.local()
    try:
        return Money.parse(str(value), str(currency), allow_zero=True).local()
    except MoneyError:
        return f"{currency} {value}" if currency else str(value)


def _values(variables: dict) -> dict:
    """Named values of a message, each as bounded text (nothing else is computed from them)."""
    return {str(k): v if isinstance(v, int | Money) else str(v)[:MAX_LENGTH] for k, v in variables.items()}


def _lookup(text: Any, **variables: Any) -> str:
    """`_()` of the file templates an override starts from: a catalogue lookup, then its named values put in."""
    return gettext(str(text)[:MAX_LENGTH], **_values(variables))


def _plural(singular: Any, plural: Any, num: Any, **variables: Any) -> str:
    return ngettext(str(singular)[:MAX_LENGTH], str(plural)[:MAX_LENGTH], int(num), **_values(variables))


def _in_context(context: Any, text: Any, **variables: Any) -> str:
    return pgettext(str(context)[:MAX_LENGTH], str(text)[:MAX_LENGTH], **_values(variables))


def make_env(*, html: bool, loader: BaseLoader | None = None) -> LimitedSandbox:
    env = LimitedSandbox(autoescape=html, loader=loader)
    env.globals["_"] = env.globals["gettext"] = _lookup
    env.globals["ngettext"] = _plural
    env.globals["pgettext"] = _in_context
    env.filters["local_amount"] = local_amount
    return env


def check_source(env: LimitedSandbox, source: str) -> None:
    """Refuse, before rendering, expressions that compute huge values. TemplateSyntaxError or TooCostly."""
    tree = env.parse(source)
    for node in tree.find_all((nodes.Pow, nodes.Const, nodes.Call)):
        if isinstance(node, nodes.Pow):
            raise TooCostly("exponentiation (**) is not allowed")
        if isinstance(node, nodes.Const) and _number(node.value) and not abs(node.value) <= MAX_CONSTANT:
            raise TooCostly(f"numbers larger than {MAX_CONSTANT:,} are not allowed in expressions")
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in _FORBIDDEN_CALLS:
            raise TooCostly(f"{node.node.name}() is not available in templates")


def render(env: LimitedSandbox, source: str, context: dict, *, seconds: float = DEFAULT_SECONDS) -> str:
    """Check, then render within the time budget and the output limit."""
    check_source(env, source)
    template = env.from_string(source)
    deadline = time.monotonic() + seconds
    parts: list[str] = []
    size = 0
    for chunk in template.generate(**context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TooCostly(f"the template writes more than {MAX_OUTPUT:,} characters")
        if time.monotonic() > deadline:
            raise TooCostly(f"the template takes longer than {seconds:g} seconds to render")
        parts.append(chunk)
    return "".join(parts)


def problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def render_parts(parts: list[tuple[str | None, bool]], context: dict, layouts: dict[str, str],
                 seconds: float) -> tuple[list[str | None], str | None]:
    """Run in a child process: each (source, html) rendered as staff templates are, with the trusted layouts
    given as text. ([rendered or None for each], None), or ([], the problem) for the first that fails."""
    loader = DictLoader(layouts)
    envs = {False: make_env(html=False, loader=loader), True: make_env(html=True, loader=loader)}
    deadline = time.monotonic() + seconds
    out: list[str | None] = []
    try:
        for source, html in parts:
            left = max(0.01, deadline - time.monotonic())
            out.append(render(envs[html], source, context, seconds=left) if source else None)
    except PROBLEMS as exc:
        return [], problem(exc)
    return out, None

