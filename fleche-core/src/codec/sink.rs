//! Where the encoder writes: a byte vector, or a BLAKE3 hasher.

use crate::Digest;

/// A destination for encoded bytes.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    fn put_byte(&mut self, byte: u8);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }
}

/// Feeds a BLAKE3 hasher through a buffer, so that many tiny writes (one per
/// integer of a long list) cost a memcpy each, and large byte strings go to
/// the hasher directly without a copy.
pub(crate) struct HashSink {
    hasher: blake3::Hasher,
    buf: Vec<u8>,
}

const BUF: usize = 64 * 1024;
const DIRECT: usize = 16 * 1024;

impl HashSink {
    pub(crate) fn new(hasher: blake3::Hasher) -> Self {
        Self {
            hasher,
            buf: Vec::new(),
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    pub(crate) fn into_hasher(mut self) -> blake3::Hasher {
        self.flush();
        self.hasher
    }

    pub(crate) fn finish(self) -> Digest {
        self.into_hasher().finalize().into()
    }
}

impl Sink for HashSink {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if bytes.len() >= DIRECT {
            self.flush();
            self.hasher.update(bytes);
            return;
        }
        if self.buf.len() + bytes.len() > BUF {
            self.flush();
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve(BUF);
        }
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        if self.buf.len() >= BUF {
            self.flush();
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve(BUF);
        }
        self.buf.push(byte);
    }
}
