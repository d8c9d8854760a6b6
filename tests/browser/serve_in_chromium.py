#!/usr/bin/python3
"""`worldloop serve` in a real browser: Debian's headless Chromium, driven by
Selenium through chromium-driver.

  serve_in_chromium.py WORLDLOOP_EXE SCREENSHOT.png

Starts `worldloop serve --port 0 --token ...` on the default world, checks
that the page and the socket refuse a missing token, loads the page, and then
checks that frames arrive and change, that held keys reach the world (the
frames come back stamped with them) and move the picture, that a typed prompt
becomes the world's prompt, and that the HUD and the cache chart are filled.
Screenshots the page. Exit 0: passed; 77: no Chromium or Selenium here."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    print("SKIP: python3-selenium is not installed")
    sys.exit(77)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "browser-test-token"
LOOK_LEFT = 1 << 6
FORWARD = 1 << 0


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def wait_for(driver, script, what, timeout=90.0):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    fail("timed out after %.0f s waiting for %s (page state: %s)" %
         (timeout, what, driver.execute_script("return JSON.stringify({c: wl.connected, f: wl.frames, "
                                               "s: wl.status && wl.status.frame, k: wl.lastKeys})")))


def mean_abs_diff(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / max(1, len(a))


def main():
    exe, shot = sys.argv[1], sys.argv[2]
    for f in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(f):
            print("SKIP: %s is not installed (chromium, chromium-driver)" % f)
            sys.exit(77)
    config = os.path.join(tempfile.mkdtemp(prefix="wl_serve_browser_"), "play.json")  # the defaults, not ~/.config
    server = subprocess.Popen([exe, "serve", "--port", "0", "--token", TOKEN, "--seed", "3", "--config", config],
                              stderr=subprocess.PIPE, text=True)
    lines = []
    url = None
    # The server's stderr, drained all along (a full pipe would stall it).
    got_url = threading.Event()

    def drain():
        nonlocal url
        for line in server.stderr:
            lines.append(line.rstrip())
            print("  server: " + line.rstrip(), flush=True)
            m = re.search(r"open (http://\S+)", line)
            if m and not url:
                url = m.group(1)
                got_url.set()

    threading.Thread(target=drain, daemon=True).start()
    driver = None
    try:
        if not got_url.wait(120):
            fail("the server printed no address")
        base = url.split("?")[0]
        # No token: the page and the socket are refused.
        for path in ("", "ws"):
            try:
                urllib.request.urlopen(base + path, timeout=10)
                fail("GET /%s without the token was served" % path)
            except urllib.error.HTTPError as e:
                if e.code != 403:
                    fail("GET /%s without the token: HTTP %d, expected 403" % (path, e.code))

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1000,900", "--hide-scrollbars"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.set_script_timeout(30)
        driver.get(url)
        wait_for(driver, "return wl.hello && wl.frames >= 10", "10 frames on the page")
        hello = driver.execute_script("return wl.hello")
        if hello["width"] <= 0 or not hello["action_keys"].get("ArrowLeft") == "look_left":
            fail("the hello has no size or no ArrowLeft binding: %r" % hello)
        print("page: %d frames, world %dx%d, %s" % (driver.execute_script("return wl.frames"), hello["width"],
                                                    hello["height"], hello["compute"]), flush=True)

        # Frames keep arriving, in order.
        s0 = driver.execute_script("return wl.lastSeq")
        wait_for(driver, "return wl.lastSeq >= %d" % (s0 + 10), "10 more frames")

        # Held keys reach the world and move the picture.
        view = driver.find_element(By.ID, "view")
        view.click()
        before = driver.execute_script("return wl.pixels()")
        ActionChains(driver).key_down(Keys.ARROW_LEFT).perform()
        wait_for(driver, "return (wl.lastKeys & %d) != 0" % LOOK_LEFT, "a frame made with look_left held")
        s1 = driver.execute_script("return wl.lastSeq")
        wait_for(driver, "return wl.lastSeq >= %d && (wl.lastKeys & %d) != 0" % (s1 + 12, LOOK_LEFT),
                 "12 more frames made with look_left held")
        turned = driver.execute_script("return wl.pixels()")
        ActionChains(driver).key_up(Keys.ARROW_LEFT).perform()
        wait_for(driver, "return wl.lastKeys == 0", "frames made with no key held after the release")
        moved = mean_abs_diff(before, turned)
        print("looking left moved the picture by %.1f levels per channel on average" % moved, flush=True)
        if moved < 4.0:
            fail("holding look_left barely changed the picture (%.2f levels)" % moved)
        ActionChains(driver).key_down("w").perform()
        wait_for(driver, "return (wl.lastKeys & %d) != 0" % FORWARD, "a frame made with forward (W) held")
        ActionChains(driver).key_up("w").perform()
        wait_for(driver, "return wl.lastKeys == 0", "frames with W released")

        # A typed prompt becomes the world's.
        prompt = hello["presets"][1] if len(hello["presets"]) > 1 else "snowy forest"
        box = driver.find_element(By.ID, "prompt")
        box.send_keys(prompt)
        box.send_keys(Keys.ENTER)
        wait_for(driver, "return wl.status && wl.status.prompt == %r" % prompt, "the prompt '%s' in force" % prompt)

        # The HUD and the chart.
        status = driver.execute_script("return wl.status")
        for key in ("denoise_ms", "cache", "world_fps"):
            if key not in status:
                fail("the status has no %s: %r" % (key, status))
        hud = driver.find_element(By.ID, "cache").text
        if "frames" not in hud:
            fail("the HUD shows no cache: %r" % hud)
        wait_for(driver, "return document.getElementById('denoise').textContent.endsWith('ms')", "the HUD's numbers")
        time.sleep(2)  # a few more chunks in the chart
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(shot)
        print("screenshot: " + shot, flush=True)
    finally:
        if driver:
            driver.quit()
        server.send_signal(signal.SIGINT)
        try:
            rc = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            fail("the server did not stop within 30 s of SIGINT")
    time.sleep(0.2)
    if rc != 0:
        fail("the server exited with %d" % rc)
    summary = [l for l in lines if "connections" in l]
    if not summary:
        fail("the server printed no summary")
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
