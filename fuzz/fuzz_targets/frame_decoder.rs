//! Feeds arbitrary bytes to the frame decoder, whole and in pieces: it must
//! never panic, never accept an oversize frame, and both ways of feeding must
//! agree on the frames decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prophet_runtime::codec::{self, CodecError, Frame, FrameBuffer};

const MAX: usize = 4096;

type Msg = (u32, Vec<u8>, Option<String>);

fuzz_target!(|data: &[u8]| {
    let whole = codec::decode_all::<Msg>(data, MAX);
    // Feed the same bytes in chunks whose size comes from the first byte.
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut buffer = FrameBuffer::new();
    let mut frames: Vec<Frame<Msg>> = Vec::new();
    let mut error = None;
    'feed: for piece in data.chunks(chunk) {
        buffer.spare().extend_from_slice(piece);
        loop {
            match buffer.next_frame::<Msg>(MAX) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    if error.is_none() {
        error = buffer.at_eof(MAX);
    }
    match (whole, error) {
        (Ok(all), None) => assert_eq!(all, frames),
        (Err(CodecError::Truncated { .. }), Some(CodecError::Truncated { .. })) => {}
        (Err(a), Some(b)) => assert_eq!(std::mem::discriminant(&a), std::mem::discriminant(&b)),
        (whole, streamed) => panic!("whole {whole:?} vs streamed {streamed:?}"),
    }
    // Every frame re-encodes within the limit.
    for frame in &frames {
        let mut out = Vec::new();
        codec::encode(frame, MAX, &mut out).expect("a decoded frame re-encodes");
    }
});
