//! Plays a peer that sends arbitrary bytes during the handshake, to the
//! acceptor (as a stranger dialing a node) or to the dialer (as a stranger
//! answering a node's dial), over a real loopback connection through the
//! runtime's own `auth::accept_session` / `auth::dial_session`, plain or
//! followed by the Noise handshake of an encrypted port. Neither may panic, and
//! neither may ever complete: bytes that do not know the secret cannot
//! produce the HMAC either side checks.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prophet_runtime::auth::{self, Secret};
use prophet_runtime::connection::{Framed, HANDSHAKE_FRAME_BYTES_MAX};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

type Msg = (u32, Vec<u8>);

struct World {
    runtime: Runtime,
    listener: TcpListener,
    secret: Secret,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        World {
            runtime,
            listener,
            secret: Secret::new((0u8..32).collect()).expect("secret"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&side, bytes)) = data.split_first() else {
        return;
    };
    let w = world();
    w.runtime.block_on(async {
        let addr = w.listener.local_addr().expect("addr");
        let (peer, ours) = tokio::join!(TcpStream::connect(addr), w.listener.accept());
        let (mut peer, (ours, _)) = (peer.expect("connect"), ours.expect("accept"));
        // The stranger's bytes, then the end of its stream.
        peer.write_all(bytes).await.expect("write");
        peer.shutdown().await.expect("shutdown");
        let mut conn = Framed::new(ours, HANDSHAKE_FRAME_BYTES_MAX);
        // Bit 1: the encrypted handshake (HMAC, then Noise) or the plain one.
        let encrypt = side & 2 != 0;
        if side % 2 == 0 {
            let accepted =
                auth::accept_session::<Msg>(&mut conn, &w.secret, "fuzz", 4, |to| to < 2, encrypt)
                    .await;
            assert!(accepted.is_err(), "a stranger logged in");
        } else {
            let dialed = auth::dial_session::<Msg>(&mut conn, &w.secret, "fuzz", 0, 1, encrypt).await;
            assert!(dialed.is_err(), "a stranger passed the dialer's check");
        }
    });
});
