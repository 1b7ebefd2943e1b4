//! The snapshot format's bytes: a header, tagged length-prefixed blocks,
//! and a checksum over everything before it.
//!
//! ```text
//! "DYNMEMSN"  8 bytes        magic
//! version     u16 LE         FORMAT_VERSION
//! kind        u8             1 Host, 2 Fleet
//! blocks      (tag u8, length u64 LE, payload)*   until tag END
//! END         u8 = 0
//! checksum    u64 LE         FNV-1a 64 of every byte before it
//! ```
//!
//! Numbers are little-endian; f64 as their bits (exact, NaN and ∞ kept);
//! a vector is its length (u64) then its items; a string its UTF-8 length
//! then its bytes. Readers check every length against what is left, so a
//! cut or corrupted snapshot is an error, never a panic or a huge
//! allocation.

use crate::error::{Error, ErrorKind, Result, Value};

pub const MAGIC: &[u8; 8] = b"DYNMEMSN";
/// The format's version: a reader takes this version only (a later one
/// that adds a block bumps it and reads the older ones too).
pub const FORMAT_VERSION: u16 = 4;

/// What a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Host = 1,
    Fleet = 2,
}

/// Block tags. Version 2 added `POLICY` (the allocation policy, after
/// `MECHANICS`); version 3 ends the `HOST` block with the Windows Server
/// release (u8) and the Smart Paging column (u32 per VM); version 4 (the
/// pressure statistics as piecewise-constant integrals) ends it with each
/// VM's open interval's pressure (`p_now`, f64, NaN for none), `p_sum` now
/// kept against the host clock.
pub mod tag {
    pub const END: u8 = 0;
    pub const MECHANICS: u8 = 1;
    pub const POLICY: u8 = 2;
    pub const HOST: u8 = 3;
    pub const FLEET: u8 = 4;
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The error of a snapshot that cannot be read: a `Config` error on
/// field `snapshot`.
pub fn bad(what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Config,
        Some("snapshot"),
        Value::None,
        format!("snapshot is not a valid dynmem snapshot: {what}"),
    )
}

#[derive(Default)]
pub struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub fn new(kind: Kind) -> Writer {
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u16(FORMAT_VERSION);
        w.u8(kind as u8);
        w
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }
    /// A block: its tag, then what `body` writes, length-prefixed.
    pub fn block(&mut self, tag: u8, body: impl FnOnce(&mut Writer)) {
        self.u8(tag);
        let at = self.buf.len();
        self.u64(0);
        body(self);
        let len = (self.buf.len() - at - 8) as u64;
        self.buf[at..at + 8].copy_from_slice(&len.to_le_bytes());
    }
    pub fn vec<T: Copy>(&mut self, v: &[T], put: impl Fn(&mut Writer, T)) {
        self.u64(v.len() as u64);
        for &x in v {
            put(self, x);
        }
    }
    pub fn finish(mut self) -> Vec<u8> {
        self.u8(tag::END);
        let sum = fnv1a(&self.buf);
        self.u64(sum);
        self.buf
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Checks the magic, version, kind and checksum; the reader starts at
    /// the first block.
    pub fn open(data: &'a [u8], kind: Kind) -> Result<Reader<'a>> {
        if data.len() < 8 || &data[..8] != MAGIC {
            return Err(bad(
                "it does not start with the dynmem snapshot header (a foreign or empty file?)",
            ));
        }
        if data.len() < 8 + 2 + 1 + 1 + 8 {
            return Err(bad(format!("it is cut short ({} bytes)", data.len())));
        }
        let version = u16::from_le_bytes([data[8], data[9]]);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}; this dynmem reads version {FORMAT_VERSION}"
            )));
        }
        let (body, sum) = data.split_at(data.len() - 8);
        if fnv1a(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(bad("its checksum does not match (corrupted or cut short)"));
        }
        let k = data[10];
        if k != kind as u8 {
            let what = |k: u8| match k {
                1 => "a Host".to_string(),
                2 => "a Fleet".to_string(),
                k => format!("kind {k}"),
            };
            return Err(bad(format!("it holds {}, not {}", what(k), what(kind as u8))));
        }
        Ok(Reader { buf: body, at: 11 })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.at < n {
            return Err(bad(format!("it ends inside a value at byte {}", self.at)));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A length of items of `size` bytes each that fit in what is left.
    pub fn len(&mut self, size: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.at) as u64;
        if n.saturating_mul(size.max(1) as u64) > left {
            return Err(bad(format!("a length of {n} at byte {} runs past its end", self.at)));
        }
        Ok(n as usize)
    }
    pub fn str(&mut self) -> Result<&'a str> {
        let n = self.len(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| bad("a name is not UTF-8"))
    }
    pub fn vec<T>(&mut self, size: usize, get: impl Fn(&mut Reader<'a>) -> Result<T>) -> Result<Vec<T>> {
        let n = self.len(size)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(get(self)?);
        }
        Ok(v)
    }
    /// The next block's tag and a reader over its payload alone.
    pub fn block(&mut self) -> Result<(u8, Reader<'a>)> {
        let t = self.u8()?;
        if t == tag::END {
            return Ok((t, Reader { buf: &[], at: 0 }));
        }
        let n = self.len(1)?;
        let body = self.take(n)?;
        Ok((t, Reader { buf: body, at: 0 }))
    }
    /// The next block, which must be `want`.
    pub fn expect(&mut self, want: u8) -> Result<Reader<'a>> {
        let (t, r) = self.block()?;
        if t != want {
            return Err(bad(format!("block {t} where block {want} belongs")));
        }
        Ok(r)
    }
    /// Nothing may be left.
    pub fn done(&self) -> Result<()> {
        if self.at != self.buf.len() {
            return Err(bad(format!(
                "{} unexpected bytes at byte {}",
                self.buf.len() - self.at,
                self.at
            )));
        }
        Ok(())
    }
}
