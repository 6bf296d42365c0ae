"""What the busiest investor pages read: the KYC status behind the dashboard, GET /me and every investment is the
status of the newest submission per form, never the submissions' values (decrypted) or documents."""
from sqlalchemy import select

from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.kyc import services as kyc
from app.kyc.models import KycForm


def usd(amount: str) -> str:
    """An amount as the portal shows it in English ("$1,250.00")."""
    return Money.parse(amount.replace(",", ""), "USD", allow_zero=True).local("en")

SUBMISSION_DETAIL = ("kyc_values", "kyc_documents")


def _reads_submission_detail(statements: list[str]) -> list[str]:
    return [s for s in statements if any(f"FROM {table}" in s for table in SUBMISSION_DETAIL)]


def test_the_dashboard_reads_the_kyc_status_only(client, make_investor, login, count_queries):
    user = make_investor()
    login(user)
    client.get("/")  # warm up
    with count_queries() as statements:
        html = client.get("/").get_data(as_text=True)
    assert usd('10,000.00') in html
    assert _reads_submission_detail(statements) == []


def test_api_me_reads_the_kyc_status_only(client, make_investor, make_user, token_for, count_queries):
    approved, newcomer = make_investor(), make_investor(kyc=False)
    for user, status in ((approved, "approved"), (newcomer, "not_started")):
        headers = token_for(user)
        with count_queries() as statements:
            body = client.get("/api/v1/me", headers=headers).get_json()
        assert body["data"]["kyc_status"] == status
        assert _reads_submission_detail(statements) == []


def test_the_kyc_status_is_the_newest_submissions(app, make_investor, kyc_reviewer):
    """latest_statuses() answers what latest_submissions() does, for every form."""
    user = make_investor()
    with unit_of_work():
        statuses = kyc.latest_statuses(user.id)
        submissions = kyc.latest_submissions(user.id)
        forms = db.session.scalars(select(KycForm)).all()
        assert statuses == {form_id: s.status for form_id, s in submissions.items()}
        assert [kyc.form_status(statuses, f.id) for f in forms] == [kyc.form_status(submissions, f.id) for f in forms]
        assert kyc.overall_status(user.id) == "approved"
        assert kyc.missing_for(user.id, kyc.INVEST) == []


def test_the_dashboard_costs_the_same_queries_for_1_or_8_ledger_lines(app, make_investor, fund, login,
                                                                       count_queries):
    counts = {}
    for deposits in (1, 8):
        user = make_investor("100.00")
        for _ in range(deposits - 1):
            fund(user, "10.00")
        http = app.test_client()
        login(user, http=http)
        http.get("/")  # warm up
        with count_queries() as statements:
            html = http.get("/").get_data(as_text=True)
        assert html.count("Deposit to your wallet") == min(deposits, 5)  # the newest five lines
        counts[deposits] = len(statements)
    assert counts[1] == counts[8], counts
