"""The log: one line per request (method, route pattern, status, duration, user, request id), the request id
returned in X-Request-ID (the client's when sane), task lines with the task's name and id and the id of the request
that queued it, JSON lines that parse, and one handler however many apps are built."""
from __future__ import annotations

import io
import json
import logging
import uuid
from contextvars import copy_context
from types import SimpleNamespace

import pytest

from app.core import logs
from app.core.logs import REQUEST_ID_HEADER, make_handler, request_id_var
from tests.support import build_app


@pytest.fixture
def written(monkeypatch):
    """What the log set-up's JSON handler writes, one parsed object per line."""
    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [*root.handlers, make_handler("json", stream=stream)])
    monkeypatch.setattr(root, "level", logging.DEBUG)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    return lines


@pytest.fixture
def another_app(app, monkeypatch):
    """An app of its own (a test adds views to it); the suite's app gets Celery's current app and the rate limiter
    back afterwards."""
    from celery import _state

    from app.extensions import limiter

    monkeypatch.setattr(_state._tls, "current_app", getattr(_state._tls, "current_app", None))
    monkeypatch.setattr(_state, "default_app", _state.default_app)
    for name, value in list(vars(limiter).items()):
        monkeypatch.setattr(limiter, name, value)
    return build_app(app.config["SQLALCHEMY_DATABASE_URI"])


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "app.requests"]


# requests ------------------------------------------------------------------------------------------------------------
def test_an_api_request_is_logged_once_with_its_route_status_duration_user_and_request_id(client, investor,
                                                                                           token_for, written):
    given = "client-chosen-id-42"
    response = client.get("/api/v1/me", headers={**token_for(investor), "X-Request-ID": given})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == given
    [line] = request_lines(written())
    assert line["method"] == "GET" and line["route"] == "/api/v1/me" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] == investor.id and line["request_id"] == given
    assert line["level"] == "INFO" and line["timestamp"] and line["message"].startswith("GET /api/v1/me 200 ")


def test_a_signed_in_page_names_its_user(client, investor, login, written):
    assert login(investor).status_code == 302
    assert client.get("/").status_code == 200
    page = [line for line in request_lines(written()) if line["route"] == "/" and line["method"] == "GET"][-1]
    assert page["user_id"] == investor.id


def test_the_route_pattern_is_logged_never_the_path(client, written):
    client.get("/password/reset/secret-looking-token.abc")
    [line] = request_lines(written())
    assert line["route"] == "/password/reset/<token>"
    assert "secret-looking-token" not in json.dumps(written())


def test_a_request_without_an_id_gets_a_new_one(client, written):
    first, second = client.get("/healthz"), client.get("/healthz")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert ids[0] != ids[1] and all(len(value) == 32 and int(value, 16) >= 0 for value in ids)
    assert [line["request_id"] for line in request_lines(written())] == ids
    assert all("user_id" not in line for line in request_lines(written()))  # nobody signed in


@pytest.mark.parametrize("hostile", ["id with spaces", "<script>alert(1)</script>", "a" * 129, "short", "ïd-ünïcode-1",
                                     "abc\\r\\nX-Evil: 1"])
def test_an_unsafe_client_request_id_is_replaced(client, written, hostile):
    response = client.get("/healthz", headers={"X-Request-ID": hostile})
    returned = response.headers["X-Request-ID"]
    assert returned != hostile and len(returned) == 32
    [line] = request_lines(written())
    assert line["request_id"] == returned and hostile not in json.dumps(line)


def test_an_error_answer_and_a_404_are_logged_with_their_id(client, written):
    missing = client.get("/no/such/page/token-abc", headers={"X-Request-ID": "trace-0001-abcd"})
    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "trace-0001-abcd"
    api = client.get("/api/v1/me")  # no token: 401 from a before-request check
    assert api.status_code == 401 and len(api.headers["X-Request-ID"]) == 32
    lines = request_lines(written())
    assert [(line["route"], line["status"]) for line in lines] == [("<no route>", 404), ("/api/v1/me", 401)]
    assert "token-abc" not in json.dumps(lines)


def test_lines_logged_during_a_request_carry_its_id(another_app, written):
    application = another_app

    @application.get("/test-logs-something")
    def something():
        logging.getLogger("app.something").warning("something happened")
        return "ok"

    application.test_client().get("/test-logs-something", headers={"X-Request-ID": "outer-request-0001"})
    [line] = [line for line in written() if line["logger"] == "app.something"]
    assert line["request_id"] == "outer-request-0001" and line["message"] == "something happened"
    assert request_id_var.get() is None, "the request's id does not outlive it"


# tasks ---------------------------------------------------------------------------------------------------------------
def test_a_task_queued_by_a_request_logs_its_name_id_and_the_request_id(another_app, written):
    application = another_app
    celery = application.extensions["celery"]
    name = f"tests.log_a_line_{uuid.uuid4().hex[:8]}"

    @celery.task(name=name)
    def log_a_line():
        logging.getLogger("app.tests.task").info("task at work")

    @application.get("/test-queue-a-task")
    def queue():
        return {"task_id": log_a_line.delay().id}

    with application.app_context():
        response = application.test_client().get("/test-queue-a-task", headers={"X-Request-ID": "req-queues-task-1"})
    task_id = response.get_json()["task_id"]
    [line] = [line for line in written() if line["logger"] == "app.tests.task"]
    assert line["task_name"] == name and line["task_id"] == task_id
    assert line["request_id"] == "req-queues-task-1"
    [request_line] = request_lines(written())
    assert "task_name" not in request_line, "the request's own line is not the task's"


def test_the_request_id_travels_in_the_task_message_headers():
    headers: dict = {"id": "t-1", "task": "payments.process_webhook"}
    token = request_id_var.set("req-publishing-0001")
    try:
        logs._before_task_publish(headers=headers, body=(), exchange="", routing_key="celery")
    finally:
        request_id_var.reset(token)
    assert headers[REQUEST_ID_HEADER] == "req-publishing-0001"
    nothing: dict = {"id": "t-2"}
    logs._before_task_publish(headers=nothing)  # published outside any request: no header
    assert REQUEST_ID_HEADER not in nothing


def test_a_worker_reads_the_request_id_from_the_message(written):
    """What a worker does with a message that carries the header: its lines carry the id, then it is forgotten."""
    log = logging.getLogger("app.tests.worker")

    def run() -> None:
        task = SimpleNamespace(name="payments.process_webhook", request=SimpleNamespace(
            **{REQUEST_ID_HEADER: "req-from-header-01"}, headers=None))
        logs._task_prerun(task_id="task-id-7", task=task)
        log.info("inside")
        logs._task_postrun(task_id="task-id-7", task=task)
        log.info("after")

    copy_context().run(run)
    inside, after = [line for line in written() if line["logger"] == "app.tests.worker"]
    assert (inside["task_name"], inside["task_id"], inside["request_id"]) == (
        "payments.process_webhook", "task-id-7", "req-from-header-01")
    assert not {"task_name", "task_id", "request_id"} & set(after)


def test_an_unsafe_request_id_header_is_not_believed(written):
    def run() -> None:
        task = SimpleNamespace(name="x.y", request=SimpleNamespace(headers={REQUEST_ID_HEADER: "bad id\nforged"}))
        logs._task_prerun(task_id="task-id-8", task=task)
        logging.getLogger("app.tests.worker").info("inside")
        logs._task_postrun(task_id="task-id-8", task=task)

    copy_context().run(run)
    [line] = [line for line in written() if line["logger"] == "app.tests.worker"]
    assert "request_id" not in line and line["task_id"] == "task-id-8"


# formats and set-up ------------------------------------------------------------------------------------------------
def test_text_lines_are_one_readable_line_with_the_context():
    stream = io.StringIO()
    handler = make_handler("text", stream=stream)
    token = request_id_var.set("req-text-format-1")
    try:
        record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "paid %s", ("twice",), None)
        record.user_id = 7
        handler.handle(record)
    finally:
        request_id_var.reset(token)
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert " INFO app.x [request_id=req-text-format-1 user_id=7] paid twice" in line


def test_the_format_follows_the_configuration():
    assert logs.LogSettings.of({"CONFIG_NAME": "production"}).fmt == "json"
    assert logs.LogSettings.of({"CONFIG_NAME": "development"}).fmt == "text"
    assert logs.LogSettings.of({"CONFIG_NAME": "testing"}).fmt == "text"
    assert logs.LogSettings.of({"CONFIG_NAME": "production", "LOG_FORMAT": "text", "LOG_LEVEL": "debug"}) == \
        logs.LogSettings("text", "DEBUG", links=True)
    assert logs.LogSettings.of({"CONFIG_NAME": "development"}).links is False  # the mail stand-in's links
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        logs.LogSettings.of({"LOG_FORMAT": "xml"})
    with pytest.raises(RuntimeError, match="LOG_LEVEL"):
        logs.LogSettings.of({"LOG_LEVEL": "LOUD"})


def test_building_apps_again_adds_no_handler_and_keeps_the_level(app, another_app, caplog):
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_freehold_logs", False)]
    assert len(ours) == 1
    with caplog.at_level(logging.DEBUG):
        build_app(app.config["SQLALCHEMY_DATABASE_URI"])
        build_app(app.config["SQLALCHEMY_DATABASE_URI"])
        assert [h for h in root.handlers if getattr(h, "_freehold_logs", False)] == ours
        assert root.level == logging.DEBUG, "caplog's level survives another app"
        logging.getLogger("app.x").debug("still captured")
    assert "still captured" in caplog.text


def test_the_set_up_never_turns_sql_echo_on(monkeypatch):
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)
    monkeypatch.setattr(logs, "_current", [])
    logs.configure(logs.LogSettings("text", "DEBUG"))
    try:
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
    finally:
        logs.configure(logs.LogSettings())


def test_the_safety_net_redacts_what_looks_like_a_secret():
    assert logs.redact("sent Bearer abcdefghijklmnop to x") == "sent Bearer [redacted] to x"
    assert "abcdefghijklmnop" not in logs.redact("Authorization: Bearer abcdefghijklmnop")
    assert logs.redact("login password=hunter2-secret&next=/") == "login password=[redacted]&next=/"
    assert logs.redact('{"otp": "123456"}') == '{"otp": "[redacted]"}'
    assert logs.redact("see https://x/password/reset/abc.def?x=1") == "see https://x/password/reset/[redacted]?x=1"
    assert logs.redact("see /verify-email/abc", links=False) == "see /verify-email/abc"
    assert logs.redact("GET /password/reset/<token> 200 1.0ms") == "GET /password/reset/<token> 200 1.0ms"


def test_the_worker_keeps_the_apps_logging(app, monkeypatch):
    """Celery configures the root logger itself only when nobody answers its setup_logging signal."""
    from celery import signals

    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)

    before = logs.current_settings()
    try:
        answered = signals.setup_logging.send(sender=None, loglevel=logging.WARNING, logfile=None, format="",
                                              colorize=False)
        assert logs._celery_setup_logging in [receiver for receiver, _ in answered]
        assert len([h for h in logging.getLogger().handlers if getattr(h, "_freehold_logs", False)]) == 1
        assert logs.current_settings().level == "WARNING", "the worker's --loglevel, LOG_LEVEL being unset"
    finally:
        logs.configure(before)
