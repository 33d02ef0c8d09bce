"""A hostile theme: everything it reaches for renders as nothing, never a secret, never a 500."""

from __future__ import annotations

import pytest

from tests.skin.conftest import sign_in_page, write_theme

#: Each is tried inside the sandbox; none may print anything of the server.
REACHES = [
    "config", "config.SECRET_KEY", "request.environ", "session", "g",
    "self.__init__.__globals__", "''.__class__.__mro__", "''.__class__.__mro__[1]",
    "cycler.__init__.__globals__", "joiner.__init__.__globals__.os", "lipsum.__globals__",
    "url_for.__globals__", "csrf_token.__globals__", "get_flashed_messages.__globals__",
    "form.meta.csrf_secret", "form.meta", "form.csrf_token.meta.csrf_secret", "form.password.data",
    "form.data", "form._fields", "form.__class__", "step.settings", "step._connector", "app.__dict__",
    "branding.__class__.__init__.__globals__", "namespace.__init__.__globals__",
    "'{0.__class__.__init__.__globals__}'.format(1)", "range.__self__",
    "(form.identifier.label.text.__class__)", "form.identifier.meta",
]


def hostile_theme(reaches: list[str]) -> dict[str, str]:
    body = "".join(f'<p class="reach">{{{{ {reach} }}}}</p>' for reach in reaches)
    return {"templates/base.html": '{% extends "default/base.html" %}'
            "{% block footer_text %}" + body + "{% endblock %}"}


def _assert_nothing_secret(answer, app) -> None:
    page = answer.get_data(as_text=True)
    assert answer.status_code < 500
    assert 'name="password"' in page  # a page, the sign-in form
    for secret in (app.config["SECRET_KEY"], app.config["DATABASE_URL"], "ferry.db", "Traceback",
                   "<class", "__globals__", "function"):
        assert secret not in page, secret


def test_a_hostile_theme_renders_nothing_secret(themed_app, themes_folder, caplog):
    write_theme(themes_folder, "hostile", hostile_theme(REACHES))
    app = themed_app(apps={"test-app": {"theme": "hostile"}})
    client = app.test_client()

    answer = sign_in_page(client)
    _assert_nothing_secret(answer, app)
    assert answer.get_data(as_text=True).count('<p class="reach"></p>') == len(REACHES)
    posted = client.post("/login", data={"identifier": "a@example.com", "password": "hunter2-secret"})
    assert "hunter2-secret" not in posted.get_data(as_text=True)  # form.password.data is refused
    assert "refused" in caplog.text


@pytest.mark.parametrize("attack", [
    "self.__init__.__globals__['os'].popen('id').read()",
    "cycler.__init__.__globals__.os.popen('id').read()",
    "''.__class__.__mro__[1].__subclasses__()[0]()",
    "config.items()",
])
def test_a_theme_calling_what_it_cannot_reach_gets_the_shipped_page(themed_app, themes_folder, attack):
    write_theme(themes_folder, "hostile", hostile_theme([attack]))
    app = themed_app(apps={"test-app": {"theme": "hostile"}})

    answer = sign_in_page(app.test_client())

    _assert_nothing_secret(answer, app)
    assert "uid=" not in answer.get_data(as_text=True)


def test_the_account_page_rows_show_only_what_is_listed(themed_app, themes_folder):
    reaches = ["user.password_hash", "user.select", "user._meta.database", "get_locale().__class__"]
    write_theme(themes_folder, "hostile", hostile_theme(reaches))
    app = themed_app(DEFAULT_THEME="hostile")

    answer = app.test_client().get("/")

    assert answer.status_code == 200
    assert answer.get_data(as_text=True).count('<p class="reach"></p>') == len(reaches)
