"""The search master's pages in a real browser (headless Chromium through
Selenium): upload a file, type keywords, watch progress and the counts
arrive (the form posted as multipart/form-data), paste text with an
option, then add and deactivate a worker on /hosts.

Run by tests/search_browser.rs:
    search_browser.py MASTER_ADDR EXTRA_WORKER_ADDR TEXT_FILE KEYWORDS EXPECTED_JSON
"""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 60


def browser():
    options = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def search_page(driver, master, text_file, keywords, expected):
    driver.get(f"http://{master}/")
    driver.find_element(By.ID, "file").send_keys(text_file)
    driver.find_element(By.ID, "keywords").send_keys(keywords)
    driver.find_element(By.ID, "go").click()
    seen_progress = set()

    def finished(d):
        value, state = d.execute_script(
            "return [document.getElementById('progress').value, document.getElementById('job-state').textContent];"
        )
        seen_progress.add(value)
        return state in ("done", "failed")

    WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(finished)
    assert driver.find_element(By.ID, "job-state").text == "done", driver.find_element(By.ID, "error").text
    progress = driver.find_element(By.ID, "progress")
    assert progress.get_attribute("value") == progress.get_attribute("max"), "the bar is full at the end"
    assert "chunks" in driver.find_element(By.ID, "progress-text").text
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('#counts tbody tr'), r => [r.cells[0].textContent, r.cells[1].textContent]);"
    )
    counts = {keyword: int(count) for keyword, count in rows}
    assert counts == expected, f"{counts} != {expected}"
    workers = driver.execute_script("return document.querySelectorAll('#workers tbody tr').length;")
    assert workers >= 1, "a per-worker row"
    # The finished job is listed among the past jobs, pushed by the events.
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.execute_script(
            "return Array.from(document.querySelectorAll('#jobs tbody tr')).some(r => r.cells[1].textContent === 'done');"
        )
    )
    # The bar moved while the job ran, pushed by the event stream.
    assert len(seen_progress) >= 2, f"progress seen only as {seen_progress}"
    print(f"progress values seen: {sorted(seen_progress)}")


def pasted_text(driver, master):
    """Pasted text and the case-sensitive option, sent as form fields."""
    driver.get(f"http://{master}/")
    driver.find_element(By.ID, "text").send_keys("Lord lord LORD lordly, lord.")
    driver.find_element(By.ID, "keywords").send_keys("lord")
    driver.find_element(By.ID, "case").click()
    driver.find_element(By.ID, "go").click()
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_element(By.ID, "job-state").text in ("done", "failed")
    )
    assert driver.find_element(By.ID, "job-state").text == "done", driver.find_element(By.ID, "error").text
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('#counts tbody tr'), r => [r.cells[0].textContent, r.cells[1].textContent]);"
    )
    assert rows == [["lord", "2"]], rows


def hosts_page(driver, master, extra_worker):
    driver.get(f"http://{master}/hosts")
    driver.find_element(By.ID, "addr").send_keys(extra_worker)
    driver.find_element(By.ID, "add-button").click()
    row_selector = f"#hosts tbody tr[data-addr='{extra_worker}']"

    def cells(d):
        # The table is redrawn on every event: read a row in one step.
        return d.execute_script(
            "const row = document.querySelector(arguments[0]);"
            "return row && Array.from(row.cells, c => c.textContent);",
            row_selector,
        )

    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: (cells(d) or [None, None])[1] == "up")
    assert cells(driver)[2] == "active"

    def click_deactivate(d):
        try:
            d.find_element(By.CSS_SELECTOR, row_selector).find_element(
                By.XPATH, ".//button[text()='Deactivate']"
            ).click()
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False

    WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(click_deactivate)
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: (cells(d) or [None] * 3)[2] == "inactive")


def main():
    master, extra_worker, text_file, keywords, expected = sys.argv[1:6]
    driver = browser()
    try:
        search_page(driver, master, text_file, keywords, json.loads(expected))
        pasted_text(driver, master)
        hosts_page(driver, master, extra_worker)
    finally:
        driver.quit()
    print("browser checks passed")


if __name__ == "__main__":
    main()
