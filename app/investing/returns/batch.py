"""What every batch of a distribution run does alike, on either database: the run it belongs to, what it counts,
the ledger accounts it pays from and to, and the journal entries it posts — through the ledger's bulk posting
(`ledger.post_many`), which alone writes entries, postings and balances.

Each entry holds the payments of one property, at most the run's entry size (ENTRY_SIZE): a credit to each
investor's wallet (return + capital), one debit of the returns from the property's distributions account
(`returns_funding:<property id>`, which the run only draws on for funded periods: see funded.py) and one debit of
the capital from the property's escrow. Why entries of that size rather than one per batch: the ledger's guards on PostgreSQL check
each INSERT of postings as a whole and each entry at commit; an entry of one property's payments stays readable for
finance, and the size keeps entries few.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from sqlalchemy import select, update

from app.auth.models import User
from app.extensions import db
from app.investing.models import ACTIVE, DistributionRun, Investment, ScheduledReturn
from app.investing.returns.funded import WAITING_CAPITAL_IDS
from app.investing.returns.notices import record_rows
from app.ledger import services as ledger
from app.ledger.models import PROPERTY_ESCROW, RETURNS_FUNDING

ENTRY_KIND = "returns"


class PaidElsewhere(Exception):
    """Some period of the batch already has a payment row (its calendar row was still there)."""


class RunInfo(NamedTuple):
    id: int
    as_of: date
    actor_id: int | None
    entry_size: int  # payments of one property per journal entry


@dataclass
class Batch:
    """What a batch paid: the payments that moved money, their returns and their capital."""

    payments: int = 0
    total: int = 0
    capital: int = 0


@dataclass(frozen=True)
class Group:
    """The payments one journal entry holds: of one property, in calendar-row order."""

    property_id: int
    user_ids: Sequence[int]
    amounts: Sequence[int]  # return + capital of each payment
    returns: int
    capital: int


class Accounts:
    """The ledger accounts a run pays to and from: investors' wallets, the properties' distributions and escrow
    accounts. Platform accounts are created on first use; ids learnt inside a batch are kept only once it commits."""

    def __init__(self):
        self.known: dict[tuple[str, int], int] = {}
        self.pending: dict[tuple[str, int], int] = {}

    def platform(self, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        missing = {key for key in wanted if key not in self.known and key not in self.pending}
        if missing:
            found = ledger.platform_account_ids((kind, str(ref)) for kind, ref in missing)
            self.pending.update({(kind, ref): found[(kind, str(ref))] for kind, ref in missing})
        return {key: self.known.get(key) or self.pending[key] for key in wanted}

    def wallets(self, user_ids: list[int]) -> dict[int, int]:
        found = ledger.wallet_ids(user_ids)
        missing = [u for u in user_ids if u not in found]
        if missing:  # every user gets a wallet when created; open one for any that somehow has none
            for user in db.session.scalars(select(User).where(User.id.in_(missing))):
                ledger.open_user_accounts(user)
            found = ledger.wallet_ids(user_ids)
        return found

    def committed(self) -> None:
        self.known.update(self.pending)
        self.pending.clear()

    def rolled_back(self) -> None:
        self.pending.clear()


def post_entries(groups: list[Group], accounts: Accounts, run: RunInfo, batch_no: int) -> list[int]:
    """One journal entry per group, all posted by one call of the ledger's bulk posting; their ids, in order. Keys
    `returns:<run>:<batch>:<n>`, n counting the groups from 1."""
    wallets = accounts.wallets(sorted({u for g in groups for u in g.user_ids}))
    platform = accounts.platform({(RETURNS_FUNDING, g.property_id) for g in groups if g.returns}
                                 | {(PROPERTY_ESCROW, g.property_id) for g in groups if g.capital})
    entries = []
    for n, g in enumerate(groups, start=1):
        lines = [(wallets[u], amount) for u, amount in zip(g.user_ids, g.amounts)]
        if g.returns:
            lines.append((platform[(RETURNS_FUNDING, g.property_id)], -g.returns))
        if g.capital:
            lines.append((platform[(PROPERTY_ESCROW, g.property_id)], -g.capital))
        entries.append(ledger.BulkEntry(
            key=f"returns:{run.id}:{batch_no}:{n}", kind=ENTRY_KIND, lines=lines, actor_id=run.actor_id,
            memo=f"Returns run #{run.id} as of {run.as_of.isoformat()}: property #{g.property_id}, "
                 f"{len(g.user_ids)} payment(s)"))
    return ledger.post_many(entries)


def pay_waiting_capital(accounts: Accounts, run: RunInfo, now) -> int:
    """Capital back is not limited by funding: for the due rows whose period waits for funding, pay the capital
    from the property's escrow now (journal entries `returns:<run>:0:<n>`), take it off the calendar row (its return
    stays owed) and out of the investment's escrow_amount. Returns the capital paid. Does not commit. These rows
    are few (one per investment, at the end of its term): they are read into Python; on PostgreSQL the rows and
    their investments are taken SKIP LOCKED (one held elsewhere is left for the next run)."""
    ids = [row[0] for row in db.session.execute(WAITING_CAPITAL_IDS, {"as_of": run.as_of})]
    if not ids:
        return 0
    rows = db.session.execute(
        select(ScheduledReturn.id, ScheduledReturn.investment_id, ScheduledReturn.property_id,
               ScheduledReturn.user_id, ScheduledReturn.capital, ScheduledReturn.due_on)
        .join(Investment, Investment.id == ScheduledReturn.investment_id)
        .where(ScheduledReturn.id.in_(ids), ScheduledReturn.capital > 0, Investment.status == ACTIVE)
        .order_by(ScheduledReturn.property_id, ScheduledReturn.id)
        .with_for_update(skip_locked=True, of=[ScheduledReturn.__table__, Investment.__table__])).all()
    if not rows:
        return 0
    by_property: dict[int, list] = {}
    for r in rows:
        by_property.setdefault(r.property_id, []).append(r)
    groups = [Group(pid, [r.user_id for r in rs], [r.capital for r in rs], 0, sum(r.capital for r in rs))
              for pid, rs in by_property.items()]
    post_entries(groups, accounts, run, 0)
    record_rows(run.id, ((r.user_id, r.property_id, r.due_on, 0, r.capital) for r in rows), now)
    per_investment: dict[int, int] = {}
    for r in rows:
        per_investment[r.investment_id] = per_investment.get(r.investment_id, 0) + r.capital
    db.session.execute(update(ScheduledReturn).where(ScheduledReturn.id.in_([r.id for r in rows]))
                       .values(capital=0).execution_options(synchronize_session=False))
    for investment_id, capital in sorted(per_investment.items()):
        db.session.execute(update(Investment).where(Investment.id == investment_id).values(
            escrow_amount=Investment.escrow_amount - capital, updated_at=now)
            .execution_options(synchronize_session=False))
    total = sum(per_investment.values())
    db.session.execute(update(DistributionRun).where(DistributionRun.id == run.id)
                       .values(capital=DistributionRun.capital + total)
                       .execution_options(synchronize_session=False))
    return total
