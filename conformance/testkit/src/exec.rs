//! Spawning a plugin process and collecting what a runtime would see, plus the
//! child's own resource usage.
//!
//! `getrusage(RUSAGE_CHILDREN)` cannot be used: tests run on many threads of one
//! process, so the counters would mix children. `wait4` gives the usage of exactly
//! one child.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// CPU time and peak memory of one child process, as reported by `wait4`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set size in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

impl Usage {
    /// user + sys: the number that stays meaningful on a loaded machine.
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

/// Everything observable about one finished child.
#[derive(Debug)]
pub struct RawRun {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub usage: Usage,
    /// From just before spawn until the child exited (spawn cost included, as a runtime pays it).
    pub wall: Duration,
    /// The watchdog killed the child.
    pub timed_out: bool,
}

/// Runs `cmd` with `stdin` fed to it, killing it after `timeout`.
pub fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> io::Result<RawRun> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Own process group, so a timeout also kills helpers the plugin forked
    // (they would otherwise keep our stdout pipe open forever).
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;

    let (writer, out_reader, err_reader) = spawn_pipes(&mut child, stdin.to_vec());
    let watchdog = Watchdog::start(pid, timeout);

    // Wait for exit without reaping, so the pid cannot be reused while the
    // watchdog may still send it a signal.
    let waited = wait_exited_no_reap(pid);
    let wall = start.elapsed();
    let timed_out = watchdog.stop();
    let reaped = reap(pid);

    let _ = writer.join();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    waited?;
    let (raw_status, usage) = reaped?;
    Ok(RawRun { status: ExitStatus::from_raw(raw_status), stdout, stderr, usage, wall, timed_out })
}

type Pipes = (thread::JoinHandle<()>, thread::JoinHandle<Vec<u8>>, thread::JoinHandle<Vec<u8>>);

/// Feeds stdin and drains stdout/stderr on their own threads: a plugin that writes
/// a lot before reading stdin must not deadlock against us.
fn spawn_pipes(child: &mut Child, input: Vec<u8>) -> Pipes {
    let mut sin = child.stdin.take();
    let writer = thread::spawn(move || {
        if let Some(s) = sin.as_mut() {
            // A plugin may exit without reading stdin (VERSION, env errors): EPIPE is fine.
            let _ = s.write_all(&input);
        }
        drop(sin);
    });
    let out_reader = drain(child.stdout.take());
    let err_reader = drain(child.stderr.take());
    (writer, out_reader, err_reader)
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

fn wait_exited_no_reap(pid: libc::pid_t) -> io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain data; waitid only writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn reap(pid: libc::pid_t) -> io::Result<(i32, Usage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data; wait4 only writes into it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if rc == pid {
            let usage = Usage {
                user: timeval(ru.ru_utime),
                sys: timeval(ru.ru_stime),
                max_rss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
            };
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
}

/// Kills the child with SIGKILL unless stopped before `timeout`.
struct Watchdog {
    state: Arc<(Mutex<WatchState>, Condvar)>,
    handle: thread::JoinHandle<()>,
}

#[derive(Default)]
struct WatchState {
    done: bool,
    fired: bool,
}

impl Watchdog {
    fn start(pid: libc::pid_t, timeout: Duration) -> Self {
        let state = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
        let st = Arc::clone(&state);
        let handle = thread::spawn(move || {
            let (lock, cv) = &*st;
            let deadline = Instant::now() + timeout;
            let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !guard.done {
                let now = Instant::now();
                if now >= deadline {
                    // The child is at worst a zombie here (not yet reaped), so its pid,
                    // and with it the process group id, is still ours.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    guard.fired = true;
                    return;
                }
                guard = cv.wait_timeout(guard, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
            }
        });
        Watchdog { state, handle }
    }

    /// Returns whether the watchdog had to kill the child.
    fn stop(self) -> bool {
        let (lock, cv) = &*self.state;
        {
            let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
            g.done = true;
            cv.notify_all();
        }
        let _ = self.handle.join();
        let g = lock.lock().unwrap_or_else(|e| e.into_inner());
        g.fired
    }
}
