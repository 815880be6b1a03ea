//! A TCP proxy between the app and Postgres that a test can cut (live connections dropped, new ones
//! refused) and restore: a database outage without touching the server other tests use. It can
//! also act as a NAT that forgot its idle connections ([`DbProxy::forget_connections`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct DbProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
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
        let accept = {
            let (up, links, forget) = (up.clone(), links.clone(), forget.clone());
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
                        .push(tokio::spawn(link(client, upstream, forgotten)));
                }
            })
        };
        Self {
            port,
            up,
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

    /// What a NAT does to connections idle past its time-out: it forgets them without telling
    /// either side. The app's open connections look alive until they are used: the first bytes
    /// sent on one get a TCP reset. New connections work.
    pub fn forget_connections(&self) {
        self.forget.send_modify(|generation| *generation += 1);
    }
}

async fn link(mut client: TcpStream, upstream: String, mut forgotten: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        _ = forgotten.changed() => {}
    }
    drop(server);
    // Wait for the client to send something (or to close), then answer it with a reset.
    let mut byte = [0u8; 1];
    let _ = client.read(&mut byte).await;
    let _ = client.set_zero_linger();
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
