//! A TCP proxy between the programs and Redis that loses one answer: once a request
//! carrying a marker goes through, the next data Redis sends back on that connection is
//! dropped with the connection, as when a network blip or a failover cuts a connection
//! after Redis ran a command and before its answer arrived. The client then reconnects
//! (through the proxy, which passes everything from then on) and its Redis client may
//! send the command again.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

pub struct LossyProxy {
    pub port: u16,
    lost: Arc<AtomicBool>,
}

impl LossyProxy {
    /// Proxies 127.0.0.1:`upstream` on a free port; loses the answer to the first request
    /// that contains `marker`.
    pub async fn start(upstream: u16, marker: &str) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("port").port();
        let armed = Arc::new(AtomicBool::new(true));
        let lost = Arc::new(AtomicBool::new(false));
        let marker = marker.as_bytes().to_vec();
        let (armed_, lost_) = (armed.clone(), lost.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                tokio::spawn(relay(
                    client,
                    server,
                    marker.clone(),
                    armed_.clone(),
                    lost_.clone(),
                ));
            }
        });
        LossyProxy { port, lost }
    }

    /// Whether the answer has been lost yet.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    marker: Vec<u8>,
    armed: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let marked = Arc::new(AtomicBool::new(false));
    let marked_ = marked.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = from_client.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if buf[..n].windows(marker.len()).any(|w| w == marker) {
                marked_.store(true, Ordering::SeqCst);
            }
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = from_server.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if marked.load(Ordering::SeqCst) && armed.swap(false, Ordering::SeqCst) {
            lost.store(true, Ordering::SeqCst);
            break;
        }
        if to_client.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    up.abort();
}
