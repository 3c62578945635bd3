"""The built site in a real headless Chromium: sorting, filtering, evidence links, CSP, hostile card."""

from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_site_reports import HOSTILE

pytestmark = pytest.mark.browser


def _problems(driver) -> list[str]:
    """Console errors and warnings since the last call (CSP violations are reported here)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def _open(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _models(driver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    return [r.find_element(By.CSS_SELECTOR, "th.model a").text for r in rows if r.is_displayed()]


def test_the_csp_is_enforced_and_its_violations_would_be_seen(browser, base_url):
    _open(browser, base_url + "index.html")
    _problems(browser)
    ran = browser.execute_script(
        "window.__inline = false;"
        "var s = document.createElement('script'); s.textContent = 'window.__inline = true;';"
        "document.body.appendChild(s); return window.__inline;"
    )
    assert ran is False
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while not any("Content Security Policy" in m for m in seen) and time.monotonic() < deadline:
        seen += _problems(browser)  # the console log arrives asynchronously
        time.sleep(0.05)
    assert any("Content Security Policy" in message for message in seen)


@pytest.mark.parametrize(
    "page",
    [
        "index.html",
        "models/allenai/OLMo-7B.html",
        "models/hfl/chinese-llama-2-7b.html",
        "models/evil/hostile-card.html",
        "lineage.html",
        "compare.html?m=allenai/OLMo-7B&m=01-ai/Yi-6B",
        "rubrics/osai-v3.html",
    ],
)
def test_pages_load_without_console_errors_or_csp_violations(browser, base_url, page):
    _problems(browser)
    _open(browser, base_url + page)
    assert _problems(browser) == []
    assert browser.execute_script("return window.__pwned === undefined")  # no card payload ran anywhere


def test_a_badge_is_a_well_formed_svg_image(browser, base_url):
    _open(browser, base_url + "badges/allenai/OLMo-7B.svg")
    assert browser.execute_script("return document.documentElement.namespaceURI") == "http://www.w3.org/2000/svg"
    assert [t.text for t in browser.find_elements(By.CSS_SELECTOR, "text")][1::2] == ["openness", "96% \u00b7 MOF I"]


def test_sorting_a_column_reorders_the_rows(browser, base_url):
    _open(browser, base_url + "index.html")
    default = _models(browser)
    assert default[:2] == ["evil/hostile-card", "allenai/OLMo-7B"]
    model_header = browser.find_element(By.XPATH, "//table[@id='leaderboard']/thead//th[button[normalize-space()='Model']]")
    model_header.find_element(By.TAG_NAME, "button").click()
    assert _models(browser) == sorted(default, key=str.lower)
    assert model_header.get_attribute("aria-sort") == "ascending"
    model_header.find_element(By.TAG_NAME, "button").click()
    assert _models(browser) == sorted(default, key=str.lower, reverse=True)
    rank_header = browser.find_element(By.XPATH, "//table[@id='leaderboard']/thead//th[1]")
    rank_header.find_element(By.TAG_NAME, "button").click()  # ascending -> descending
    rank_header.find_element(By.TAG_NAME, "button").click()  # back to rank order
    assert _models(browser) == default


def test_filters_hide_rows_and_keep_the_choice_in_the_address(browser, base_url):
    _open(browser, base_url + "index.html")
    search = browser.find_element(By.ID, "filter-q")
    assert search.is_displayed()  # the form is revealed by the script
    search.send_keys("llama-2")
    assert _models(browser) == ["hfl/chinese-llama-2-7b", "meta-llama/Llama-2-7b-hf", "lmsys/vicuna-7b-v1.5"]
    assert browser.find_element(By.ID, "filter-count").text == "3 of 7 models"
    Select(browser.find_element(By.ID, "filter-verdict")).select_by_value("derived")
    assert _models(browser) == ["lmsys/vicuna-7b-v1.5"]
    assert "q=llama-2" in browser.current_url and "verdict=derived" in browser.current_url
    _open(browser, base_url + "index.html?osaid=pass")
    assert _models(browser) == ["evil/hostile-card", "allenai/OLMo-7B"]


def test_a_cell_leads_to_its_evidence(browser, base_url):
    _open(browser, base_url + "index.html")
    cell = browser.find_element(By.CSS_SELECTOR, 'a[href="models/hfl/chinese-llama-2-7b.html#osai-v3--trainingcode"]')
    cell.click()
    assert browser.current_url.endswith("models/hfl/chinese-llama-2-7b.html#osai-v3--trainingcode")
    target = browser.find_element(By.ID, "osai-v3--trainingcode")
    assert browser.execute_script("return document.querySelector(':target') === arguments[0]", target)
    assert target.is_displayed()
    assert "rule osai-v3/trainingcode" in target.text
    assert target.find_element(By.CSS_SELECTOR, "a.ext").get_attribute("href").startswith("https://huggingface.co/hfl/")


def test_compare_shows_only_the_chosen_models(browser, base_url):
    _open(browser, base_url + "compare.html?m=allenai/OLMo-7B&m=01-ai/Yi-6B&m=not/audited")
    shown = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#compare thead th[data-model]") if th.is_displayed()]
    assert shown == ["01-ai/Yi-6B", "allenai/OLMo-7B"]
    assert Select(browser.find_elements(By.CSS_SELECTOR, "#compare-form select")[0]).first_selected_option.text == "allenai/OLMo-7B"


def test_the_hostile_card_renders_inert(browser, base_url):
    _problems(browser)
    _open(browser, base_url + "models/evil/hostile-card.html")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    assert browser.execute_script("return Array.from(document.scripts).map(s => s.getAttribute('src'))") == []
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('[href]')).map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if "javascript" in h.lower()]
    unlinked = browser.find_elements(By.CSS_SELECTOR, "span.unlinked")
    assert unlinked and all(span.tag_name == "span" for span in unlinked)
    unlinked[0].click()  # a neutralised link goes nowhere
    assert browser.current_url.endswith("models/evil/hostile-card.html")
    assert browser.execute_script("return window.__pwned === undefined")
    assert HOSTILE in browser.find_element(By.ID, "provenance").text  # the payload is shown as text
    assert _problems(browser) == []


def test_without_javascript_the_pages_still_work(browser, base_url):
    """The scripts blocked from loading, as for a reader with JavaScript off or a strict proxy."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*.js"]})
    try:
        _open(browser, base_url + "index.html?q=olmo")
        assert not browser.find_element(By.ID, "filters").is_displayed()  # no half-working controls
        assert _models(browser)[:2] == ["evil/hostile-card", "allenai/OLMo-7B"] and len(_models(browser)) == 7
        assert browser.find_elements(By.CSS_SELECTOR, "#leaderboard thead button") == []
        _open(browser, base_url + "compare.html?m=allenai/OLMo-7B")
        shown = [th for th in browser.find_elements(By.CSS_SELECTOR, "#compare thead th[data-model]") if th.is_displayed()]
        assert len(shown) == 7  # the fallback: every model side by side
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        browser.execute_cdp_cmd("Network.disable", {})
        browser.get_log("browser")  # the blocked scripts' errors belong to this test only
