"""Themes per app: search order, the ``default/`` prefix, cache isolation, start-up errors,
the theme's static files, and the branding that needs no template."""

from __future__ import annotations

import pytest

from settings.errors import ConfigError
from tests.skin.conftest import sign_in_page, write_theme

BLUE = {"templates/base.html": '{% extends "default/base.html" %}'
        '{% block footer_text %}<p class="blue-footer">Blue theme</p>{% endblock %}'}
RED = {"templates/steps/collect.html": '{% extends "default/steps/collect.html" %}'
       '{% block title %}Red sign-in{% endblock %}'}


def test_an_app_wears_its_theme_over_the_shipped_pages(themed_app, themes_folder):
    write_theme(themes_folder, "blue", BLUE)
    app = themed_app(apps={"test-app": {"theme": "blue"}})

    page = sign_in_page(app.test_client()).get_data(as_text=True)

    assert '<p class="blue-footer">Blue theme</p>' in page  # the theme's base.html block
    assert 'name="password"' in page  # the shipped steps/collect.html, through default/
    assert "to continue to Test app" in page


def test_two_apps_never_see_each_others_theme(themed_app, themes_folder):
    write_theme(themes_folder, "blue", BLUE)
    write_theme(themes_folder, "red", RED)
    app = themed_app(apps={"test-app": {"theme": "blue"}, "spa": {"theme": "red"}})

    for _round in range(2):  # the second round is served from the template caches
        blue = sign_in_page(app.test_client(), "test-app").get_data(as_text=True)
        red = sign_in_page(app.test_client(), "spa").get_data(as_text=True)
        assert "Blue theme" in blue and "Red sign-in" not in blue
        assert "Red sign-in" in red and "Blue theme" not in red
    plain = app.test_client().get("/login").get_data(as_text=True)
    assert "Blue theme" not in plain and "Red sign-in" not in plain


def test_the_deployment_default_theme_applies_to_apps_without_one(themed_app, themes_folder):
    write_theme(themes_folder, "blue", BLUE)
    app = themed_app(DEFAULT_THEME="blue")

    assert "Blue theme" in sign_in_page(app.test_client()).get_data(as_text=True)
    assert "Blue theme" in app.test_client().get("/").get_data(as_text=True)  # the account page


def test_the_sign_out_pages_wear_the_apps_theme(themed_app, themes_folder):
    write_theme(themes_folder, "blue", BLUE)
    app = themed_app(apps={"test-app": {"theme": "blue"}})
    client = app.test_client()

    confirm = client.get("/logout", query_string={"client_id": "test-app"}).get_data(as_text=True)
    assert "Sign out?" in confirm and "Blue theme" in confirm
    assert "Blue theme" not in client.get("/logout").get_data(as_text=True), "no app: shipped look"


def test_a_missing_theme_is_a_start_error_naming_the_app(themed_app):
    with pytest.raises(ConfigError, match=r"apps\.test-app\.theme: no theme named 'nowhere'"):
        themed_app(apps={"test-app": {"theme": "nowhere"}})
    with pytest.raises(ConfigError, match=r"ferry\.default_theme.*'gone'"):
        themed_app(DEFAULT_THEME="gone")


def test_a_missing_template_is_a_start_error_naming_app_and_file(themed_app, themes_folder):
    write_theme(themes_folder, "broken", {"templates/base.html": '{% extends "default/nope.html" %}'})
    with pytest.raises(ConfigError) as caught:
        themed_app(apps={"spa": {"theme": "broken"}})
    assert ("apps.spa.theme: themes/broken/templates/base.html: refers to 'default/nope.html'"
            in str(caught.value))


@pytest.mark.parametrize(("files", "complaint"), [
    ({"templates/base.html": "{% block title %}unclosed"}, r"base\.html, line 1: "),
    ({"templates/base.html": '{% extends "base.html" %}'}, r"a template loop \(base\.html -> base\.html\)"),
    ({"templates/base.html": '{% extends "default/base.html" %}{% block sidebar %}x{% endblock %}'},
     r"block 'sidebar' is not a block of default/base\.html"),
], ids=["syntax-error", "loop", "missing-block"])
def test_a_broken_theme_is_a_clear_start_error(themed_app, themes_folder, files, complaint):
    write_theme(themes_folder, "bad", files)
    with pytest.raises(ConfigError, match=complaint):
        themed_app(apps={"test-app": {"theme": "bad"}})


def test_a_page_a_theme_cannot_render_falls_back_to_the_shipped_one(themed_app, themes_folder):
    # Calling an undefined value fails only when rendered: the start-up cannot see it.
    write_theme(themes_folder, "fragile", {"templates/base.html": '{% extends "default/base.html" %}'
                                           "{% block footer_text %}{{ nothing() }}{% endblock %}"})
    app = themed_app(apps={"test-app": {"theme": "fragile"}})

    answer = sign_in_page(app.test_client())

    assert answer.status_code == 200
    assert 'name="password"' in answer.get_data(as_text=True)


def test_theme_static_files_are_served_with_cache_rules_and_no_traversal(themed_app, themes_folder):
    huge = bytes(range(256)) * 40_000  # 10 MB
    write_theme(themes_folder, "blue", {**BLUE, "static/big.bin": huge, "static/theme.css": "b{}"})
    (themes_folder / "secret.txt").write_text("not a static file")
    app = themed_app(apps={"test-app": {"theme": "blue"}})
    client = app.test_client()

    with client.get("/themes/blue/static/big.bin") as big:
        assert big.status_code == 200 and big.data == huge
        assert big.headers.get("ETag") and big.headers.get("Last-Modified")
        assert "Content-Security-Policy" in big.headers
    with client.get("/themes/blue/static/big.bin", headers={"If-None-Match": big.headers["ETag"]}) as again:
        assert again.status_code == 304
    with client.get("/themes/blue/static/theme.css") as css:
        assert css.mimetype == "text/css"
    for path in ("/themes/blue/static/../../secret.txt", "/themes/blue/static/%2e%2e/%2e%2e/secret.txt",
                 "/themes/nosuch/static/theme.css", "/themes/blue/static//etc/passwd"):
        with client.get(path, follow_redirects=True) as refused:
            assert refused.status_code == 404, path


def test_branding_without_templates(themed_app, themes_folder):
    write_theme(themes_folder, "blue", {**BLUE, "static/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"})
    app = themed_app(
        branding={"product_name": "Acme ID", "colors": {"accent": "#123456"}, "radius": "4px",
                  "terms_url": "https://acme.example/terms", "texts": {"en": {"Sign in": "Log in"}}},
        apps={"test-app": {"theme": "blue", "branding": {"logo": "logo.svg", "product_name": "Acme Shop ID",
                                                          "colors": {"bg": "#fff"}}}})
    client = app.test_client()

    page = sign_in_page(client).get_data(as_text=True)
    assert "· Acme Shop ID</title>" in page and "Ferry" not in page
    assert 'src="/themes/blue/static/logo.svg"' in page
    assert '<a class="ferry-link" href="https://acme.example/terms">' in page
    assert "<h1 class=\"ferry-title\">Log in</h1>" in page  # the deployment's text override
    css_url = page.split('<link rel="stylesheet" href="')[2].split('"')[0].replace("&amp;", "&")
    css = client.get(css_url)
    assert css.mimetype == "text/css"
    assert "--ferry-accent: #123456;" in css.get_data(as_text=True)  # the deployment's colour
    assert "--ferry-bg: #fff;" in css.get_data(as_text=True)  # and the app's
    assert "--ferry-radius: 4px;" in css.get_data(as_text=True)
    plain = client.get("/").get_data(as_text=True)  # the account page: the deployment's branding
    assert "· Acme ID</title>" in plain and "logo.svg" not in plain


def test_an_https_logo_is_added_to_img_src(themed_app):
    app = themed_app(apps={"test-app": {"branding": {"logo": "https://cdn.acme.example/logo.svg"}}})
    client = app.test_client()

    answer = sign_in_page(client)
    assert 'src="https://cdn.acme.example/logo.svg"' in answer.get_data(as_text=True)
    assert "img-src 'self' data: https://cdn.acme.example;" in answer.headers["Content-Security-Policy"]
    assert "cdn.acme.example" not in client.get("/").headers["Content-Security-Policy"]


@pytest.mark.parametrize(("branding", "complaint"), [
    ({"logo": "http://cdn.example.com/logo.svg"}, "logo"),
    ({"logo": "../../etc/passwd"}, "logo"),
    ({"colors": {"accent": "red; background: url(x)"}}, "#rgb or #rrggbb"),
    ({"colors": {"nope": "#fff"}}, "colors"),
    ({"radius": "calc(1px)"}, "a length"),
    ({"terms_url": "javascript:alert(1)"}, "https"),
    ({"texts": {"de": {"Sign in": "Hallo %(name)s"}}}, "placeholders"),
])
def test_bad_branding_is_refused_at_start(themed_app, branding, complaint):
    with pytest.raises(ConfigError, match=complaint):
        themed_app(branding=branding)
    with pytest.raises(ConfigError, match=complaint):
        themed_app(apps={"spa": {"branding": branding}})


def test_a_logo_file_needs_a_theme_holding_it(themed_app, themes_folder):
    write_theme(themes_folder, "blue", BLUE)
    with pytest.raises(ConfigError, match=r"apps\.test-app: logo 'logo\.svg' is not a file of themes/blue"):
        themed_app(apps={"test-app": {"theme": "blue", "branding": {"logo": "logo.svg"}}})
    with pytest.raises(ConfigError, match=r"apps\.spa: logo 'logo\.svg' is a file, but there is no theme"):
        themed_app(apps={"spa": {"branding": {"logo": "logo.svg"}}})
