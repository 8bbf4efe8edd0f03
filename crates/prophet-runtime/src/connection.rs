//! One TCP connection carrying frames: reads whole frames with the limits of
//! [`crate::codec`], writes batches of frames.
//!
//! This module owns the socket and its read buffer, nothing else: who is on
//! the other end is the handshake's business ([`crate::auth`]).

use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::codec::{self, CodecError, Frame, FrameBuffer};
use crate::crypt::{Keys, Opener};

/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest frame accepted before the handshake completes: handshake frames
/// are a few hundred bytes, so a peer that has not logged in cannot make the
/// node buffer more than this (plus one read) per connection.
pub const HANDSHAKE_FRAME_BYTES_MAX: usize = 4 * 1024;

/// Idle time before TCP keepalive probes start on a quiet connection.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// Time between keepalive probes (3 unanswered probes close the connection).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// Data unacknowledged for this long breaks the connection (Linux
/// `TCP_USER_TIMEOUT`), so a writer to a partitioned peer reconnects within
/// seconds instead of retransmitting into the void for minutes.
pub const UNACKED_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The bytes were not a valid frame stream.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection between frames.
    #[error("closed by peer")]
    Closed,
    /// An encrypted record did not open (tampered, replayed, cut short).
    #[error("encrypted stream: {0}")]
    Crypt(String),
}

/// A framed TCP connection. The socket is shared (`Arc`): after the
/// handshake, the node reading the connection and the link writing to it
/// each hold it (reads and writes are `&self` operations on a tokio socket).
pub struct Framed {
    stream: Arc<TcpStream>,
    buffer: FrameBuffer,
    max_frame_bytes: usize,
    out: Vec<u8>,
    /// Opens records once the connection is encrypted ([`crate::crypt`]).
    opener: Option<Opener>,
}

/// The kernel's smoothed round-trip time of a connection, in microseconds
/// (`TCP_INFO`'s `tcpi_rtt`): measured on every acknowledged segment, so
/// it follows the link without probes of our own. `None` off Linux, or if
/// the kernel refuses.
pub fn smoothed_rtt_us(stream: &TcpStream) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: all-zero bytes are a valid `tcp_info` (plain integers).
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `getsockopt` writes at most `len` bytes into `info`, which
        // lives on this stack frame, and the descriptor is open while
        // `stream` is borrowed.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        (rc == 0 && info.tcpi_rtt > 0).then_some(info.tcpi_rtt)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = stream;
        None
    }
}

impl Framed {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream, max_frame_bytes: usize) -> Self {
        // Small frames, pipelined: do not wait to coalesce (we batch ourselves).
        let _ = stream.set_nodelay(true);
        // Detect dead peers (partition, host gone) without relying on traffic.
        let socket = socket2::SockRef::from(&stream);
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(3);
        let _ = socket.set_tcp_keepalive(&keepalive);
        #[cfg(target_os = "linux")]
        let _ = socket.set_tcp_user_timeout(Some(UNACKED_TIMEOUT));
        Framed {
            stream: Arc::new(stream),
            buffer: FrameBuffer::new(),
            max_frame_bytes,
            out: Vec::new(),
            opener: None,
        }
    }

    /// From now on, reads are records sealed with `keys`: bytes already
    /// read past the handshake are the first of them.
    pub fn decrypt_with(&mut self, keys: Arc<Keys>) {
        self.opener = Some(Opener::new(keys, self.buffer.take_pending()));
    }

    /// Sets the largest frame accepted from now on: [`HANDSHAKE_FRAME_BYTES_MAX`]
    /// until the handshake completes, the cluster's limit after.
    pub fn set_max_frame_bytes(&mut self, max_frame_bytes: usize) {
        self.max_frame_bytes = max_frame_bytes;
    }

    /// The peer's address, for logs.
    pub fn peer_addr(&self) -> String {
        self.stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".to_string())
    }

    /// Reads the next frame. A partial frame at end of stream is
    /// [`CodecError::Truncated`]; a clean end between frames is [`ConnError::Closed`].
    pub async fn read_frame<M: DeserializeOwned>(&mut self) -> Result<Frame<M>, ConnError> {
        let mut frame = None;
        std::future::poll_fn(|cx| self.poll_read_each(cx, 1, |f| frame = Some(f))).await?;
        // A successful read took at least one frame.
        frame.ok_or(ConnError::Closed)
    }

    /// Reads more bytes from the socket into the buffer; the end of the
    /// stream is [`ConnError::Closed`] between frames and a codec error
    /// inside one. `Pending` registers `cx` for readability.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnError>> {
        loop {
            // Encrypted: whole records read already are opened first.
            if let Some(opener) = &mut self.opener {
                match opener.open_into(self.buffer.spare()) {
                    Ok(0) => {}
                    Ok(_) => return Poll::Ready(Ok(())),
                    Err(error) => return Poll::Ready(Err(ConnError::Crypt(error.to_string()))),
                }
            }
            ready!(self.stream.poll_read_ready(cx))?;
            let spare = match &mut self.opener {
                Some(opener) => {
                    let spare = opener.spare();
                    spare.reserve(READ_CHUNK_BYTES);
                    spare
                }
                None => {
                    let spare = self.buffer.spare();
                    // Before login the limit is small, and so is what a read may
                    // take: a connection that has not logged in holds a few KiB.
                    spare.reserve(READ_CHUNK_BYTES.min(self.max_frame_bytes + codec::LENGTH_BYTES));
                    spare
                }
            };
            let room = spare.capacity() - spare.len();
            // A read that did not fill the room drained the socket: report it
            // as `WouldBlock` to `try_io`, which then clears the readiness
            // (unless more bytes arrived meanwhile), so the next poll waits
            // for the kernel instead of paying a read that finds nothing.
            let mut got = None;
            let read = self.stream.try_io(Interest::READABLE, || {
                let n = self.stream.try_read_buf(spare)?;
                got = Some(n);
                if n > 0 && n < room {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            });
            match got.map_or(read, Ok) {
                Ok(0) => {
                    if self.opener.as_ref().is_some_and(Opener::is_partial) {
                        return Poll::Ready(Err(ConnError::Crypt(
                            "the stream ended inside a record".into(),
                        )));
                    }
                    return Poll::Ready(Err(match self.buffer.at_eof(self.max_frame_bytes) {
                        Some(error) => ConnError::Codec(error),
                        None => ConnError::Closed,
                    }));
                }
                // Ciphertext: back to the top to open what arrived.
                Ok(_) if self.opener.is_some() => {}
                Ok(_) => return Poll::Ready(Ok(())),
                // Readiness was stale: poll again, which re-registers `cx`.
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error.into())),
            }
        }
    }

    /// Reads at least one frame, then every further whole frame already
    /// buffered, up to `max` in all, appending them to `out`; returns the wire
    /// bytes (prefixes included) they took. One call decodes what one socket
    /// read brought, so the caller can hand the frames on in one go.
    ///
    /// Errors are as for [`Framed::read_frame`]; a bad frame after good ones
    /// is reported by the next call, after the good ones were returned.
    pub async fn read_frames<M: DeserializeOwned>(
        &mut self,
        max: usize,
        out: &mut Vec<Frame<M>>,
    ) -> Result<usize, ConnError> {
        std::future::poll_fn(|cx| self.poll_read_each(cx, max, |frame| out.push(frame))).await
    }

    /// [`Framed::read_frames`] as a poll, handing each frame to `each` as it
    /// is decoded: a node that reads its connections itself runs each
    /// handler right there, without a buffer in between.
    pub fn poll_read_each<M: DeserializeOwned>(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        mut each: impl FnMut(Frame<M>),
    ) -> Poll<Result<usize, ConnError>> {
        let max = max.max(1);
        let start = self.buffer.consumed();
        let mut taken = 0;
        loop {
            while taken < max {
                match self.buffer.next_frame(self.max_frame_bytes) {
                    Ok(Some(frame)) => {
                        taken += 1;
                        each(frame);
                    }
                    Ok(None) => break,
                    Err(_) if taken > 0 => break,
                    Err(error) => return Poll::Ready(Err(error.into())),
                }
            }
            if taken > 0 {
                return Poll::Ready(Ok(self.buffer.consumed().wrapping_sub(start)));
            }
            ready!(self.poll_fill(cx))?;
        }
    }

    /// The socket, for a writer that shares it with this reader: both sides
    /// of a connection carry messages, so after the handshake the link
    /// writes through `try_write` while the node reads here.
    pub fn stream(&self) -> Arc<TcpStream> {
        Arc::clone(&self.stream)
    }

    /// Encodes `frame` into the pending batch (not yet sent).
    pub fn push<M: Serialize>(&mut self, frame: &Frame<M>) -> Result<usize, CodecError> {
        let before = self.out.len();
        codec::encode(frame, self.max_frame_bytes, &mut self.out)?;
        Ok(self.out.len() - before)
    }

    /// Sends the pending batch (used during the handshake, before the
    /// socket is shared).
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        let mut written = 0;
        while written < self.out.len() {
            self.stream.writable().await?;
            match self.stream.try_write(&self.out[written..]) {
                Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
                Ok(n) => written += n,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error.into()),
            }
        }
        self.out.clear();
        Ok(())
    }

    /// Encodes and sends one frame.
    pub async fn write_frame<M: Serialize>(&mut self, frame: &Frame<M>) -> Result<(), ConnError> {
        self.push(frame)?;
        self.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, Framed) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let dialer = TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        (dialer, Framed::new(accepted, 64))
    }

    #[tokio::test]
    async fn read_frames_returns_what_one_read_brought_then_the_bad_frame() {
        let (mut peer, mut conn) = pair().await;
        let mut bytes = Vec::new();
        for n in 0..5u32 {
            codec::encode(&Frame::Data(n), 64, &mut bytes).expect("small");
        }
        let good = bytes.len();
        // A zero length prefix: no frame is empty.
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        peer.write_all(&bytes).await.expect("write");
        peer.shutdown().await.expect("shutdown");
        let mut out: Vec<Frame<u32>> = Vec::new();
        let mut taken = 0;
        // One to three frames per call, then the bad frame is reported
        // after every good one was returned. Bounded: 10 calls at most.
        for _ in 0..10 {
            let before = out.len();
            match conn.read_frames(3, &mut out).await {
                Ok(used) => {
                    taken += used;
                    assert!((1..=3).contains(&(out.len() - before)));
                }
                Err(error) => {
                    assert!(matches!(error, ConnError::Codec(CodecError::Empty)));
                    break;
                }
            }
        }
        assert_eq!(taken, good);
        assert_eq!(out, (0..5).map(Frame::Data).collect::<Vec<_>>());
    }
}
