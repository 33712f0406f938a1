//! Per-connection deadlines that hyper's own timers do not cover: a
//! connection is closed when it sits silent, when a request's head trickles
//! in too slowly, or when the client stops reading its response.
//!
//! [`Watched`] wraps the socket and sees every read and write; the request
//! handler tells it, through [`ConnectionActivity`], when a request is being
//! answered (no read deadline then: the request timeout governs). A pending
//! read or write past its deadline fails with `TimedOut`, which ends the
//! connection and frees what it held.
//!
//! ```text
//!  idle ──first byte──▶ receiving head ──head complete──▶ answering ──response written──▶ idle
//!   │ idle_timeout        │ header_timeout from first byte    (no read deadline)   │ write_timeout
//!   ▼                     ▼                                                         ▼ per stalled write
//!  close                 close                                                     close
//! ```

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The deadlines of one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    /// Silence allowed while no request is under way.
    pub(crate) idle: Duration,
    /// Time allowed from a request's first byte to its complete head.
    pub(crate) header: Duration,
    /// Time a write may stay blocked on a client that does not read.
    pub(crate) write: Duration,
}

/// What the request handler tells the watchdog about its connection.
#[derive(Debug, Default)]
pub(crate) struct ConnectionActivity {
    requests_started: AtomicU64,
    answering: AtomicBool,
}

/// Marks a request as being answered until dropped.
pub(crate) struct Answering<'a>(&'a ConnectionActivity);

impl ConnectionActivity {
    /// A request's head is complete and its answer is being computed.
    pub(crate) fn begin_request(&self) -> Answering<'_> {
        self.requests_started.fetch_add(1, Ordering::Relaxed);
        self.answering.store(true, Ordering::Relaxed);
        Answering(self)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.answering.store(false, Ordering::Relaxed);
    }
}

/// A socket that fails reads and writes past the connection's deadlines.
pub(crate) struct Watched {
    stream: TcpStream,
    activity: Arc<ConnectionActivity>,
    deadlines: Deadlines,
    /// The last time a byte moved either way.
    last_progress: Instant,
    /// When the first byte of the head being received arrived.
    head_started: Option<Instant>,
    /// `requests_started` as last seen: a change means a head completed.
    requests_seen: u64,
    /// When the current blocked write began to wait.
    write_blocked_since: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
}

impl Watched {
    /// Watches `stream` with `deadlines`; `activity` is shared with the
    /// connection's request handler.
    pub(crate) fn new(stream: TcpStream, activity: Arc<ConnectionActivity>, deadlines: Deadlines) -> Watched {
        let now = Instant::now();
        Watched {
            stream,
            activity,
            deadlines,
            last_progress: now,
            head_started: None,
            requests_seen: 0,
            write_blocked_since: None,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_timer: Box::pin(tokio::time::sleep_until(now)),
        }
    }

    /// The read deadline now, or `None` while a request is answered.
    fn read_deadline(&mut self) -> Option<Instant> {
        let started = self.activity.requests_started.load(Ordering::Relaxed);
        if started != self.requests_seen {
            self.requests_seen = started;
            self.head_started = None;
        }
        if self.activity.answering.load(Ordering::Relaxed) {
            return None;
        }
        Some(match self.head_started {
            Some(first_byte) => first_byte + self.deadlines.header,
            None => self.last_progress + self.deadlines.idle,
        })
    }

    fn write_progress(&mut self, result: &Poll<io::Result<usize>>, cx: &mut Context<'_>) -> Option<io::Error> {
        match result {
            Poll::Ready(Ok(written)) if *written > 0 => {
                self.last_progress = Instant::now();
                self.write_blocked_since = None;
                None
            }
            Poll::Pending => {
                let since = *self.write_blocked_since.get_or_insert_with(Instant::now);
                expired(&mut self.write_timer, since + self.deadlines.write, cx)
                    .then(|| timed_out("the client stopped reading its response"))
            }
            Poll::Ready(_) => None,
        }
    }
}

/// Whether `deadline` has passed; if not, arms `timer` to wake the task then.
fn expired(timer: &mut Pin<Box<Sleep>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    if Instant::now() >= deadline {
        return true;
    }
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

fn timed_out(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, why)
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let deadline = this.read_deadline();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let now = Instant::now();
                    this.last_progress = now;
                    if deadline.is_some() {
                        // Bytes read while no request is answered begin a head.
                        this.head_started.get_or_insert(now);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match deadline {
                Some(deadline) if expired(&mut this.read_timer, deadline, cx) => {
                    Poll::Ready(Err(timed_out(if this.head_started.is_some() {
                        "the request's head took too long"
                    } else {
                        "the connection was idle too long"
                    })))
                }
                _ => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_write(cx, bytes);
        match this.write_progress(&result, cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => result,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, buffers);
        match this.write_progress(&result, cx) {
            Some(error) => Poll::Ready(Err(error)),
            None => result,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
