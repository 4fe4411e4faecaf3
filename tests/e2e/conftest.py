"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

Every journey logs in through the real pages (password, then the TOTP code), keeps the strict
Content-Security-Policy of the node (a CSP violation or a page error fails the test), and saves
screenshots of its key pages: to `docs/screenshots/` with CASEBRIDGE_SCREENSHOTS=1, to a
temporary directory otherwise (so CI does not dirty the tree).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Playwright's sync API keeps an event loop running in the main thread from the first browser test
# to the end of the session (pytest-playwright's fixtures are session-scoped), so Django would
# refuse every later ORM call in that thread, in these tests and in the suite's tests collected
# after them. The calls are plain synchronous ones; allow them for the session.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django_otp.oath import totp
from playwright.sync_api import Page, expect

from agencies.models import Authenticator as TOTPDevice  # seeds stored wrapped (L4)
from tests.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


# --- the browser ------------------------------------------------------------------------------


def _apt_install() -> str:
    """Install Debian's chromium; returns "" on success, else what went wrong."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=600)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    if done.returncode != 0:
        return (done.stderr or done.stdout).strip()[-300:] or f"exit status {done.returncode}"
    return ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, installed with apt-get when missing (never `playwright install`)."""
    if not CHROMIUM.exists():
        problem = _apt_install()
        if not CHROMIUM.exists():
            pytest.skip(f"{CHROMIUM} is missing and `apt-get install -y chromium` failed: {problem or 'no binary'}")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_path):
    return {**browser_type_launch_args, "executable_path": chromium_path, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT, "locale": "en-GB", "timezone_id": "UTC"}


# --- the node ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _e2e_settings(settings, tmp_path):
    """Uploads and bundles under tmp; the personas' passwords hashed fast (logins stay real)."""
    settings.MEDIA_ROOT = tmp_path / "uploads"
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from hashsets.pdq_service import pdq_index_reset

    pdq_index_reset()
    yield
    pdq_index_reset()


def _app_serves_static(application):
    """The live server's static handler: none. WhiteNoise in the app serves the collected, hashed
    files as in production (Django's StaticFilesHandler only knows the unhashed names)."""
    return application


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, serving static files the production way (run collectstatic)."""
    from django.conf import settings
    from pytest_django.live_server_helper import LiveServer

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists() and not settings.DEBUG:
        pytest.skip("run `manage.py collectstatic --no-input` first: the browser tests load the real CSS and JS")
    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(addr, start=False)
    server.thread.static_handler = _app_serves_static
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(live_server_tx) -> str:
    """The live server's base URL (transactional database, audit triggers handled)."""
    return live_server_tx.url


# --- pages, logins, screenshots ----------------------------------------------------------------


class BrowserProblems:
    """CSP violations, uncaught page errors and failed same-origin requests seen by a page."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("response", self._response)
        return page

    def _response(self, response) -> None:
        path = urlsplit(response.url).path
        if response.status >= 500 or (response.status >= 400 and path.startswith("/static/")):
            self.items.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused to" in text):
            self.items.append(f"CSP: {text}")


@pytest.fixture
def browser_problems():
    problems = BrowserProblems()
    yield problems
    assert not problems.items, "\n".join(problems.items)


@pytest.fixture
def open_page(browser, browser_context_args, browser_problems):
    """open_page() -> a fresh page in its own context (its own cookies: one person each)."""
    contexts = []

    def _open(**overrides) -> Page:
        context = browser.new_context(**{**browser_context_args, **overrides})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return browser_problems.watch(context.new_page())

    yield _open
    for context in contexts:
        context.close()


def code_for(user) -> str:
    """The current TOTP code, waiting for the next step if this one was already used (no reuse)."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    now = time.time()
    if device.last_t is not None and device.last_t >= int((now - device.t0) // device.step):
        time.sleep(device.step - (now - device.t0) % device.step + 0.2)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def code_from_key(key: bytes) -> str:
    """What an authenticator app shows for `key` now (time-based, 6 digits, 30 seconds)."""
    return f"{totp(key, step=30, t0=0, digits=6):06d}"


def key_from_manual_entry(text: str) -> bytes:
    """The key shown on the enrolment page ("ABCD EFGH ...", no padding) as bytes."""
    compact = re.sub(r"\s+", "", text).upper()
    return base64.b32decode(compact + "=" * (-len(compact) % 8))


def login(page: Page, base_url: str, user, *, password: str = PASSWORD) -> Page:
    """Log in through the real pages: username and password, then the one-time code."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="One-time code")).to_be_visible()
    page.get_by_label("One-time code").fill(code_for(user))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Welcome"))).to_be_visible()
    return page


@pytest.fixture
def logged_in(open_page, server):
    """logged_in(user) -> a page of a fresh context where `user` has logged in."""

    def _as(user, **context_overrides) -> Page:
        return login(open_page(**context_overrides), server, user)

    return _as


def _shrink_png(path: Path) -> None:
    """Quantise to a 256-colour palette: the docs' screenshots stay small (UI colours are few)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


@pytest.fixture
def screenshot(tmp_path):
    """screenshot(page, name) saves a PNG: docs/screenshots/ with CASEBRIDGE_SCREENSHOTS=1, else tmp."""
    to_docs = os.environ.get("CASEBRIDGE_SCREENSHOTS") == "1"
    target = DOCS_SCREENSHOTS if to_docs else tmp_path / "screenshots"
    target.mkdir(parents=True, exist_ok=True)

    def _shot(page: Page, name: str, *, full_page: bool = True, locator=None) -> Path:
        path = target / f"{name}.png"
        # Fixed, readable captures: no blinking caret, no animation.
        if locator is not None:
            locator.screenshot(path=path, animations="disabled", caret="hide")
        else:
            page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")
        if to_docs:
            _shrink_png(path)
        return path

    return _shot


# --- data the journeys start from ----------------------------------------------------------------


def verified_partnership(*, admin_a, admin_b, agency_a, agency_b, data_types=("hashset", "lead"), max_tlp="AMBER"):
    """NSP and RNP verified both ways with agreements, set up through the services (as an admin
    would in the UI: the admin journey does exactly that through the pages)."""
    from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_verify

    keys_a, keys_b = keys_ensure(agency=agency_a), keys_ensure(agency=agency_b)
    pairs = []
    for admin, own_keys, their_keys in ((admin_a, keys_a, keys_b), (admin_b, keys_b, keys_a)):
        partner = partner_add_from_card(acting_user=admin, card_document=their_keys.card)
        partner_verify(acting_user=admin, partner=partner, signing_fingerprint=their_keys.signing_fingerprint)
        agreement_set(
            acting_user=admin, partner=partner, data_types=list(data_types), max_tlp=max_tlp, requires_approval=False
        )
        pairs.append(partner)
    return pairs


@pytest.fixture
def partners(adam, carl, agency_a, agency_b):
    return verified_partnership(admin_a=adam, admin_b=carl, agency_a=agency_a, agency_b=agency_b)


def import_file(hashset, path):
    """Fill a hash set from a file through the import service (what the import page runs)."""
    from audit.capture import SYSTEM_ACTOR
    from hashsets.services import hashset_import_run, import_job_create

    job = import_job_create(
        acting_user=None, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
    )
    job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    assert job.status == "done", job.error
    return job


def benign_pictures(folder: Path, count: int = 6) -> Path:
    """Small abstract pictures (coloured shapes) made here with Pillow: test material, no imagery."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        image = Image.new("RGB", (96, 96), ((40 * n) % 256, 120, (200 - 25 * n) % 256))
        draw = ImageDraw.Draw(image)
        draw.rectangle((6 + 7 * n, 10, 50 + 5 * n, 80 - 4 * n), fill=((230 - 35 * n) % 256, 190, (30 + 40 * n) % 256))
        draw.ellipse((40, 20 + 6 * n, 90, 70 + 3 * n), fill=(20, (60 + 30 * n) % 256, 140))
        image.save(folder / f"picture-{n}.png")
    return folder


def hash_manifest(folder: Path, out: Path):
    """`manage.py hash_files` in-process: digests of every file, written as a manifest CSV."""
    from hashsets.hashing import hash_tree, write_manifest

    digests = list(hash_tree(folder, workers=1))
    write_manifest(digests, out)
    return sorted(digests, key=lambda d: d.sha256)


def vics_of(digests, *, category: int, series: str | None = None, victim_identified=()) -> list[dict]:
    """VICS 2.0 records for these file digests (MD5 and SHA-1, as partners' files carry them)."""
    records = []
    for n, d in enumerate(digests):
        record = {
            "MediaID": n + 1,
            "Category": category,
            "MD5": d.md5.upper(),
            "SHA1": d.sha1.upper(),
            "VictimIdentified": "true" if n in victim_identified else "false",
            "IsDistributed": True,
        }
        if series:
            record["Series"] = series
        records.append(record)
    return records


@pytest.fixture
def seized(tmp_path, agency_a, agency_b):
    """Six benign pictures "seized" and hashed; NSP knows three of them (one series, one victim
    identified) and RNP, which shares its set with NSP, classifies one of those differently."""
    from hashsets.models import HashSet
    from tests.hashsets.factories import vics2_file

    folder = benign_pictures(tmp_path / "seized")
    manifest = tmp_path / "manifest.csv"
    digests = hash_manifest(folder, manifest)
    known = digests[:3]
    nsp = HashSet.objects.create(owner=agency_a, name="NSP known material")
    import_file(
        nsp,
        vics2_file(tmp_path / "nsp.json", vics_of(known, category=1, series="Series Lantern", victim_identified={0})),
    )
    rnp = HashSet.objects.create(owner=agency_b, name="RNP reference set")
    import_file(rnp, vics2_file(tmp_path / "rnp.json", vics_of(known[1:2], category=0)))
    rnp.shared_with.add(agency_a)
    return {"folder": folder, "manifest": manifest, "digests": digests, "known": known}
