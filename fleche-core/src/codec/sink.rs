//! Where the encoder writes: a byte vector, or a BLAKE3 hasher.

/// A destination for encoded bytes.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    fn put_byte(&mut self, byte: u8);
}

impl Sink for Vec<u8> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline(always)]
    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }
}

/// Feeds a borrowed BLAKE3 hasher through a buffer that grows as needed up
/// to BUF (so a tiny value costs one small allocation, not 64 KiB).
pub(crate) struct HashSink<'h> {
    hasher: &'h mut blake3::Hasher,
    buf: Vec<u8>,
}

const BUF: usize = 64 * 1024;
const DIRECT: usize = 16 * 1024;

impl<'h> HashSink<'h> {
    pub(crate) fn new(hasher: &'h mut blake3::Hasher) -> Self {
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

    pub(crate) fn done(mut self) {
        self.flush();
    }
}

impl Sink for HashSink<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if bytes.len() >= DIRECT {
            self.flush();
            self.hasher.update(bytes);
            return;
        }
        if self.buf.len() + bytes.len() > BUF {
            self.flush();
        }
        self.buf.extend_from_slice(bytes);
    }

    #[inline(always)]
    fn put_byte(&mut self, byte: u8) {
        if self.buf.len() >= BUF {
            self.flush();
        }
        self.buf.push(byte);
    }
}
