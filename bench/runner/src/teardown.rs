//! Every server and tool the run starts is stopped, its database dropped and its temp dir removed, however
//! the run ends: a return, an error or a panic (the guard's `Drop`), or SIGINT/SIGTERM (a thread
//! that tears down and exits 130): what the bash version's `trap cleanup EXIT` did.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{BoxError, log};

/// A graceful stop gets this long before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);
/// How often a running tool is checked for its end (the tools run for seconds).
const TOOL_POLL: Duration = Duration::from_millis(20);

/// A measuring tool started by [`Teardown::spawn_tool`] (its pid).
#[must_use]
pub struct Tool(u32);

/// The guard: owns what must be undone; tears it down once, on `run` or on drop.
pub struct Teardown {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Torn down: anything kept after this is stopped at once.
    done: bool,
    servers: Vec<Server>,
    /// The measuring tools running (the load generator, the limits): killed first.
    tools: Vec<Child>,
    database: Option<Database>,
    temp: Option<TempDir>,
}

enum Server {
    /// jwtd, a child of this process.
    Child(Child),
    /// A peer's node primary, started in the background by the peers' start.sh.
    Peer(u32),
}

struct Database {
    admin_url: String,
    name: String,
}

impl Teardown {
    /// Takes the run's temp dir (removed last) and starts listening for SIGINT and SIGTERM.
    pub fn new(temp: TempDir) -> Result<Self, BoxError> {
        let state = Arc::new(Mutex::new(State { temp: Some(temp), ..State::default() }));
        listen_for_signals(Arc::clone(&state))?;
        Ok(Self { state })
    }

    /// A server to stop at the end; its pid.
    pub fn keep_server(&self, mut child: Child) -> Result<u32, BoxError> {
        let pid = child.id();
        let mut state = lock(&self.state);
        if state.done {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the run is being torn down".into());
        }
        state.servers.push(Server::Child(child));
        Ok(pid)
    }

    /// A peer (not a child of this process) to stop at the end.
    pub fn keep_peer(&self, pid: u32) -> Result<(), BoxError> {
        let mut state = lock(&self.state);
        if state.done {
            stop(vec![Server::Peer(pid)]);
            return Err("the run is being torn down".into());
        }
        state.servers.push(Server::Peer(pid));
        Ok(())
    }

    /// A database created on `admin_url`'s server, to drop at the end.
    pub fn keep_database(&self, admin_url: &str, name: &str) {
        lock(&self.state).database =
            Some(Database { admin_url: admin_url.to_owned(), name: name.to_owned() });
    }

    /// Starts a measuring tool, its stdout captured (a JSON line: the pipe's buffer holds it
    /// while the tool runs), killed if the run is torn down before [`Self::finish_tool`] has it.
    pub fn spawn_tool(&self, command: &mut Command) -> Result<Tool, BoxError> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let tool = Tool(child.id());
        let mut state = lock(&self.state);
        if state.done {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the run is being torn down".into());
        }
        state.tools.push(child);
        Ok(tool)
    }

    /// Waits for a tool to end: its exit status and stdout. The child is only ever waited for
    /// under the lock, so the teardown never signals a pid that has been reused.
    pub fn finish_tool(&self, tool: Tool) -> Result<Output, BoxError> {
        loop {
            {
                let mut state = lock(&self.state);
                let index = state
                    .tools
                    .iter()
                    .position(|child| child.id() == tool.0)
                    .ok_or("the run was torn down")?;
                let child = state.tools.get_mut(index).ok_or("the run was torn down")?;
                if child.try_wait()?.is_some() {
                    let mut child = state.tools.swap_remove(index);
                    drop(state);
                    // Already reaped: `wait` returns the status `try_wait` saw.
                    let status = child.wait()?;
                    let mut stdout = Vec::new();
                    if let Some(mut pipe) = child.stdout.take() {
                        pipe.read_to_end(&mut stdout)?;
                    }
                    return Ok(Output { status, stdout, stderr: Vec::new() });
                }
            }
            std::thread::sleep(TOOL_POLL);
        }
    }

    /// Runs a measuring tool to its end (see [`Self::spawn_tool`]).
    pub fn run_tool(&self, command: &mut Command) -> Result<Output, BoxError> {
        let tool = self.spawn_tool(command)?;
        self.finish_tool(tool)
    }

    /// Stops the servers, drops the database, removes the temp dir; once.
    pub fn run(&self) {
        tear_down(&mut lock(&self.state));
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        self.run();
    }
}

/// A panic while the lock was held must not keep the servers running.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tear_down(state: &mut State) {
    if state.done {
        return;
    }
    state.done = true;
    for mut tool in std::mem::take(&mut state.tools) {
        let _ = tool.kill();
        let _ = tool.wait();
    }
    stop(std::mem::take(&mut state.servers));
    if let Some(Database { admin_url, name }) = state.database.take() {
        let dropped = Command::new("psql")
            .args([&admin_url, "-qtAc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !dropped {
            log(format!("could not drop database {name}"));
        }
    }
    if let Some(temp) = state.temp.take() {
        let path = temp.path().to_path_buf();
        if temp.close().is_err() {
            log(format!("could not remove {}", path.display()));
        }
    }
}

/// SIGTERM to all, up to [`GRACE`] each for a graceful stop, then SIGKILL.
fn stop(servers: Vec<Server>) {
    for server in &servers {
        send_signal(server.pid(), "TERM");
    }
    for mut server in servers {
        let deadline = Instant::now() + GRACE;
        while server.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        match &mut server {
            Server::Child(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::Peer(pid) => {
                if alive(*pid) {
                    send_signal(*pid, "KILL");
                }
            }
        }
    }
}

impl Server {
    fn pid(&self) -> u32 {
        match self {
            Server::Child(child) => child.id(),
            Server::Peer(pid) => *pid,
        }
    }

    fn running(&mut self) -> bool {
        match self {
            Server::Child(child) => matches!(child.try_wait(), Ok(None)),
            Server::Peer(pid) => alive(*pid),
        }
    }
}

/// `kill -SIGNAL PID` (the command: this crate has no unsafe code for `kill(2)`).
fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` runs: it has a `/proc` entry and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()))
        .is_some_and(|state| state != 'Z')
}

/// A thread waits for SIGINT or SIGTERM, tears down and exits 130. The handlers are installed
/// before this returns, so no signal in between ends the run without its teardown.
fn listen_for_signals(state: Arc<Mutex<State>>) -> Result<(), BoxError> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (mut interrupt, mut terminate) = {
        let _context = runtime.enter();
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)
    };
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        });
        log("interrupted: stopping the servers, dropping the database, removing the temp dir");
        // The lock is held until the exit, so the main thread, whose tools and servers vanish
        // under it, cannot end the process first with an error of its own.
        let mut state = lock(&state);
        tear_down(&mut state);
        std::process::exit(130);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_server_is_stopped_and_the_temp_dir_removed_when_the_guard_drops() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().to_path_buf();
        let teardown = Teardown::new(temp).unwrap();
        let pid = teardown.keep_server(Command::new("sleep").arg("60").spawn().unwrap()).unwrap();
        assert!(alive(pid));
        drop(teardown);
        assert!(!alive(pid));
        assert!(!path.exists());
    }

    #[test]
    fn a_tool_runs_to_its_end_with_its_output() {
        let teardown = Teardown::new(tempfile::tempdir().unwrap()).unwrap();
        let output = teardown.run_tool(Command::new("echo").arg("{}")).unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, b"{}\n");
    }

    #[test]
    fn a_tool_still_running_is_killed_by_the_teardown() {
        let teardown = Teardown::new(tempfile::tempdir().unwrap()).unwrap();
        let tool = teardown.spawn_tool(Command::new("sleep").arg("60")).unwrap();
        let pid = tool.0;
        assert!(alive(pid));
        teardown.run();
        assert!(!alive(pid));
        assert!(teardown.finish_tool(tool).is_err());
    }

    #[test]
    fn a_server_kept_after_the_teardown_is_stopped_at_once() {
        let teardown = Teardown::new(tempfile::tempdir().unwrap()).unwrap();
        teardown.run();
        let child = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id();
        assert!(teardown.keep_server(child).is_err());
        assert!(!alive(pid));
    }
}
