//! Accepting and serving connections: the caps on how many are open, in all
//! and per client address, and their graceful end.
//!
//! Each accepted connection takes a [`Slot`] or is refused at once with a
//! 503 and closed: a connection is never parked to be served late. A slot
//! is freed when its connection ends, whichever way, before the server
//! closes the socket. On shutdown the
//! listener closes, every connection finishes the request it is answering
//! and closes, and whatever is still open when the shutdown timeout passes
//! is dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::handler::{handle, App};
use super::rate::client_network;
use super::watchdog::{ConnectionActivity, Deadlines, Watched};

/// Refusals being written at once at most; past it a refused connection is
/// closed without a word.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused connection is given to read its 503.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);

/// The open connections: a semaphore of `max_connections` permits and a
/// count per client network.
///
/// Invariant: `per_network[n]` is the number of live [`Slot`]s of network
/// `n`, never 0 (entries are removed when they reach 0), and at most
/// `max_per_network`.
pub(crate) struct ConnectionSlots {
    total: Arc<Semaphore>,
    max_total: usize,
    per_network: Mutex<HashMap<IpAddr, usize>>,
    max_per_network: usize,
}

/// One open connection's place; freed when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    network: IpAddr,
    slots: Arc<ConnectionSlots>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// `max_connections` are open.
    Server,
    /// `max_connections_per_address` are open from this client.
    Client,
}

impl ConnectionSlots {
    pub(crate) fn new(max_total: usize, max_per_network: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            total: Arc::new(Semaphore::new(max_total)),
            max_total,
            per_network: Mutex::new(HashMap::new()),
            max_per_network,
        })
    }

    /// Takes a slot for a connection from `client`, if one is free.
    pub(crate) fn take(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Full> {
        let network = client_network(client);
        let mut per_network = self.per_network.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = per_network.get(&network).copied().unwrap_or(0);
        if count >= self.max_per_network {
            return Err(Full::Client);
        }
        let permit = Arc::clone(&self.total).try_acquire_owned().map_err(|_| Full::Server)?;
        per_network.insert(network, count + 1);
        Ok(Slot { _permit: permit, network, slots: Arc::clone(self) })
    }

    /// Waits until every slot is free (every connection closed).
    async fn all_free(&self) {
        let all = u32::try_from(self.max_total).unwrap_or(u32::MAX);
        let _ = self.total.acquire_many(all).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_network = self.slots.per_network.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = per_network.get_mut(&self.network) {
            *count -= 1;
            if *count == 0 {
                per_network.remove(&self.network);
            }
        }
    }
}

/// Accepts connections until `shutdown` resolves, then lets the open ones
/// finish for up to the shutdown timeout.
pub(crate) async fn accept_until(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let config = &app.config;
    let slots = ConnectionSlots::new(config.max_connections, config.max_connections_per_address);
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let (stopping, stop) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => match slots.take(peer.ip()) {
                Ok(slot) => {
                    tokio::spawn(serve_connection(Arc::clone(&app), stream, peer, slot, stop.clone()));
                }
                Err(full) => refuse(stream, full, &refusals),
            },
            Err(error) if is_out_of_descriptors(&error) => {
                app.log.line(format!("msgdex: cannot accept a connection: {error}; retrying in 100 ms"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Errors of one connection (reset before it was accepted, …).
            Err(_) => {}
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    let open = config.max_connections - slots.total.available_permits();
    if open > 0 {
        app.log.line(format!(
            "msgdex: stopping: {open} connection(s) open, waiting up to {} for them",
            super::handler::describe(config.shutdown_timeout)
        ));
    }
    if tokio::time::timeout(config.shutdown_timeout, slots.all_free()).await.is_err() {
        app.log.line("msgdex: the shutdown timeout passed; closing the connections still open".into());
    }
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(code) if code == libc::EMFILE || code == libc::ENFILE || code == libc::ENOBUFS || code == libc::ENOMEM)
}

async fn serve_connection(
    app: Arc<App>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) {
    let _open = app.metrics.connection_opened();
    let _ = stream.set_nodelay(true);
    let config = &app.config;
    let deadlines = Deadlines { idle: config.idle_timeout, header: config.header_timeout, write: config.write_timeout };
    let activity = Arc::new(ConnectionActivity::default());
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity), deadlines));
    let handler_app = Arc::clone(&app);
    let service = service_fn(move |request| handle(Arc::clone(&handler_app), peer, Arc::clone(&activity), request));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        // hyper's own head timer, a backstop behind the watchdog's: it runs
        // from when hyper starts waiting for a head, through the idle time.
        .header_read_timeout(config.idle_timeout + config.header_timeout)
        .max_buf_size(config.read_buffer_bytes())
        .serve_connection(io, service);
    tokio::pin!(connection);
    // Declared after the connection, so dropped before it: the slot is
    // freed in the same poll that ends the connection, before the socket is
    // closed (hyper has sent its FIN by then, a moment before), instead of
    // whenever the task is dropped.
    let _slot = slot;
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Answers a connection past a cap with 503 and closes it, without waiting
/// on the client for more than a moment.
fn refuse(stream: TcpStream, full: Full, refusals: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    let hint = match full {
        Full::Server => "The server has as many connections open as it serves (--max-connections); retry shortly.",
        Full::Client => {
            "Your address has as many connections open as one client may (--max-connections-per-address); \
reuse one, or retry shortly."
        }
    };
    let body = crate::output::hint_body(hint);
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        let _ = stream.try_write(response.as_bytes());
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            // Close our side, then read what the client sent until it
            // closes too, so that its unread request does not reset the
            // connection before the 503 is read.
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            let mut sink = [0; 4096];
            while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {}
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_client_network_and_freed_on_drop() {
        let slots = ConnectionSlots::new(3, 2);
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.take(one).unwrap();
        let second = slots.take(one).unwrap();
        assert_eq!(slots.take(one).err(), Some(Full::Client));
        let third = slots.take(two).unwrap();
        assert_eq!(slots.take(two).err(), Some(Full::Server));
        drop(first);
        assert!(slots.take(two).is_ok(), "a freed slot is free for anyone");
        drop((second, third));
        assert!(slots.per_network.lock().unwrap().is_empty(), "counts return to zero and are removed");
        assert_eq!(slots.total.available_permits(), 3);
    }
}
