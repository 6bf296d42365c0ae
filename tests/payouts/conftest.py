from tests.payouts.helpers import (  # noqa: F401
    finance,
    finance2,
    investor,
    ledger_verifies_after_each_test,
    method,
    no_fee,
    reviewer,
)
