"""The console end to end: headless Chromium, driven by Selenium through Debian's chromedriver,
against the real gateway under gunicorn on 127.0.0.1.

Skipped with the reason when Chromium, chromedriver or Selenium is missing, unless
GATEWAY_REQUIRE_BROWSER=1 (CI sets it), which turns that into a failure. Screenshots of each
main page are saved under the test's temporary directory, or under GATEWAY_TEST_ARTIFACTS
when set; their folder is printed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.audit.checkpoint import CheckpointKeys
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.console import service
from gateway.oauth import clients
from gateway.oauth.keys import init_keys
from gateway.runtime import Runtime
from tests import factories
from tests.console.conftest import PASSWORD
from tests.server import GunicornServer, rate_limit_store

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# As root in a container, without reaching out to the network on start.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--window-size=1280,1100",
)  # fmt: skip


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            return f"{path} is missing (apt-get install {package})"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    why = _missing()
    if why:
        if os.environ.get("GATEWAY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here: {why}")
        pytest.skip(f"browser tests skipped: {why}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("GATEWAY_TEST_ARTIFACTS")
    folder = Path(configured) / "console" if configured else tmp_path_factory.mktemp("console")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[dict]:
    """A gateway with two resellers, customers who designated them, a few real disclosures
    through the partner API, and a staff account of each role."""
    home = tmp_path_factory.mktemp("console-e2e")
    env = {
        "GATEWAY_DATABASE_URL": f"sqlite:///{home / 'gateway.db'}",
        "GATEWAY_KEYS_DIR": str(home / "keys"),
        "GATEWAY_OPERATOR": "test-operator",
        "GATEWAY_RATE_LIMIT_STORAGE": rate_limit_store(home),
        "GATEWAY_CONTROLLER_ADDRESS": "〒101-0041 東京都千代田区神田須田町2-2-2",
        "GATEWAY_CONTROLLER_REPRESENTATIVE": "代表取締役 見本 太郎",
    }
    clock = SystemClock()
    runtime = Runtime.open(Config(database_url=env["GATEWAY_DATABASE_URL"],
                                  keys_dir=Path(env["GATEWAY_KEYS_DIR"])), clock)  # fmt: skip
    init_keys(runtime.config.keys_dir, int(time.time()))
    CheckpointKeys(runtime.config.keys_dir).init(clock.now().isoformat())  # sealed at start
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme", name="Acme Sales K.K.")
        factories.partner(session, clock, "bolt", name="Bolt Trading K.K.")
        for n in range(1, 4):
            factories.customer(session, clock, f"C-{n}", company_name=f"見本商事{n}株式会社")
        factories.designation(session, clock, "C-1", "acme")
        factories.designation(session, clock, "C-2", "acme")
        factories.designation(session, clock, "C-3", "bolt")
        acme, secret = clients.add_client(session, clock, factories.OPERATOR, partner_id="acme",
                                          scopes="customers:contact", with_secret=True,
                                          sender_constraint="none")  # fmt: skip
        acme_id = acme.client_id
        service.add_staff(session, clock, factories.OPERATOR, name="desk",
                          role="privacy_desk", password=PASSWORD)  # fmt: skip
        service.add_staff(session, clock, factories.OPERATOR, name="ops",
                          role="operator", password=PASSWORD)  # fmt: skip
    runtime.close()
    server = GunicornServer.start(env, home / "gunicorn.log", workers=2)
    try:
        issued = requests.post(server.base_url + "/oauth/token",
                               data={"grant_type": "client_credentials"},
                               auth=(acme_id, secret), timeout=30)  # fmt: skip
        token = issued.json()["access_token"]
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        for path in ("/v1/customers/C-1", "/v1/customers/C-2", "/v1/customers/C-3"):
            api.get(server.base_url + path, params={"purpose": "inquiry_response"}, timeout=30)
        yield {"url": server.base_url, "api": api}
    finally:
        server.stop()


def _open(driver, url: str) -> None:
    driver.get(url)


def _sign_in(driver, base: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    _open(driver, base + "/console/login")
    _find(driver, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    _find(driver, "logout")
    assert driver.current_url == base + "/console/", driver.page_source[:500]


def _find(driver, element_id: str):
    """The element, once the page that has it has loaded (a click's navigation may still be
    under way when the click returns)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )


def _heading(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), text)
    )


def _wait_url(driver, fragment: str) -> None:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(expected_conditions.url_contains(fragment))


def _shot(driver, folder: Path, name: str) -> None:
    """The whole page: the window is stretched to the document's height for the picture."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(1100, min(int(height) + 140, 6000)))
    try:
        assert driver.save_screenshot(str(folder / f"{name}.png"))
    finally:
        driver.set_window_size(1280, 1100)


def test_privacy_desk_filters_the_log_opens_a_report_and_signs_out(browser, gateway, artefacts):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, base = browser, gateway["url"]
    _sign_in(driver, base, "desk")
    _shot(driver, artefacts, "home-privacy-desk")
    driver.find_element(By.PARTIAL_LINK_TEXT, "Access log").click()
    Select(_find(driver, "partner")).select_by_visible_text("Acme Sales K.K. (acme)")
    Select(driver.find_element(By.ID, "action")).select_by_visible_text("customers.read")
    Select(driver.find_element(By.ID, "outcome")).select_by_visible_text("allowed")
    driver.find_element(By.ID, "filter").click()
    _wait_url(driver, "partner=acme")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.log tbody tr")
    assert len(rows) == 2, driver.page_source[-3000:]  # C-1 and C-2; C-3 was refused
    assert all("customers.read" in row.text for row in rows)
    assert "partner=acme" in driver.current_url
    _shot(driver, artefacts, "log-filtered")

    driver.find_element(By.PARTIAL_LINK_TEXT, "Customer report").click()
    _find(driver, "customer_id").send_keys("c-1")  # mistyped: never a clean zero
    driver.find_element(By.ID, "open-report").click()
    assert "no customer 'c-1' is known" in _find(driver, "unknown-subject").text
    _shot(driver, artefacts, "customer-report-unknown-id")
    driver.find_element(By.CSS_SELECTOR, "a.suggestion").click()  # did you mean C-1?
    report = _find(driver, "report-title").find_element(By.XPATH, "..").text
    assert "Acme Sales K.K." in report and "見本商事1株式会社" in report
    assert "迅速かつ適切に対応するため" in report  # the purpose in the notice's words
    letter = _find(driver, "letter").text
    assert letter.startswith("見本商事1株式会社") and "Acme Sales K.K." in letter
    _shot(driver, artefacts, "customer-report")

    driver.find_element(By.PARTIAL_LINK_TEXT, "Leak sizing").click()
    Select(_find(driver, "partner")).select_by_visible_text("Acme Sales K.K. (acme)")
    learnt = driver.find_element(By.ID, "learnt_on")
    learnt.clear()
    learnt.send_keys("2026-04-10")
    driver.find_element(By.ID, "unlawful_purpose").click()
    driver.find_element(By.ID, "size-leak").click()
    assert _find(driver, "persons").text == "2"
    reportable = _find(driver, "reportable").text
    assert "2026-04-13" in reportable and "2026-06-09" in reportable  # 60 days: theft
    assert "format=csv" in _find(driver, "csv").get_attribute("href")
    _shot(driver, artefacts, "breach-report")

    driver.find_element(By.PARTIAL_LINK_TEXT, "Anomalies").click()
    flag = _find(driver, "flags").find_element(By.CSS_SELECTOR, "tr[id^='first_load-']")
    assert "acme" in flag.text  # acme's first sync: labelled, not a volume anomaly
    flag.find_element(By.TAG_NAME, "textarea").send_keys("the initial sync, as agreed")
    flag.find_element(By.CSS_SELECTOR, "button.mark-reviewed").click()
    assert _find(driver, "review-saved").text
    reviewed = driver.find_element(By.CSS_SELECTOR, "tr.reviewed").text
    assert "staff:desk" in reviewed and "the initial sync, as agreed" in reviewed
    _shot(driver, artefacts, "anomalies")
    driver.find_element(By.PARTIAL_LINK_TEXT, "Verification").click()
    assert "entries 1–" in _find(driver, "sealed").text  # sealed from the start
    driver.find_element(By.ID, "verify-now").click()
    assert "Intact" in _find(driver, "result-title").text
    assert "staff:desk" in _find(driver, "last-verification").text
    _shot(driver, artefacts, "verification")

    driver.find_element(By.ID, "logout").click()
    _wait_url(driver, "/console/login")
    _open(driver, base + "/console/log")
    _wait_url(driver, "/console/login")  # signed out: the log is closed


def test_privacy_desk_cannot_revoke(browser, gateway, artefacts):
    from selenium.webdriver.common.by import By

    driver, base = browser, gateway["url"]
    _sign_in(driver, base, "desk")
    driver.find_element(By.PARTIAL_LINK_TEXT, "Resellers").click()
    assert not driver.find_elements(By.ID, "revoke-acme")
    _open(driver, base + "/console/resellers/acme/revoke")
    _heading(driver, "Not allowed")
    _shot(driver, artefacts, "refused-role")
    assert gateway["api"].get(base + "/v1/customers/C-1", params={
        "purpose": "inquiry_response"}, timeout=30).status_code == 200  # fmt: skip


def test_a_form_posted_without_its_csrf_token_is_refused(browser, gateway, artefacts):
    from selenium.webdriver.common.by import By

    driver, base = browser, gateway["url"]
    _sign_in(driver, base, "ops")
    _open(driver, base + "/console/resellers/bolt/revoke")
    _find(driver, "reason").send_keys("testing the form's token")
    driver.execute_script(
        "document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())"
    )
    driver.find_element(By.ID, "continue").click()
    _heading(driver, "Form refused")
    _shot(driver, artefacts, "refused-csrf")
    _open(driver, base + "/console/resellers")
    assert "active" in _find(driver, "reseller-bolt").text


def test_operator_revokes_a_reseller_and_its_next_call_is_refused(browser, gateway, artefacts):
    from selenium.webdriver.common.by import By

    driver, base, api = browser, gateway["url"], gateway["api"]
    url = base + "/v1/customers/C-1"
    assert api.get(url, params={"purpose": "service_contact"}, timeout=30).status_code == 200
    _sign_in(driver, base, "ops")
    assert not driver.find_elements(
        By.PARTIAL_LINK_TEXT, "Access log"
    )  # operators do not read the log
    driver.find_element(By.PARTIAL_LINK_TEXT, "Resellers").click()
    assert "in force" in _find(driver, "reseller-acme").text
    _shot(driver, artefacts, "resellers")
    driver.find_element(By.ID, "revoke-acme").click()
    _find(driver, "reason").send_keys("suspected leak")
    driver.find_element(By.ID, "continue").click()
    _shot(driver, artefacts, "revoke-confirm")
    assert api.get(url, params={"purpose": "service_contact"}, timeout=30).status_code == 200
    _find(driver, "confirm").click()
    driver.find_element(By.ID, "confirm-revoke").click()
    assert "acme" in _find(driver, "revoked-notice").text
    assert "revoked" in _find(driver, "reseller-acme").text
    _shot(driver, artefacts, "resellers-after-revoke")
    refused = api.get(url, params={"purpose": "service_contact"}, timeout=30)
    assert refused.status_code == 401
    driver.find_element(By.ID, "logout").click()
    _wait_url(driver, "/console/login")


def test_public_notice_needs_no_sign_in(browser, gateway, artefacts):

    driver, base = browser, gateway["url"]
    driver.delete_all_cookies()
    _open(driver, base + "/joint-use")
    assert "氏名" in driver.page_source
    users = _find(driver, "joint-users").text
    assert "Bolt Trading K.K." in users
    assert "Acme Sales K.K." not in users  # revoked above
    assert "東京都千代田区神田須田町2-2-2" in _find(driver, "controller-address").text
    assert "代表取締役 見本 太郎" in _find(driver, "controller-representative").text
    assert _find(driver, "published-on").text
    _shot(driver, artefacts, "joint-use-notice")


def test_a_missing_browser_is_named(monkeypatch):
    import tests.console.test_browser as module

    pytest.importorskip("selenium")
    monkeypatch.setattr(module, "CHROMEDRIVER", "/nonexistent/chromedriver")
    assert module._missing() == (
        "/nonexistent/chromedriver is missing (apt-get install chromium-driver)"
    )
