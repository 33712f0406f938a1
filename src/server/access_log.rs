//! The access log: one line per request on stderr, written by a thread of
//! its own so that a slow, full or closed stderr never stalls or fails a
//! request.
//!
//! Requests hand their line to a bounded channel and go on. When the
//! channel is full (the writer is blocked on a pipe nobody drains), the
//! line is dropped and counted; when stderr is closed, writes fail and are
//! counted. Lines never hold a header, so never a key, secret or signature.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines waiting for the writer at most; more are dropped.
const QUEUE_LINES: usize = 4096;

/// What the writer is handed: a line, or a request to say when every line
/// queued before it is written.
enum Entry {
    Line(String),
    Drained(mpsc::Sender<()>),
}

/// A non-blocking sink of log lines, written to stderr by its own thread.
#[derive(Debug)]
pub(crate) struct AccessLog {
    sender: Option<SyncSender<Entry>>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Starts the writer thread on stderr.
    pub(crate) fn start() -> AccessLog {
        AccessLog::start_on(std::io::stderr(), QUEUE_LINES)
    }

    fn start_on(mut sink: impl std::io::Write + Send + 'static, queue_lines: usize) -> AccessLog {
        let (sender, lines) = mpsc::sync_channel::<Entry>(queue_lines);
        let dropped = Arc::new(AtomicU64::new(0));
        let failed = Arc::clone(&dropped);
        let writer = move || {
            let mut pending = false;
            loop {
                let line = if pending {
                    match lines.try_recv() {
                        Ok(line) => line,
                        Err(_) => {
                            pending = false;
                            if sink.flush().is_err() {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            continue;
                        }
                    }
                } else {
                    match lines.recv() {
                        Ok(line) => line,
                        Err(_) => break,
                    }
                };
                let line = match line {
                    Entry::Line(line) => line,
                    Entry::Drained(written) => {
                        if sink.flush().is_err() {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = written.send(());
                        continue;
                    }
                };
                pending = true;
                if sink.write_all(line.as_bytes()).and_then(|()| sink.write_all(b"\n")).is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = sink.flush();
        };
        let spawned = std::thread::Builder::new().name("msgdex-log".into()).spawn(writer);
        AccessLog { sender: spawned.is_ok().then_some(sender), dropped }
    }

    /// Queues one line without waiting; drops and counts it when the queue
    /// is full.
    pub(crate) fn line(&self, line: String) {
        let sent = match &self.sender {
            Some(sender) => sender.try_send(Entry::Line(line)),
            None => Err(TrySendError::Disconnected(Entry::Line(line))),
        };
        if sent.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped or not written so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `wait` for the writer to have written every line queued
    /// before this call, while requests may still hold the log (a server
    /// stopping: its last lines must not be lost when the process exits).
    /// Never blocks longer, whatever stderr does.
    pub(crate) fn drain(&self, wait: Duration) {
        let Some(sender) = &self.sender else { return };
        let deadline = Instant::now() + wait;
        let (written, said_written) = mpsc::channel();
        let mut entry = Entry::Drained(written);
        loop {
            match sender.try_send(entry) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    entry = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        let _ = said_written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A sink that blocks every write until the test lets it go.
    struct Stuck(Arc<Mutex<()>>);

    impl std::io::Write for Stuck {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            drop(self.0.lock().unwrap());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Closed;

    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::EBADF))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(libc::EBADF))
        }
    }

    #[test]
    fn lines_are_written_in_order() {
        let sink = Shared::default();
        let log = AccessLog::start_on(sink.clone(), 16);
        for number in 0..100 {
            log.line(format!("line {number}"));
            if number % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let dropped = log.dropped();
        log.drain(Duration::from_secs(5));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let written: Vec<&str> = text.lines().collect();
        assert_eq!(written.len() as u64 + dropped, 100);
        let numbers: Vec<u32> = written.iter().map(|line| line["line ".len()..].parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|pair| pair[0] < pair[1]), "{numbers:?}");
    }

    #[test]
    fn draining_writes_every_queued_line_while_the_log_is_still_shared() {
        let sink = Shared::default();
        let log = Arc::new(AccessLog::start_on(sink.clone(), 4096));
        let request = Arc::clone(&log); // a connection not yet dropped
        for number in 0..1000 {
            log.line(format!("line {number}"));
        }
        log.line("msgdex: stopped".into());
        log.drain(Duration::from_secs(5));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1001, "every line is written before drain returns");
        assert!(text.ends_with("msgdex: stopped\n"));
        drop(request);
    }

    #[test]
    fn a_blocked_sink_drops_lines_instead_of_blocking() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let log = AccessLog::start_on(Stuck(Arc::clone(&gate)), 8);
        for number in 0..1000 {
            log.line(format!("line {number}"));
        }
        // The writer holds one line, the queue eight: the rest were dropped.
        assert!(log.dropped() >= 1000 - 9, "{}", log.dropped());
        let started = Instant::now();
        log.drain(Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(5), "drain gives up on a stuck sink");
        drop(held);
    }

    #[test]
    fn a_closed_sink_counts_failures() {
        let log = AccessLog::start_on(Closed, 8);
        log.line("a".into());
        let started = std::time::Instant::now();
        while log.dropped() == 0 && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(log.dropped() >= 1);
        log.drain(Duration::from_secs(1));
    }
}
