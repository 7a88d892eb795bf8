//! The mailbox's WebSocket (PROTOCOL.md §8.3, `GET /v1/mailbox/ws`) for the chat view: the
//! backlog, then each delivery as it arrives, acknowledged on the same socket. Synchronous
//! and polled: a read that finds nothing within [`POLL`] returns `None`, so one thread can
//! watch the keyboard and the socket.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use missive::relay_api::{Ack, DeliveredEnvelope};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// How long a read waits for a frame before handing control back.
const POLL: Duration = Duration::from_millis(25);
/// Connecting, the TLS and WebSocket handshakes, and each write, give up after this long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The mailbox's WebSocket path; the proof signs it.
pub(crate) const PATH: &str = "/v1/mailbox/ws";

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// An open mailbox socket.
pub(crate) struct Socket {
    ws: WebSocket<Stream>,
}

/// `base` (`http://host:port` or `https://host[:port]`, as for HTTP) split into whether it
/// is TLS, the host, and the port.
fn endpoint(base: &str) -> Result<(bool, String, u16), String> {
    let (tls, rest) = if let Some(rest) = base.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = base.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("relay URL {base:?}: not http:// or https://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let bad_port = || format!("relay URL {base:?}: bad port");
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: `[addr]` or `[addr]:port`.
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("relay URL {base:?}: unclosed ["))?;
            match after.strip_prefix(':') {
                Some(port) => (host, port.parse().map_err(|_| bad_port())?),
                None if after.is_empty() => (host, if tls { 443 } else { 80 }),
                None => return Err(bad_port()),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad_port())?),
            None => (authority, if tls { 443 } else { 80 }),
        },
    };
    if host.is_empty() {
        return Err(format!("relay URL {base:?}: no host"));
    }
    Ok((tls, host.to_owned(), port))
}

/// The socket's URL on `host` (an IPv6 literal goes in brackets).
fn url(tls: bool, host: &str, port: u16) -> String {
    let scheme = if tls { "wss" } else { "ws" };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{port}{PATH}")
    } else {
        format!("{scheme}://{host}:{port}{PATH}")
    }
}

impl Socket {
    /// Opens the mailbox socket at the relay `base`, presenting `authorization` (a proof for
    /// `GET` [`PATH`]).
    pub(crate) fn connect(base: &str, authorization: &str) -> Result<Self, String> {
        let (tls, host, port) = endpoint(base)?;
        let unreachable = |e: &dyn std::fmt::Display| format!("relay unreachable: {e}");
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| unreachable(&e))?
            .next()
            .ok_or_else(|| unreachable(&"no address"))?;
        let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| unreachable(&e))?;
        tcp.set_read_timeout(Some(TIMEOUT))
            .and_then(|()| tcp.set_write_timeout(Some(TIMEOUT)))
            .and_then(|()| tcp.set_nodelay(true))
            .map_err(|e| unreachable(&e))?;
        let stream = if tls {
            let config = Arc::new(crate::tls::client_config()?);
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("relay host {host:?}: {e}"))?;
            let conn =
                rustls::ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let mut request = url(tls, &host, port)
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let value = authorization
            .parse()
            .map_err(|_| "bad authorization header".to_owned())?;
        request.headers_mut().insert("authorization", value);
        let (ws, _) = tungstenite::client(request, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
                let body = response.body().as_deref().unwrap_or_default();
                format!(
                    "mailbox socket: relay answered {}: {}",
                    response.status(),
                    String::from_utf8_lossy(body).trim()
                )
            }
            other => unreachable(&other),
        })?;
        ws.get_ref()
            .tcp()
            .set_read_timeout(Some(POLL))
            .map_err(|e| unreachable(&e))?;
        Ok(Self { ws })
    }

    /// The next delivery, or `None` when none came within [`POLL`].
    ///
    /// # Errors
    /// The socket closed or failed, or the relay sent something that does not decode: the
    /// caller connects again (the relay sends the backlog again, nothing is lost).
    pub(crate) fn next(&mut self) -> Result<Option<DeliveredEnvelope>, String> {
        let outcome = match self.ws.read() {
            Ok(Message::Binary(frame)) => {
                return DeliveredEnvelope::from_bytes(&frame)
                    .map(Some)
                    .map_err(|e| format!("the relay sent a frame that does not decode: {e}"));
            }
            Ok(Message::Close(_)) => return Err("the relay closed the mailbox socket".into()),
            // Pings are answered by the next write or flush.
            Ok(_) => self.ws.flush(),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => Ok(None),
            // Nothing came within the poll (or a flush is unfinished: a later one ends it).
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("mailbox socket: {e}")),
        }
    }

    /// Acknowledges deliveries (they are saved): the relay deletes them.
    pub(crate) fn ack(&mut self, ids: Vec<[u8; 16]>) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        let frame = Message::Binary(Ack { ids }.to_bytes().into());
        self.ws
            .send(frame)
            .map_err(|e| format!("mailbox socket: {e}"))
    }

    /// Closes the socket politely (errors are of no interest: we are leaving).
    pub(crate) fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{endpoint, url};
    use tungstenite::client::IntoClientRequest;

    #[test]
    fn relay_urls_split_into_scheme_host_and_port() {
        assert_eq!(
            endpoint("http://127.0.0.1:8700").unwrap(),
            (false, "127.0.0.1".into(), 8700)
        );
        assert_eq!(
            endpoint("https://relay.example.com").unwrap(),
            (true, "relay.example.com".into(), 443)
        );
        assert_eq!(
            endpoint("https://[::1]:9443/").unwrap(),
            (true, "::1".into(), 9443)
        );
        assert_eq!(endpoint("http://[::1]").unwrap(), (false, "::1".into(), 80));
        assert!(endpoint("ftp://x").is_err());
        assert!(endpoint("http://:80").is_err());
        assert!(endpoint("http://host:port").is_err());
        assert!(endpoint("http://[::1]x").is_err());
        assert!(endpoint("http://[::1").is_err());
    }

    #[test]
    fn the_socket_url_brackets_an_ipv6_host() {
        let (tls, host, port) = endpoint("https://[::1]:9443").unwrap();
        let v6 = url(tls, &host, port);
        assert_eq!(v6, "wss://[::1]:9443/v1/mailbox/ws");
        assert!(v6.into_client_request().is_ok());
        assert_eq!(
            url(false, "relay.example.com", 80),
            "ws://relay.example.com:80/v1/mailbox/ws"
        );
    }
}
