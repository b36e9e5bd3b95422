"""Drives the balancer's stats page in headless Chromium and reads its DOM.

Usage: python3 tests/browser/stats_page.py ADMIN_URL DEAD_BACKEND SCREENSHOT.png

Run by tests/lb_stats_page.rs, which starts a balancer with fifty backends
(one of them, DEAD_BACKEND, refusing connections) under load. Checks that
the page redraws itself from /stats without reloading, shows each
backend's state with the time since it changed, the last check in
HAProxy's words, current and most requests in flight and the request rate,
that its drain, maintenance and ready buttons work, and that fifty rows fit
the window's width. Saves a screenshot. Exits 0 when every check holds.
"""
import re
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

# The longest wait for the page to show an expected state.
WAIT_S = 20
WINDOW = (1400, 1500)


def wait_for(what, check):
    deadline = time.time() + WAIT_S
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as error:  # the table is redrawn under our feet
            last = error
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


# The table read in one go: the page redraws it every refresh, so elements
# found one call earlier may be gone.
READ_TABLE = """
const out = {};
for (const tr of document.querySelectorAll('#backends tr')) {
  const cells = {};
  for (const td of tr.children) if (td.className) cells[td.className] = td.textContent;
  out[tr.dataset.backend] = cells;
}
return out;
"""


def table(driver):
    return driver.execute_script(READ_TABLE)


def text(driver, name, cls):
    return table(driver)[name][cls]


def click(driver, name, action):
    """Clicks a row's button as a user would (the page's own handler runs)."""
    driver.execute_script(
        "document.querySelector(`tr[data-backend='${arguments[0]}'] button.${arguments[1]}`)"
        ".click();", name, action)


def refreshes(driver):
    return int(driver.find_element(By.ID, "status").get_attribute("data-refreshes"))


def main():
    url, dead, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        wait_for("a first refresh", lambda: refreshes(driver) >= 1)
        driver.execute_script("window.notReloaded = 42;")
        first = refreshes(driver)
        wait_for("two more refreshes", lambda: refreshes(driver) >= first + 2)
        assert driver.execute_script("return window.notReloaded;") == 42, "the page reloaded"
        queue = driver.find_element(By.ID, "queue").text
        assert re.match(r"queue: \d+ waiting \(max \d+\), \d+ queued", queue), queue

        names = list(table(driver))
        assert len(names) == 50, f"{len(names)} rows"
        assert dead in names, names
        live = [n for n in names if n != dead]

        wait_for("every live backend's check to pass",
                 lambda: all(re.fullmatch(r"L7OK 200 in \d+ ms", text(driver, n, "check"))
                             for n in live))
        wait_for("the dead backend to be down with a refused check",
                 lambda: text(driver, dead, "state") == "down"
                 and text(driver, dead, "check") == "L4CON refused")
        for name in (live[0], dead):
            assert re.fullmatch(r"\d+s|\d+m\d+s|\d+h\d+m", text(driver, name, "since")), \
                text(driver, name, "since")
        wait_for("a request rate", lambda: sum(
            float(cells["rate"]) for cells in table(driver).values() if cells["rate"] != "-") > 0)
        wait_for("a most-in-flight count",
                 lambda: any(int(text(driver, n, "max")) >= 1 for n in live))
        shown = table(driver)
        for n in live:
            assert int(shown[n]["max"]) >= int(shown[n]["active"]), shown[n]

        target = live[0]
        for action, state in (("drain", "drain"), ("maint", "maint"), ("ready", "up")):
            click(driver, target, action)
            wait_for(f"{target} to be {state}",
                     lambda: text(driver, target, "state") == state)
            assert re.fullmatch(r"\d+s", text(driver, target, "since"))

        width = driver.execute_script(
            "return document.querySelector('table').getBoundingClientRect().width;")
        assert width <= WINDOW[0], f"the table is {width} px wide"
        height = driver.execute_script(
            "return document.querySelector('#backends tr').getBoundingClientRect().height;")
        assert height <= 30, f"a row is {height} px high"
        # Let the rates settle before the picture.
        time.sleep(2.5)
        total = driver.execute_script("return document.body.scrollHeight;")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": WINDOW[0], "height": max(total + 20, 400), "deviceScaleFactor": 1,
            "mobile": False})
        driver.save_screenshot(screenshot)
        print(f"stats page checked: 50 rows, {refreshes(driver)} refreshes, screenshot {screenshot}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
