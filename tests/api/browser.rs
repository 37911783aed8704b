//! A real browser, end to end: headless Chromium driven through WebDriver by chromedriver, both
//! started by the test and gone when it ends.
//!
//! Without `chromium` and `chromedriver` on PATH (Debian: `apt-get install chromium
//! chromium-driver`), a browser test says it was skipped and passes; with `CI=true` it fails,
//! so CI (which installs them in `.ci/run`) cannot skip it.
//!
//! The WebDriver client is fantoccini, not thirtyfour: thirtyfour turns on serde_json's
//! `preserve_order`, and features unify, so the tests would run a jwtd whose JSON objects keep
//! insertion order instead of the sorted order the shipped binary has. fantoccini changes no
//! feature of jwtd's own dependencies. (Its protocol crate, `webdriver`, is MPL-2.0: a
//! dev-dependency, used unmodified and in no binary; `cargo deny` checks what ships.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::free_port;

/// How long page loads and waits for a URL may take.
const WAIT: Duration = Duration::from_secs(20);

/// A headless Chromium session. Dropped without [`Browser::quit`] (a failed test), chromedriver
/// and every Chromium process are killed all the same.
pub struct Browser {
    // Field order is drop order: the session, then chromedriver (and with it Chromium), then the
    // profile directory.
    client: fantoccini::Client,
    chromedriver: ChromeDriver,
    _profile: tempfile::TempDir,
}

/// A cookie as the browser holds it (WebDriver's view, HttpOnly ones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None`.
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
}

impl Browser {
    /// A fresh browser (new profile: no cookies), or `None` when none is installed and this is
    /// not CI; `test` names the skipped test.
    pub async fn start(test: &str) -> Option<Self> {
        Self::start_with_args(test, &[]).await
    }

    /// The same, with more Chromium command-line switches.
    pub async fn start_with_args(test: &str, extra: &[&str]) -> Option<Self> {
        let Some((chromedriver, chromium)) = installed() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but chromium and chromedriver are not on PATH (.ci/run installs them)"
            );
            eprintln!(
                "skipping {test}: chromium and chromedriver are not on PATH \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let profile = tempfile::tempdir().unwrap();
        let chromedriver = ChromeDriver::start(&chromedriver, profile.path()).await;
        let user_data = format!("--user-data-dir={}", profile.path().join("chromium").display());
        let mut args = vec![
            "--headless=new",
            "--disable-gpu",
            "--window-size=1280,900",
            // Containers give /dev/shm 64 MiB, too little for Chromium's renderers.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            &user_data,
        ];
        if running_as_root() {
            args.push("--no-sandbox"); // Chromium refuses to run as root with its sandbox
        }
        args.extend_from_slice(extra);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client =
            match ClientBuilder::new(connector).capabilities(capabilities).connect(&chromedriver.url).await {
                Ok(client) => client,
                Err(e) => panic!("no WebDriver session: {e}\nchromedriver's log:\n{}", chromedriver.log()),
            };
        Some(Self { client, chromedriver, _profile: profile })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Types `value` into the form field named `name`, replacing what it held.
    pub async fn fill(&self, name: &str, value: &str) {
        let field = self.client.find(Locator::Css(&format!("[name='{name}']"))).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks the page's submit button, as a person would.
    pub async fn submit(&self) {
        self.client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    }

    /// Clicks the element the CSS `selector` matches (a particular button), as a person would.
    pub async fn click(&self, selector: &str) {
        self.client.find(Locator::Css(selector)).await.unwrap().click().await.unwrap();
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Waits (bounded) until the current URL starts with `prefix`, and returns it.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let url = self.current_url().await;
            if url.starts_with(prefix) {
                return url;
            }
            assert!(tokio::time::Instant::now() < deadline, "still at {url}, not at {prefix}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until an element matches the CSS `selector`.
    pub async fn wait_for_element(&self, selector: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.count(selector).await == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no {selector} in {}", self.source().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until the page's source contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {text:?} in {source}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every cookie of the current page's origin, HttpOnly ones included.
    pub async fn cookies(&self) -> Vec<BrowserCookie> {
        let cookies = self.client.get_all_cookies().await.unwrap();
        cookies
            .iter()
            .map(|c| BrowserCookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                secure: c.secure() == Some(true),
                http_only: c.http_only() == Some(true),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_owned),
                domain: c.domain().map(str::to_owned),
            })
            .collect()
    }

    pub async fn cookie(&self, name: &str) -> Option<BrowserCookie> {
        self.cookies().await.into_iter().find(|c| c.name == name)
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// How many elements match a CSS selector.
    pub async fn count(&self, selector: &str) -> usize {
        self.client.find_all(Locator::Css(selector)).await.unwrap().len()
    }

    /// Runs `script` in the page as an async function body: it calls `arguments[arguments.length
    /// - 1]` with its result.
    pub async fn run_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute_async(script, args).await.unwrap()
    }

    /// Saves a PNG of the viewport to `path`, creating its folder.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session and Chromium; chromedriver and the profile go with `self`.
    pub async fn quit(self) {
        let Self { client, chromedriver, _profile } = self;
        if let Err(e) = client.close().await {
            panic!("closing the session: {e}\nchromedriver's log:\n{}", chromedriver.log());
        }
    }
}

/// chromedriver and the browser, from PATH.
fn installed() -> Option<(PathBuf, PathBuf)> {
    Some((on_path(&["chromedriver"])?, on_path(&["chromium", "chromium-browser"])?))
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |name| dir.join(name))).find(
        |candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        },
    )
}

/// `/proc/self` belongs to the process's effective user.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A chromedriver child process on a loopback port, in a process group of its own that its
/// Chromium processes share: dropping it kills the group, so a failed test leaves no browser.
struct ChromeDriver {
    child: Child,
    url: String,
    log_path: PathBuf,
}

impl ChromeDriver {
    /// Starts chromedriver and polls its `/status` until it is ready (bounded). A port taken
    /// between picking and binding makes it exit; another port is tried then.
    async fn start(program: &Path, dir: &Path) -> Self {
        let log_path = dir.join("chromedriver.log");
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(program)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log_path.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap();
            let mut driver =
                Self { child, url: format!("http://127.0.0.1:{port}"), log_path: log_path.clone() };
            if driver.ready().await {
                return driver;
            }
        }
        panic!(
            "chromedriver did not start; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// Whether `/status` says ready within twenty seconds; false as soon as the process exits.
    async fn ready(&mut self) -> bool {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let status = format!("{}/status", self.url);
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(response) = http.get(&status).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in for a client's redirect URI: answers every request with a small page and reports
/// the request's path and query, so a test reads the authorization response where the browser
/// delivered it.
pub struct Callback {
    /// `http://127.0.0.1:{port}`, to put a path after.
    pub base: String,
    requests: tokio::sync::mpsc::UnboundedReceiver<String>,
    server: tokio::task::JoinHandle<()>,
}

impl Callback {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // A connection of its own: a browser's idle preconnect must not hold up the next.
                tokio::spawn(answer(stream, tx.clone()));
            }
        });
        Self { base, requests, server }
    }

    /// The path and query of the next request under `path` (bounded wait; others, such as
    /// `/favicon.ico`, are passed over).
    pub async fn next_request(&mut self, path: &str) -> String {
        let wait = async {
            loop {
                let target = self.requests.recv().await.unwrap();
                if target.starts_with(path) {
                    return target;
                }
            }
        };
        tokio::time::timeout(WAIT, wait).await.unwrap_or_else(|_| panic!("no request to {path}"))
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(mut stream: tokio::net::TcpStream, requests: tokio::sync::mpsc::UnboundedSender<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(buf.get(..n).unwrap()),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let _ = requests.send(target);
    let page = "<!doctype html><title>callback</title><p>Signed in.</p>";
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}
