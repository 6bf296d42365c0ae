"""Property-based: random entries against a model of the balances. Balanced ones land, unbalanced ones are
refused, the wallet never goes negative, a replayed key changes nothing, and `verify` holds after every step."""
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.errors import IdempotencyConflict, InsufficientFunds, ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import ADJUSTMENTS, FEE_REVENUE, GATEWAY_CLEARING, USER_WALLET

amounts = st.integers(min_value=-5_000, max_value=5_000).filter(lambda a: a != 0)
line_lists = st.lists(st.tuples(st.integers(0, 3), amounts), min_size=1, max_size=5)


@pytest.fixture
def accounts(make_user):
    user = make_user()
    accts = [ledger.platform_account(GATEWAY_CLEARING, "stripe"), ledger.platform_account(FEE_REVENUE),
             ledger.platform_account(ADJUSTMENTS), ledger.user_account(user.id, USER_WALLET)]
    db.session.commit()
    return [a.id for a in accts]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(line_lists, st.booleans(), st.booleans()), min_size=1, max_size=8))
def test_random_entries_keep_every_invariant(accounts, steps):
    from app.ledger.models import Account

    objs = [db.session.get(Account, i) for i in accounts]
    expected = {a.id: a.balance for a in objs}
    wallet_id = accounts[3]
    run = uuid.uuid4().hex  # a fresh key space per example (object ids are reused, keys must not be)
    for n, (raw, balance_it, replay) in enumerate(steps):
        lines = [(objs[i], amount) for i, amount in raw]
        if balance_it:  # close the entry on the fee account so it sums to zero
            residue = -sum(amount for _, amount in lines)
            if residue:
                lines.append((objs[1], residue))
        total = sum(amount for _, amount in lines)
        key = f"prop-{run}-{n}"
        new_wallet = expected[wallet_id] + sum(a for acct, a in lines if acct.id == wallet_id)
        try:
            ledger.post(lines, key=key, kind="test")
            db.session.commit()
            landed = True
        except ValidationError:
            db.session.rollback()
            landed = False
            assert total != 0 or len(lines) < 2
        except InsufficientFunds:
            db.session.rollback()
            landed = False
            assert new_wallet < 0
        if landed:
            assert total == 0 and len(lines) >= 2 and new_wallet >= 0
            for acct, amount in lines:
                expected[acct.id] += amount
            if replay:
                ledger.post(lines, key=key, kind="test")
                db.session.commit()
                with pytest.raises(IdempotencyConflict):
                    ledger.post(lines, key=key, kind="another-kind")
                db.session.rollback()
        for acct in objs:
            db.session.refresh(acct)
            assert acct.balance == expected[acct.id]
        report = verify()
        assert report.ok, report.violations
        db.session.rollback()
