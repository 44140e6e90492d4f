//! A non-blocking connection registered with a `mio::Poll`: plain TCP, or TLS driven by hand
//! over it (rustls `read_tls`/`process_new_packets`/`write_tls` and its plaintext
//! reader/writer). Both the client and the server use it, for control and data connections.
//!
//! mio is edge-triggered: the poller reports a socket once when it becomes readable or
//! writable. [`Sock`] keeps that readiness (`readable`, `writable`) until an operation meets
//! `WouldBlock`, so the owner may stop reading early (the session does not want more input)
//! and try again later without waiting for an event that would never come.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use mio::net::TcpStream;

/// What [`Sock::read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadResult {
    /// Bytes were read.
    Data(usize),
    /// Nothing now: wait for readiness.
    WouldBlock,
    /// A clean end of stream (under TLS: after close_notify).
    Eof,
}

/// What a client sent first after CCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CccPeek {
    /// Nothing yet.
    Nothing,
    /// A TLS record: its close_notify.
    TlsRecord,
    /// Cleartext (or the end of the connection): it left TLS without a close_notify.
    Cleartext,
}

/// Plain TCP or TLS over TCP, non-blocking.
pub(crate) struct Sock {
    pub(crate) tcp: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::Connection>>,
    /// The poller said readable and no read met `WouldBlock` since.
    pub(crate) readable: bool,
    /// The poller said writable and no write met `WouldBlock` since.
    pub(crate) writable: bool,
    /// TCP end of stream seen under TLS.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    tcp_eof: bool,
}

impl std::fmt::Debug for Sock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sock")
            .field("tls", &self.is_tls())
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Sock {
    /// A plain connection. Readiness starts as "maybe": the first operation finds out.
    pub(crate) fn new(tcp: TcpStream) -> Sock {
        let _ = tcp.set_nodelay(true);
        Sock {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
            readable: true,
            writable: true,
            tcp_eof: false,
        }
    }

    /// Records an event of the poller.
    pub(crate) fn ready(&mut self, event: &mio::event::Event) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }

    /// Whether TLS runs on this connection.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    /// Starts TLS on the connection; drive it with [`handshake`](Self::handshake).
    #[cfg(feature = "tls")]
    pub(crate) fn start_tls(&mut self, conn: rustls::Connection) {
        self.tls = Some(Box::new(conn));
    }

    /// Whether a TLS session was resumed (`None` without TLS).
    pub(crate) fn tls_resumed(&self) -> Option<bool> {
        #[cfg(feature = "tls")]
        {
            self.tls
                .as_ref()
                .map(|t| t.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
        }
        #[cfg(not(feature = "tls"))]
        {
            None
        }
    }

    /// Drives the TLS handshake as far as the socket allows: `Ok(true)` once it is complete
    /// (its last flight may still be buffered; [`flush`](Self::flush) sends it), `Ok(false)`
    /// to wait for readiness. Without TLS it is complete at once.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            loop {
                while tls.wants_write() {
                    if !self.writable {
                        break;
                    }
                    match tls.write_tls(&mut self.tcp) {
                        Ok(_) => {}
                        Err(e) if would_block(&e) => self.writable = false,
                        Err(e) => return Err(e),
                    }
                }
                if !tls.is_handshaking() {
                    return Ok(true);
                }
                if !tls.wants_read() || !self.readable {
                    return Ok(false);
                }
                match tls.read_tls(&mut self.tcp) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed during the TLS handshake",
                        ))
                    }
                    Ok(_) => {
                        if let Err(e) = tls.process_new_packets() {
                            // Send the alert, best effort.
                            let _ = tls.write_tls(&mut self.tcp);
                            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                        }
                    }
                    Err(e) if would_block(&e) => {
                        self.readable = false;
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    }

    /// Reads application bytes.
    ///
    /// Under TLS, a TCP end of stream without close_notify is an error of kind
    /// `UnexpectedEof` (see [`ftp_host::transfer::NetEnd::from_read_error`]).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadResult> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            loop {
                match tls.reader().read(buf) {
                    Ok(0) if !buf.is_empty() => return Ok(ReadResult::Eof),
                    Ok(n) => return Ok(ReadResult::Data(n)),
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(e),
                }
                if self.tcp_eof {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if !self.readable {
                    return Ok(ReadResult::WouldBlock);
                }
                match tls.read_tls(&mut self.tcp) {
                    Ok(0) => self.tcp_eof = true,
                    Ok(_) => {}
                    Err(e) if would_block(&e) => {
                        self.readable = false;
                        return Ok(ReadResult::WouldBlock);
                    }
                    Err(e) => return Err(e),
                }
                if let Err(e) = tls.process_new_packets() {
                    let _ = tls.write_tls(&mut self.tcp);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                // Key updates and the like want an answer.
                if tls.wants_write() && self.writable {
                    match tls.write_tls(&mut self.tcp) {
                        Ok(_) => {}
                        Err(e) if would_block(&e) => self.writable = false,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if !self.readable {
            return Ok(ReadResult::WouldBlock);
        }
        loop {
            return match self.tcp.read(buf) {
                Ok(0) if !buf.is_empty() => Ok(ReadResult::Eof),
                Ok(n) => Ok(ReadResult::Data(n)),
                Err(e) if would_block(&e) => {
                    self.readable = false;
                    Ok(ReadResult::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Writes application bytes: `Ok(0)` means "wait for writability" (never for an empty
    /// `buf`, which is not passed).
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            if !self.flush()? {
                return Ok(0);
            }
            let Some(tls) = self.tls.as_mut() else {
                return Ok(0);
            };
            let n = tls.writer().write(buf)?;
            self.flush()?;
            return Ok(n);
        }
        if !self.writable {
            return Ok(0);
        }
        loop {
            return match self.tcp.write(buf) {
                Ok(n) => Ok(n),
                Err(e) if would_block(&e) => {
                    self.writable = false;
                    Ok(0)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Sends the TLS records buffered so far: `Ok(true)` once none is left. Plain TCP keeps
    /// nothing buffered.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            while tls.wants_write() {
                if !self.writable {
                    return Ok(false);
                }
                match tls.write_tls(&mut self.tcp) {
                    Ok(_) => {}
                    Err(e) if would_block(&e) => {
                        self.writable = false;
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    }

    /// Whether TLS records wait to be sent.
    pub(crate) fn has_pending_output(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_ref() {
            return tls.wants_write();
        }
        false
    }

    /// Queues close_notify under TLS (send it with [`flush`](Self::flush)).
    pub(crate) fn close_notify(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
        }
    }

    /// After CCC: what the peer sent first since, left unread.
    pub(crate) fn ccc_peek(&mut self) -> io::Result<CccPeek> {
        let mut first = [0u8; 1];
        match self.tcp.peek(&mut first) {
            Ok(0) => Ok(CccPeek::Cleartext),
            Ok(_) if ftp_host::net::starts_tls_record(first[0]) => Ok(CccPeek::TlsRecord),
            Ok(_) => Ok(CccPeek::Cleartext),
            Err(e) if would_block(&e) => {
                self.readable = false;
                Ok(CccPeek::Nothing)
            }
            Err(e) => Err(e),
        }
    }

    /// After CCC: takes one whole TLS record (the peer's close_notify, RFC 4217 §6) off the
    /// socket through the TLS session, and nothing of the cleartext after it. `None` until
    /// the whole record is there; then whether the peer's close_notify is in.
    pub(crate) fn ccc_take_record(&mut self) -> io::Result<Option<bool>> {
        let mut buf = vec![0u8; 5 + 16 * 1024 + 2048];
        let n = match self.tcp.peek(&mut buf) {
            Ok(n) => n,
            Err(e) if would_block(&e) => 0,
            Err(e) => return Err(e),
        };
        let Some(header) = buf.get(..5).filter(|_| n >= 5) else {
            self.readable = false;
            return Ok(None);
        };
        let header: [u8; 5] = header.try_into().unwrap_or_default();
        let len = ftp_host::net::tls_record_len(&header);
        if n < len {
            self.readable = false;
            return Ok(None);
        }
        let record = buf.get_mut(..len).unwrap_or_default();
        self.tcp.read_exact(record)?;
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_deref_mut() {
            return match tls {
                rustls::Connection::Server(server) => {
                    ftp_host::tls::ccc_feed_record(server, record).map(Some)
                }
                // Only a server waits for the peer's close_notify after CCC.
                rustls::Connection::Client(_) => Ok(Some(true)),
            };
        }
        Ok(Some(true))
    }

    /// Leaves TLS (CCC): later bytes are cleartext. Call once close_notify is flushed.
    pub(crate) fn drop_tls(&mut self) {
        #[cfg(feature = "tls")]
        {
            self.tls = None;
        }
    }

    /// Shuts the sending side down (TCP FIN), after [`flush`](Self::flush).
    pub(crate) fn shutdown_write(&self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
    }

    /// Makes closing reset the connection (SO_LINGER 0): the peer sees an error, never a
    /// clean end of data.
    pub(crate) fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(&self.tcp).set_linger(Some(Duration::ZERO));
    }
}
