//! A TCP proxy between the app and Postgres that a test can cut (live connections dropped, new ones
//! refused) and restore: a database outage without touching the server other tests use. It can
//! also act as a NAT that forgot its idle connections ([`DbProxy::forget_connections`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct DbProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    traffic: Arc<Mutex<Traffic>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Bumped to make every open link forget its upstream.
    forget: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl DbProxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (forget, _) = watch::channel(0u64);
        let traffic: Arc<Mutex<Traffic>> = Arc::default();
        let accept = {
            let (up, links, forget, traffic) = (up.clone(), links.clone(), forget.clone(), traffic.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let upstream = upstream.clone();
                    let forgotten = forget.subscribe();
                    links
                        .lock()
                        .unwrap()
                        .push(tokio::spawn(link(client, upstream, forgotten, traffic.clone())));
                }
            })
        };
        Self {
            port,
            up,
            traffic,
            links,
            forget,
            accept,
        }
    }

    /// The database goes away: every open connection breaks, new ones are closed at once.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// What the app has sent the database since the last [`DbProxy::take_traffic`] (or the start).
    pub fn take_traffic(&self) -> Traffic {
        std::mem::take(&mut *self.traffic.lock().unwrap())
    }

    /// What a NAT does to connections idle past its time-out: it forgets them without telling
    /// either side. The app's open connections look alive until they are used: the first bytes
    /// sent on one get a TCP reset. New connections work.
    pub fn forget_connections(&self) {
        self.forget.send_modify(|generation| *generation += 1);
    }
}

async fn link(
    mut client: TcpStream,
    upstream: String,
    mut forgotten: watch::Receiver<u64>,
    traffic: Arc<Mutex<Traffic>>,
) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let wire = Mutex::new(Wire::default());
        tokio::select! {
            _ = tap(&mut client_read, &mut server_write, &wire, Some(&traffic)) => return,
            _ = tap(&mut server_read, &mut client_write, &wire, None) => return,
            _ = forgotten.changed() => {}
        }
    }
    drop(server);
    // Wait for the client to send something (or to close), then answer it with a reset.
    let mut byte = [0u8; 1];
    let _ = client.read(&mut byte).await;
    let _ = client.set_zero_linger();
}

/// Forwards bytes at once, and reads the protocol messages in them as they pass: the app's
/// (`traffic` given) or the server's.
async fn tap(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    wire: &Mutex<Wire>,
    traffic: Option<&Mutex<Traffic>>,
) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Read before forwarding: the app cannot react to an answer the count has not seen.
        match traffic {
            Some(traffic) => wire.lock().unwrap().app_sent(&chunk[..n], &mut traffic.lock().unwrap()),
            None => wire.lock().unwrap().server_sent(&chunk[..n]),
        }
        if to.write_all(&chunk[..n]).await.is_err() {
            return;
        }
    }
}

/// Counts of what the app asked of the database: each statement executed, each transaction (an
/// explicit one, or a statement run on its own), and each wait for the server (requests sent with
/// no answer outstanding). Statements and transactions are exact, unlike timing; round trips depend
/// on whether pipelined requests left before the first answer came back, which on loopback they do.
#[derive(Debug, Default, Clone)]
pub struct Traffic {
    pub statements: u64,
    pub round_trips: u64,
    pub transactions: u64,
    /// Each statement's first words, in order, for a failing assertion to show.
    pub log: Vec<String>,
    in_transaction: bool,
}

impl Traffic {
    fn statement(&mut self, sql: &str) {
        let words: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let upper = words.to_ascii_uppercase();
        self.statements += 1;
        if upper.starts_with("BEGIN") || upper.starts_with("START TRANSACTION") {
            self.transactions += 1;
            self.in_transaction = true;
        } else if upper.starts_with("COMMIT") || upper.starts_with("ROLLBACK") || upper.starts_with("END") {
            self.in_transaction = false;
        } else if !self.in_transaction {
            self.transactions += 1;
        }
        self.log.push(words.chars().take(90).collect());
    }
}

/// One connection's protocol state: the app's stream split into messages (the untyped start-up,
/// after any SSL or GSS request, then `type, length, body`), and how many answers it awaits.
#[derive(Default)]
struct Wire {
    app: Vec<u8>,
    server: Vec<u8>,
    started: bool,
    /// The app asked for SSL: the server's first answer is one byte.
    ssl_requested: bool,
    /// Encrypted (or unreadable): nothing more is counted on this connection.
    opaque: bool,
    /// The SQL of the last Parse: an Execute runs it.
    parsed: String,
    /// Syncs and simple queries sent whose ReadyForQuery has not come back.
    awaiting: u64,
}

impl Wire {
    fn app_sent(&mut self, bytes: &[u8], traffic: &mut Traffic) {
        if self.opaque {
            return;
        }
        self.app.extend_from_slice(bytes);
        loop {
            let (header, length_at) = if self.started { (5, 1) } else { (8, 0) };
            if self.app.len() < header {
                break;
            }
            let length = u32::from_be_bytes(self.app[length_at..length_at + 4].try_into().unwrap()) as usize;
            let total = length + length_at;
            if self.app.len() < total {
                break;
            }
            let message: Vec<u8> = self.app.drain(..total).collect();
            if !self.started {
                let code = u32::from_be_bytes(message[4..8].try_into().unwrap());
                // 80877103: SSLRequest, 80877104: GSSENCRequest; anything else is the start-up.
                self.ssl_requested = matches!(code, 80877103 | 80877104);
                self.started = !self.ssl_requested;
                continue;
            }
            let body = &message[5..];
            match message[0] {
                b'Q' => {
                    traffic.statement(&cstring(body));
                    self.request_sent(traffic);
                }
                b'P' => {
                    // Parse: statement name, then the SQL.
                    let name_end = body.iter().position(|b| *b == 0).unwrap_or(0);
                    self.parsed = cstring(&body[name_end + 1..]);
                }
                b'E' => traffic.statement(&self.parsed),
                b'S' => self.request_sent(traffic),
                _ => {}
            }
        }
    }

    /// A Sync or a simple query: the server answers it with ReadyForQuery. A wait begins when the
    /// app sends one with no answer outstanding; requests sent while earlier ones are unanswered
    /// ride the same wait (pipelining).
    fn request_sent(&mut self, traffic: &mut Traffic) {
        if self.awaiting == 0 {
            traffic.round_trips += 1;
        }
        self.awaiting += 1;
    }

    fn server_sent(&mut self, bytes: &[u8]) {
        if self.opaque {
            return;
        }
        let mut bytes = bytes;
        if self.ssl_requested && !self.started {
            match bytes.first() {
                Some(b'N') => {
                    self.ssl_requested = false;
                    bytes = &bytes[1..];
                }
                Some(_) => {
                    self.opaque = true;
                    return;
                }
                None => return,
            }
        }
        self.server.extend_from_slice(bytes);
        while self.server.len() >= 5 {
            let length = u32::from_be_bytes(self.server[1..5].try_into().unwrap()) as usize;
            if self.server.len() < length + 1 {
                break;
            }
            let message: Vec<u8> = self.server.drain(..length + 1).collect();
            if message[0] == b'Z' {
                self.awaiting = self.awaiting.saturating_sub(1);
            }
        }
    }
}

fn cstring(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
