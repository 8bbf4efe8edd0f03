//! The dashboard in a real browser: Debian's Chromium, driven through
//! WebDriver (chromedriver) by a small client of our own (plain HTTP and
//! JSON). Against a loopback cluster (`prophet run kv --dashboard`) it loads
//! the cluster page, sees every node and link, injects a partition as the
//! operator and sees it on the page, sees a decision appear, and sees the
//! node a scheduled crash killed shown down; against
//! `prophet view` of a check report it steps through the Paxos
//! counterexample; it also opens the simulation, steering and decision-log
//! pages. Screenshots go to `target/dashboard-screenshots/` (test output),
//! or to `$PROPHET_SCREENSHOTS` (the guide's, made by the explicit command
//! `PROPHET_SCREENSHOTS=docs/src/img cargo test -p prophet-cli --test
//! dashboard_browser`).
//!
//! Without chromium and chromedriver the test says SKIPPED with the reason;
//! `PROPHET_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs both)
//! turns that into a failure.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any one wait for the page lasts.
const WAIT: Duration = Duration::from_secs(30);

/// A child process killed when dropped, so a failing test leaves nothing.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 exchange with `addr` (a WebDriver server): JSON in, JSON out.
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // Read the head, then exactly Content-Length bytes: chromedriver keeps
    // the connection open whatever the request says.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if n == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| format!("{method} {path}: no Content-Length in {head:?}"))?;
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let payload = String::from_utf8_lossy(&body).into_owned();
    let value: Value = serde_json::from_str(&payload)
        .map_err(|e| format!("{method} {path}: {e} in {payload:?}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{method} {path}: {head}: {value}"));
    }
    Ok(value["value"].clone())
}

/// Standard base64, as WebDriver sends screenshots.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// A browser session.
struct Browser {
    driver: String,
    session: String,
    shots: PathBuf,
}

impl Browser {
    fn start(driver: &str, chromium: &Path, shots: PathBuf) -> Result<Browser, String> {
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"],
            },
        } } });
        let value = http(driver, "POST", "/session", Some(&capabilities))?;
        let session = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {value}"))?
            .to_string();
        Ok(Browser {
            driver: driver.to_string(),
            session,
            shots,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        http(&self.driver, method, &path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Loads `url` afresh (a change of fragment alone would not reload).
    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": "about:blank" })));
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    fn until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script);
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                started.elapsed() < WAIT,
                "waited {WAIT:?} for {what}; the page says: {}",
                self.js("return document.body.innerText.slice(0, 1500)")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, selector: &str) {
        let found = self.call(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": selector })),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {selector}: {found}"))
            .to_string();
        self.call("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    fn screenshot(&self, name: &str) {
        let png = base64(
            self.call("GET", "/screenshot", None)
                .as_str()
                .unwrap_or_default(),
        );
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        let file = self.shots.join(format!("{name}.png"));
        std::fs::write(&file, png).expect("screenshot written");
        eprintln!("screenshot: {}", file.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            &self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Starts `prophet ARGS` and returns it with the URL it prints on a line
/// starting `dashboard: `.
fn dashboard(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prophet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("prophet starts");
    let stdout = child.stdout.take().expect("piped");
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("prophet printed its dashboard link")
            .expect("utf-8");
        if let Some(url) = line.strip_prefix("dashboard: ") {
            break url.to_string();
        }
    };
    // Keep reading (and discarding) what it prints, so it never blocks.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// Writes what `prophet ARGS` prints to `dir/name`; the command must finish
/// (exit 0, or 1 for a check that found its violation).
fn write(dir: &Path, name: &str, args: &[&str]) -> String {
    let output = common::prophet(args);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "prophet {args:?} failed: {}",
        common::stderr(&output)
    );
    let file = dir.join(name);
    std::fs::write(&file, &output.stdout).expect("written");
    file.display().to_string()
}

#[test]
fn the_dashboard_shows_a_live_cluster_and_steps_through_a_counterexample_in_chromium() {
    let (Some(chromium), Some(driver)) = (
        which(&["chromium", "chromium-browser"]),
        which(&["chromedriver"]),
    ) else {
        let reason = "chromium and chromedriver are not installed \
                      (apt-get install chromium chromium-driver)";
        if std::env::var_os("PROPHET_REQUIRE_BROWSER").is_some() {
            panic!("a browser is required (PROPHET_REQUIRE_BROWSER) but unavailable: {reason}");
        }
        eprintln!("SKIPPED: {reason}");
        return;
    };
    // A relative PROPHET_SCREENSHOTS is taken from the workspace's root
    // (tests run in the crate's directory).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shots = root.join(
        std::env::var_os("PROPHET_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/dashboard-screenshots")),
    );
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let work = std::env::temp_dir().join(format!("prophet-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work directory");

    // The artifacts `prophet view` shows.
    let check = write(
        &work,
        "check.json",
        &[
            "check",
            "paxos",
            "--param",
            "variant=ignore-accepted",
            "--json",
        ],
    );
    let sim = write(
        &work,
        "sim.json",
        &[
            "sim",
            "kv",
            "--policy",
            "kv.read_replica=c3,random",
            "--seeds",
            "2",
            "--json",
        ],
    );
    let steered = write(
        &work,
        "steered.json",
        &[
            "sim",
            "chord",
            "-p",
            "variant=unchecked-notify",
            "-p",
            "nodes=8",
            "--seeds",
            "2",
            "--check-every",
            "1",
            "--steer",
            "--json",
        ],
    );
    let log = work.join("decisions.jsonl").display().to_string();
    let models = work.join("models.json").display().to_string();
    let logged = common::prophet(&[
        "sim",
        "kv",
        "--policy",
        "kv.read_replica=prophet",
        "--seeds",
        "1",
        "--horizon",
        "10s",
        "--decisions",
        &log,
        "--model-out",
        &models,
        "--json",
    ]);
    assert!(logged.status.success(), "{}", common::stderr(&logged));

    let port = prophet_runtime::ports::free_port().expect("a free port");
    let mut chromedriver = Command::new(&driver);
    chromedriver
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _chromedriver = Killed(chromedriver.spawn().expect("chromedriver starts"));
    let driver_addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while http(&driver_addr, "GET", "/status", None).is_err() {
        assert!(started.elapsed() < WAIT, "chromedriver did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    let browser = Browser::start(&driver_addr, &chromium, shots).expect("a browser session");

    // A live cluster: three processes of the key-value store.
    let dir = work.join("cluster");
    let dir_text = dir.display().to_string();
    let (_run, live) = dashboard(&[
        "run",
        "kv",
        "--nodes",
        "3",
        "--rate",
        "50",
        "--duration",
        "120s",
        "--dir",
        &dir_text,
        "--policy",
        "kv.read_replica=random",
        "--dashboard",
        // Replica 2 (alone in its process) is killed at 25 s and stays down.
        "--crash",
        "node=2,at=25s",
    ]);
    browser.open(&live);
    // Every node up, and links between them.
    let shown = browser.until(
        "every node up",
        "const rows = [...document.querySelectorAll('#nodes tr[id^=node-]')];
         return rows.length > 0 && rows.every(r => r.children[1].textContent === 'up') ? rows.length : 0;",
    );
    let node_count = shown.as_u64().expect("a count");
    assert!(node_count >= 3, "{node_count} nodes shown");
    browser.until(
        "the links, connected",
        "return [...document.querySelectorAll('#links tr[id^=link-]')]
           .filter(r => r.children[1].textContent === 'connected').length >= 2",
    );
    browser.until(
        "a measured RTT",
        "return [...document.querySelectorAll('#links tr[id^=link-]')]
           .some(r => r.children[2].textContent !== '–')",
    );
    browser.until(
        "the topology drawn",
        "return document.querySelectorAll('#topology circle').length",
    );
    browser.screenshot("cluster");

    // The observer may not inject faults; the operator may.
    let observer_view = browser.js("return document.getElementById('faults').innerText");
    assert!(
        observer_view
            .as_str()
            .is_some_and(|t| t.contains("needs the operator token")),
        "{observer_view}"
    );
    let config = dir.join("cluster.toml").display().to_string();
    let operator = common::stdout(&common::prophet(&[
        "http-token",
        "--config",
        &config,
        "--tier",
        "operator",
    ]));
    let base = live.split("/ui/").next().expect("a base URL").to_string();
    browser.open(&format!("{base}/ui/#token={}", operator.trim()));
    browser.until(
        "signed in as operator",
        "return document.getElementById('who').textContent.includes('operator')",
    );
    browser.until(
        "the fault form",
        "return document.getElementById('fault-form') !== null",
    );
    browser.js("document.getElementById('fault-from').value = '0';
         document.getElementById('fault-to').value = '1';
         document.getElementById('fault-cut').checked = true;");
    browser.click("#fault-add");
    browser.until(
        "the partition shown",
        "const row = document.getElementById('link-0-1');
         const rules = document.querySelector('table#fault-rules');
         return row && row.children[7].textContent.includes('cut') && rules
           && rules.innerText.includes('yes')",
    );
    browser.screenshot("cluster-fault");
    browser.click("#fault-clear");
    browser.until(
        "the partition lifted",
        "return document.querySelector('p#fault-rules') !== null",
    );

    browser.open(&format!("{base}/ui/#decisions"));
    browser.until(
        "a decision",
        "return document.querySelectorAll('#decisions tr.decision').length",
    );
    browser.screenshot("decisions-live");
    browser.open(&format!("{base}/ui/#objectives"));
    browser.until(
        "an objective charted",
        "return document.querySelector('#objective-0 polyline') !== null",
    );
    browser.screenshot("objectives");
    browser.open(&format!("{base}/ui/#models"));
    browser.until(
        "a live node's learned candidates",
        "return document.querySelectorAll('#model-candidates-0 tr').length > 1",
    );

    // The supervisor's kill shows: node 2 down, the others up, one crash.
    browser.open(&format!("{base}/ui/#cluster"));
    browser.until(
        "node 2 down after the scheduled crash",
        "const row = document.getElementById('node-2');
         return row && row.children[1].textContent === 'down'
           && document.getElementById('summary').textContent.includes('crashes 1')",
    );
    let others = browser.js("return ['node-0', 'node-1', 'node-3']
           .every(id => document.getElementById(id).children[1].textContent === 'up')");
    assert_eq!(others, true);
    browser.screenshot("cluster-crash");

    // Offline: the counterexample, stepped forward and back.
    let (_view, offline) = dashboard(&[
        "view",
        &check,
        &sim,
        &steered,
        &log,
        &models,
        "--duration",
        "300s",
    ]);
    browser.open(&offline);
    browser.until(
        "signed in to the viewer",
        "return document.getElementById('who').textContent.includes('observer')",
    );
    let offline_base = offline
        .split("/ui/")
        .next()
        .expect("a base URL")
        .to_string();
    browser.open(&format!("{offline_base}/ui/#counterexample"));
    browser.until(
        "the sequence chart",
        "return document.querySelector('svg#sequence-chart') !== null",
    );
    let label = browser.js("return document.getElementById('step-label').textContent.trim()");
    assert_eq!(label, "step 0 of 18");
    // Seven lanes (two clients, two proposers, three acceptors), and an
    // arrow for each delivered message.
    let lanes = browser.js("return document.querySelectorAll('#sequence-chart .lane').length");
    assert_eq!(lanes, 7);
    for _ in 0..3 {
        browser.click("#step-forward");
    }
    let label = browser.js("return document.getElementById('step-label').textContent.trim()");
    assert_eq!(label, "step 3 of 18");
    let description = browser.js("return document.getElementById('step-description').textContent");
    assert!(
        description.as_str().is_some_and(|d| d.contains("handles")),
        "{description}"
    );
    let changed = browser.js("return document.querySelectorAll('#state-diff ins').length");
    assert!(changed.as_u64().is_some_and(|n| n > 0), "{changed}");
    browser.screenshot("counterexample");
    browser.click("#step-back");
    let label = browser.js("return document.getElementById('step-label').textContent.trim()");
    assert_eq!(label, "step 2 of 18");
    browser.click("#step-last");
    let label = browser.js("return document.getElementById('step-label').textContent.trim()");
    assert_eq!(label, "step 18 of 18");

    browser.open(&format!("{offline_base}/ui/#simulation"));
    let policies = browser.until(
        "the objectives per policy",
        "return document.querySelectorAll('#sim-objectives-0 tr').length",
    );
    assert_eq!(policies, 3, "a header and two policies");
    browser.until(
        "a latency distribution",
        "return document.querySelector('[id^=cdf-0-] polyline') !== null",
    );
    browser.screenshot("simulation");

    browser.open(&format!("{offline_base}/ui/#steering"));
    browser.until(
        "steering actions",
        "return document.querySelectorAll('.steering-action').length",
    );
    browser.screenshot("steering");

    browser.open(&format!("{offline_base}/ui/#decisions"));
    browser.until(
        "the logged decisions",
        "return document.querySelectorAll('#decisions tr.decision').length",
    );
    browser.js("const s = document.getElementById('filter-choice');
         s.value = 'kv.read_replica'; s.dispatchEvent(new Event('change'));");
    let filtered = browser.js(
        "return [...document.querySelectorAll('#decisions tr.decision')]
           .every(r => r.children[2].textContent === 'kv.read_replica')",
    );
    assert_eq!(filtered, true);
    browser.until(
        "the prediction error chart",
        "return document.querySelector('#prediction-error') !== null",
    );
    browser.screenshot("decisions-log");

    browser.open(&format!("{offline_base}/ui/#models"));
    let peers = browser.until(
        "the simulated nodes' learned peers",
        "return document.querySelectorAll('#model-peers-0 tr').length",
    );
    assert!(peers.as_u64().is_some_and(|n| n > 1), "{peers}");
    let intervals = browser.js(
        "return [...document.querySelectorAll('#model-peers-0 tr')].slice(1)
           .some(r => /\\[.*,.*\\]/.test(r.children[7].textContent))",
    );
    assert_eq!(intervals, true, "a service-time median with its interval");
    browser.screenshot("models");
    let _ = std::fs::remove_dir_all(&work);
}
