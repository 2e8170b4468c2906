//! Serves a stand-in's axum router on 127.0.0.1 from a thread of its own, for the life of the
//! test process.

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use axum::Router;

/// Starts `app` on a free loopback port and returns its address once it listens.
pub fn serve(app: Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            // Without TCP_NODELAY every kept-alive reply stalls about 40 ms.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}
