//! Prometheus metrics of a server (feature `metrics`): the [`Metrics`] observer counts what
//! every session reports, and [`Metrics::serve`] answers `GET /metrics` with the text
//! exposition format (written by the `prometheus-client` crate) from a thread of its own.
//!
//! | metric | what |
//! |---|---|
//! | `ftp_sessions_current` | sessions open now |
//! | `ftp_sessions_total` | sessions started |
//! | `ftp_logins_total{result="ok"\|"failed"}` | logins |
//! | `ftp_transfers_total{direction="download"\|"upload"\|"listing",complete="true"\|"false"}` | transfers ended |
//! | `ftp_transfer_bytes_total{direction=...}` | bytes over data connections |
//! | `ftp_data_connection_failures_total` | data connections that could not be set up |
//! | `ftp_bans_total` | addresses banned after failed logins (with [`Metrics::with_bans`]) |

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::bans::Bans;
use crate::events::{Event, Observer};

type Labels = Vec<(&'static str, &'static str)>;

/// A server's counters; an [`Observer`] to give the server, and a page to serve.
pub struct Metrics {
    registry: Registry,
    sessions: Gauge,
    sessions_total: Counter,
    logins: Family<Labels, Counter>,
    transfers: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    data_failures: Counter,
    bans_total: Counter,
    /// Where bans are counted, and how many of them the counter has seen.
    bans: Option<(Bans, Mutex<u64>)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every counter at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let sessions = Gauge::default();
        let sessions_total = Counter::default();
        let logins = Family::<Labels, Counter>::default();
        let transfers = Family::<Labels, Counter>::default();
        let bytes = Family::<Labels, Counter>::default();
        let data_failures = Counter::default();
        let bans_total = Counter::default();
        registry.register(
            "ftp_sessions_current",
            "Sessions open now",
            sessions.clone(),
        );
        registry.register("ftp_sessions", "Sessions started", sessions_total.clone());
        registry.register("ftp_logins", "Logins by result", logins.clone());
        registry.register(
            "ftp_transfers",
            "Transfers ended, by direction and completion",
            transfers.clone(),
        );
        registry.register(
            "ftp_transfer_bytes",
            "Bytes over data connections, by direction",
            bytes.clone(),
        );
        registry.register(
            "ftp_data_connection_failures",
            "Data connections that could not be set up",
            data_failures.clone(),
        );
        registry.register(
            "ftp_bans",
            "Addresses banned after failed logins",
            bans_total.clone(),
        );
        Metrics {
            registry,
            sessions,
            sessions_total,
            logins,
            transfers,
            bytes,
            data_failures,
            bans_total,
            bans: None,
        }
    }

    /// The same metrics counting the bans of `bans` (the server's, shared by clones).
    pub fn with_bans(mut self, bans: Option<Bans>) -> Metrics {
        self.bans = bans.map(|b| (b, Mutex::new(0)));
        self
    }

    /// The text exposition of every metric now.
    pub fn render(&self) -> String {
        if let Some((bans, seen)) = &self.bans {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            let now = bans.imposed();
            self.bans_total.inc_by(now.saturating_sub(*seen));
            *seen = now.max(*seen);
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            tracing::warn!("metrics: encoding failed");
        }
        out
    }

    /// Serves `GET /metrics` on `addr` from a thread of its own, one request at a time (each
    /// with a 5 s deadline); anything else gets 404. Returns the bound address.
    pub fn serve(self: Arc<Self>, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(conn) => {
                            if let Err(e) = self.answer(conn) {
                                tracing::debug!("metrics request: {e}");
                            }
                        }
                        Err(e) => {
                            tracing::warn!("metrics accept: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })?;
        Ok(local)
    }

    fn answer(&self, mut conn: TcpStream) -> io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.set_write_timeout(Some(Duration::from_secs(5)))?;
        // The request head, up to its blank line or 8 KiB.
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        let target = head
            .split(|b| *b == b' ')
            .nth(1)
            .map(|t| t.split(|b| *b == b'?').next().unwrap_or_default());
        let (status, body) = match (head.starts_with(b"GET "), target) {
            (true, Some(b"/metrics")) => ("200 OK", self.render()),
            _ => ("404 Not Found", "not found\n".to_string()),
        };
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        conn.flush()
    }
}

impl Observer for Metrics {
    fn event(&self, event: &Event) {
        match event {
            Event::SessionStarted { .. } => {
                self.sessions.inc();
                self.sessions_total.inc();
            }
            Event::SessionEnded { .. } => {
                self.sessions.dec();
            }
            Event::LoggedIn { .. } => {
                self.logins.get_or_create(&vec![("result", "ok")]).inc();
            }
            Event::LoginFailed { .. } => {
                self.logins.get_or_create(&vec![("result", "failed")]).inc();
            }
            Event::Transfer(t) => {
                let direction = t.kind.as_str();
                let complete = if t.complete { "true" } else { "false" };
                self.transfers
                    .get_or_create(&vec![("direction", direction), ("complete", complete)])
                    .inc();
                self.bytes
                    .get_or_create(&vec![("direction", direction)])
                    .inc_by(t.bytes);
            }
            Event::DataConnectionFailed { .. } => {
                self.data_failures.inc();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::BanPolicy;
    use crate::events::{TransferKind, TransferRecord};
    use std::time::SystemTime;

    #[test]
    fn events_are_counted_in_the_text_format() {
        let bans = Bans::new(BanPolicy::new(1));
        let m = Metrics::new().with_bans(Some(bans.clone()));
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        m.event(&Event::SessionStarted { peer });
        m.event(&Event::SessionStarted { peer });
        m.event(&Event::SessionEnded { peer });
        m.event(&Event::LoginFailed {
            peer,
            user: "x".into(),
        });
        m.event(&Event::Transfer(TransferRecord {
            peer,
            user: "u".into(),
            anonymous: false,
            kind: TransferKind::Upload,
            path: ftp_proto::path::VirtualPath::root(),
            real_path: None,
            bytes: 1234,
            duration: Duration::ZERO,
            ended: SystemTime::now(),
            complete: true,
            ascii: false,
        }));
        bans.login_failed("10.0.0.1".parse().unwrap());
        let text = m.render();
        for want in [
            "ftp_sessions_current 1\n",
            "ftp_sessions_total 2\n",
            "ftp_logins_total{result=\"failed\"} 1\n",
            "ftp_transfers_total{direction=\"upload\",complete=\"true\"} 1\n",
            "ftp_transfer_bytes_total{direction=\"upload\"} 1234\n",
            "ftp_data_connection_failures_total 0\n",
            "ftp_bans_total 1\n",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        // Rendering again does not count the same ban twice.
        assert!(m.render().contains("ftp_bans_total 1\n"));
    }

    #[test]
    fn the_page_is_served_over_http() {
        let m = Arc::new(Metrics::new());
        let addr = m.clone().serve("127.0.0.1:0".parse().unwrap()).unwrap();
        let get = |path: &str| {
            let mut c = TcpStream::connect(addr).unwrap();
            write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        let page = get("/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("ftp_sessions_total 0"));
        assert!(get("/other").starts_with("HTTP/1.1 404"));
    }
}
