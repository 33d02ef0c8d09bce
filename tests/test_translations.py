"""Every text a user reads is in the catalogues, and every catalogue translates all of it.

* The messages of the code and templates (extracted now, with babel.cfg, through Babel's API)
  are exactly the ones of translations/messages.pot and of each language's .po: all translated,
  none fuzzy, the same placeholders; the compiled .mo files match them (``make setup``).
* Text a template or the Python code shows without gettext fails (a scan of template text and
  of the places UI text flows through: flash, notices, Done messages, field labels, validators).
* Pages follow ``ui_locales``, then ``Accept-Language``, then English; codes are sent in the
  language of the request that asked for them; account-page dates are the locale's.
"""

from __future__ import annotations

import ast
import os
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from authenticators.sms_delivery import sms_text
from journeys.steps.messages import configured
from journeys.steps.reject import RejectSettings
from models import PasskeyCredential, db
from tests.accounts import create_local_user, sign_in_locally
from tests.authenticators.mail import MailServer
from tests.conftest import SignIn
from tests.journeys.test_sign_in_with_code import code_deployment
from tests.provider.apps import walker

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LANGUAGES = ("de", "es", "fr")
#: Not Ferry's pages; the same list as BABEL_IGNORE_DIRS in the Makefile (with .* and _*).
IGNORED_DIRS = {"tests", "bench", "demo", "docs", "instance"}
#: Template text that is the same in every language.
UNTRANSLATED = {"Ferry"}
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrs%]")


# -- the catalogues --------------------------------------------------------------------------
def _keep(path: str) -> bool:
    name = os.path.basename(path)
    relative = os.path.relpath(path, ROOT)
    return not name.startswith((".", "_")) and relative.split(os.sep)[0] not in IGNORED_DIRS


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, comment_tags=("Translators:",),
            directory_filter=_keep):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    assert len(catalog) > 100  # the extraction itself works
    return catalog


def ids(catalog: Catalog) -> set[str]:
    return {message.id if isinstance(message.id, str) else message.id[0]
            for message in catalog if message.id}


def po(language: str) -> Catalog:
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=language)


def placeholders(text: str) -> list[str]:
    return sorted(match.group(0) for match in PLACEHOLDER.finditer(text))


def test_the_committed_template_is_current(extracted):
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template = read_po(handle)
    assert ids(template) == ids(extracted), "run `make translations`, then translate"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(extracted, language):
    catalog = po(language)
    missing, stale = ids(extracted) - ids(catalog), ids(catalog) - ids(extracted)
    assert not missing, f"{language}: not in the catalogue (`make translations`): {sorted(missing)}"
    assert not stale, f"{language}: no longer in the code (`make translations`): {sorted(stale)}"
    assert not catalog.fuzzy and str(catalog.locale) == language
    problems = []
    for message in catalog:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {sources[0]!r}")
        if len(strings) != catalog.num_plurals and isinstance(message.id, tuple):
            problems.append(f"{len(strings)} plural forms, not {catalog.num_plurals}: {sources[0]!r}")
        for string in strings:
            if not string.strip():
                problems.append(f"untranslated: {sources[0]!r}")
            # Every form keeps the placeholders (a plural's singular may drop %(num)d in some
            # languages, but none of these three).
            elif placeholders(string) != placeholders(sources[-1]):
                problems.append(f"placeholders differ: {sources[0]!r} -> {string!r}")
        problems += [f"{error}: {sources[0]!r}" for error in message.check(catalog)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogues_are_current(language):
    compiled = TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo"
    assert compiled.exists(), "run `make setup`: it compiles the catalogues"
    with open(compiled, "rb") as handle:
        mo = read_mo(handle)
    assert strings(mo) == strings(po(language)), "run `make setup`: a catalogue changed since"


def strings(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {message.id if isinstance(message.id, str) else message.id[0]:
            tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string,)
            for message in catalog if message.id}


# -- text outside gettext --------------------------------------------------------------------
class _Text(HTMLParser):
    """The text of HTML a user reads: element text and the attributes a browser shows."""

    SHOWN = {"title", "alt", "placeholder", "aria-label", "aria-description", "aria-roledescription",
             "aria-valuetext", "label"}

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._raw = 0

    def handle_starttag(self, tag, attrs):
        self._raw += tag in ("script", "style")
        kinds = dict(attrs)
        for name, value in attrs:
            shown = name in self.SHOWN or (
                tag == "input" and name == "value" and kinds.get("type") in ("submit", "button", "reset"))
            if shown and value:
                self.words += value.split()

    def handle_endtag(self, tag):
        self._raw -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._raw:
            self.words += data.split()


def template_words(source: str) -> list[str]:
    """The words of a template's own HTML (what Jinja puts there is dropped: a gettext call, a
    user's name...), which are the words no catalogue can translate."""
    parser = _Text()
    environment = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    for _line, kind, value in environment.lex(source):
        if kind == "data":
            parser.feed(value)
    parser.close()
    return [word for word in parser.words if re.search(r"[^\W\d_]", word) and word not in UNTRANSLATED]


def test_the_text_scan_sees_text():
    html = '<p title="Hello">{{ _("ok") }} World · <b>{{ name }}</b></p>'
    assert template_words(html) == ["Hello", "World"]
    assert template_words('<script>var x = "y";</script><a href="/x">{{ _("Go") }}</a>') == []


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")),
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_templates_hold_no_text_outside_gettext(path):
    assert template_words(path.read_text()) == []


#: Calls whose (first) text argument a user reads: ``(function name, argument index)``.
_SHOWN_ARGUMENTS = {"flash": 0, "add_notice": 0, "Done": 1, "DataRequired": 0, "InputRequired": 0,
                    "Email": 0, "ValidationError": 0, "StopValidation": 0}
_SHOWN_KEYWORDS = {"message", "label", "title", "hint", "notice", "button"}


def _literal(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(re.search(r"[^\W\d_]", node.value))
    return isinstance(node, ast.JoinedStr)


def unwrapped_texts(source: str) -> list[tuple[int, str]]:
    """Literal texts where Ferry's code hands text to a page: the arguments of flash, notices,
    step results, WTForms labels and validator messages, and ``field.errors``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            index = _SHOWN_ARGUMENTS.get(name)
            if name.endswith("Field") and name != "Field":
                index = 0  # a WTForms field's label (pydantic's Field is a default value)
            candidates = [node.args[index]] if index is not None and len(node.args) > index else []
            # The commands' progress bars speak to an operator's terminal (in English, like
            # every command's output), not to a page.
            if name not in ("_", "_l", "gettext", "ngettext", "lazy_gettext", "N_", "progressbar"):
                candidates += [kw.value for kw in node.keywords if kw.arg in _SHOWN_KEYWORDS]
            found += [(c.lineno, ast.unparse(c)) for c in candidates if _literal(c)]
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Attribute) and t.attr == "errors" for t in node.targets) \
                    and isinstance(node.value, ast.List):
                found += [(e.lineno, ast.unparse(e)) for e in node.value.elts if _literal(e)]
    return found


def test_the_code_scan_sees_text():
    source = ('flash("Saved.")\nrun.add_notice(f"Hi {name}")\nDone("failure", "Nope")\n'
              'StringField("Name", validators=[DataRequired("Enter it.")])\nform.x.errors = ["Bad"]\n'
              'flash(_("Saved."))\nDone("success")\nStringField(_l("Name"))\n'
              'self.render(run, title=_("T"))\nclick.progressbar(rows, label="Importing")\n')
    assert sorted(line for line, _text in unwrapped_texts(source)) == [1, 2, 3, 4, 4, 5]


def _python_sources() -> list[Path]:
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if _keep(os.path.join(folder, name))]
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


def test_python_hands_no_text_to_pages_outside_gettext():
    offences = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in _python_sources()
                for line, text in unwrapped_texts(path.read_text())]
    assert not offences, "wrap these in _() or _l():\n" + "\n".join(offences)


# -- the pages' language ---------------------------------------------------------------------
def page(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_ui_locales_gives_german(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"  # ui_locales first
    first = page(walker(client).start(ui_locales="de"))  # the page /authorize answers
    for german in (first, page(client.get("/login"))):  # and a reload of it
        assert '<html lang="de">' in german
        assert "Anmelden" in german and "E-Mail-Adresse" in german and "Passwort" in german
        assert "Sign in" not in german and "Password" not in german


def test_accept_language_gives_french_then_spanish(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr-CA, en;q=0.5"
    french = page(walker(client).start())
    assert '<html lang="fr">' in french and "Se connecter" in french and "Mot de passe" in french
    spanish = page(client.get("/login", headers={"Accept-Language": "es-MX"}))
    assert '<html lang="es">' in spanish and "Iniciar sesión" in spanish and "Contraseña" in spanish


@pytest.mark.parametrize("accept_language", [
    ", ".join(f"x{n:04d}-zz;q=0.{n % 9 + 1}" for n in range(1000)),  # ~20 kB of unknown tags
    "de" * 5120,  # one 10 kB token
    "q=;;;,,," * 1300,
])
def test_unknown_languages_and_huge_headers_fall_back_to_english(client, accept_language):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    first = page(walker(client).start(ui_locales="tlh zz-ZZ"))
    for english in (first, page(client.get("/login"))):
        assert '<html lang="en">' in english and "Sign in" in english and "Password" in english


def test_discovery_lists_every_language(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["ui_locales_supported"] == ["de", "en", "es", "fr"]


def test_right_to_left_languages_get_dir_rtl(make_app, tmp_path):
    catalog = Catalog(locale="ar")
    catalog.add("Sign in", "تسجيل الدخول")
    folder = tmp_path / "translations" / "ar" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    client = make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations")).test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ar"
    arabic = page(walker(client).start())
    assert '<html lang="ar" dir="rtl">' in arabic and "تسجيل الدخول" in arabic
    assert '<html lang="en">' in page(client.get("/login", headers={"Accept-Language": "en"}))


def test_journey_texts_are_translated_when_they_are_ferrys_own(app):
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert configured("Try again") == "Erneut versuchen"  # journeys/defaults.toml
        default = RejectSettings.model_fields["title"].default  # a step's default, marked N_()
        assert configured(default) == "Wir konnten Sie nicht anmelden"
        assert configured("Ask the front desk") == "Ask the front desk"  # a deployment's own
        assert configured("") == ""  # not the catalogue's header


def test_account_page_dates_follow_the_locale(app, client):
    user_id = sign_in_locally(app, client, "kim@example.com", "a long local password")
    with app.app_context(), db.connection_context():
        PasskeyCredential.create(user=user_id, credential_id="cred-1", public_key=b"\x01",
                                 name="Laptop", created_at=datetime(2025, 3, 12, 10, 30))
    dates = {"en": "Added Mar 12, 2025", "de": "Hinzugefügt am 12.03.2025",
             "fr": "Ajoutée le 12 mars 2025", "es": "Añadida el 12 mar 2025"}
    for language, expected in dates.items():
        assert expected in page(client.get("/", headers={"Accept-Language": language})), language


# -- codes, in the language of the request -----------------------------------------------------
def test_a_code_e_mail_goes_out_in_german(make_app):
    with MailServer() as mail:
        app = make_app(DEPLOYMENT=code_deployment(), **mail.config())
        create_local_user(app, "carol@example.com", "unused password 1")
        browser = SignIn(app.test_client())
        browser.start(ui_locales="de")
        sent = page(browser.post(identifier="carol@example.com"))
        (message,) = mail.received
    assert "Falls ein Konto für carol@example.com besteht" in sent  # the page too
    assert message["Subject"] == "Ihr Anmeldecode" and message["Content-Language"] == "de"
    body = message.get_content()
    assert re.search(r"Ihr Anmeldecode lautet \d{6}\r?\n", body) and "10 Minuten lang" in body
    assert "Your sign-in code" not in body


def test_a_code_text_message_speaks_the_request_language(app):
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        text = sms_text("123456", 10, "login.example.com")
    assert text.startswith("Votre code de connexion pour login.example.com est 123456.")
    assert "10 minutes" in text and text.endswith("\n\n@login.example.com #123456")  # WebOTP's line
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert sms_text("123456", 1, "x.example").startswith("Your sign-in code for x.example is 123456. "
                                                             "It works once, for 1 minute.")
