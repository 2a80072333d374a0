//! A job's items as a request delivers them, kept out of memory until the job is stored.
//!
//! A bulk request of 1,000,000 items is parsed as it arrives, item by item; each item
//! is written here, to an unnamed temporary file (deleted by the system when the file is
//! closed, and never seen by another process: a server killed mid-request leaves
//! nothing behind). The transaction that stores the job then reads the items back in
//! batches. Memory is one batch, whatever the request's size.
//!
//! [`Repeats`] finds a key (a case id, an external id) given twice without keeping the
//! keys: it keeps a 64-bit hash of each, and a key whose hash was seen before is a
//! suspect, checked exactly by a second pass over the spool (only when there is one).

use std::collections::HashSet;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Items being written: `(key, item)` pairs, in order.
pub struct SpoolWriter {
    out: BufWriter<File>,
    len: u64,
}

/// Items written: read back with [`ItemSpool::reader`], as often as needed.
#[derive(Debug)]
pub struct ItemSpool {
    file: File,
    len: u64,
}

impl SpoolWriter {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?),
            len: 0,
        })
    }

    pub fn push(&mut self, key: &str, item: &str) -> io::Result<()> {
        for part in [key, item] {
            let n = u32::try_from(part.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "item too large"))?;
            self.out.write_all(&n.to_le_bytes())?;
            self.out.write_all(part.as_bytes())?;
        }
        self.len += 1;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> io::Result<ItemSpool> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(ItemSpool {
            file,
            len: self.len,
        })
    }
}

impl ItemSpool {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items from the first.
    pub fn reader(&self) -> io::Result<SpoolReader<'_>> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(SpoolReader {
            input: BufReader::with_capacity(256 * 1024, file),
            left: self.len,
        })
    }
}

/// Reads a spool's items in order.
pub struct SpoolReader<'a> {
    input: BufReader<&'a File>,
    left: u64,
}

impl SpoolReader<'_> {
    fn part(&mut self) -> io::Result<String> {
        let mut n = [0u8; 4];
        self.input.read_exact(&mut n)?;
        let mut bytes = vec![0u8; u32::from_le_bytes(n) as usize];
        self.input.read_exact(&mut bytes)?;
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// The next item, or `None` after the last.
    pub fn next_item(&mut self) -> io::Result<Option<(String, String)>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        Ok(Some((self.part()?, self.part()?)))
    }

    /// Up to `n` next items (none after the last).
    pub fn batch(&mut self, n: usize) -> io::Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(n.min(usize::try_from(self.left).unwrap_or(n)));
        while out.len() < n {
            match self.next_item()? {
                Some(item) => out.push(item),
                None => break,
            }
        }
        Ok(out)
    }
}

/// Keys given more than once, found in two passes: [`Repeats::note`] each key as it
/// comes (8 bytes a key), then, if [`Repeats::suspected`], check the suspects exactly.
#[derive(Default)]
pub struct Repeats {
    hasher: std::collections::hash_map::RandomState,
    seen: HashSet<u64>,
    suspects: HashSet<u64>,
}

impl Repeats {
    pub fn note(&mut self, key: &str) {
        let h = self.hasher.hash_one(key);
        if !self.seen.insert(h) {
            self.suspects.insert(h);
        }
    }

    /// Whether some key may have come twice (no key did when this is false).
    pub fn suspected(&self) -> bool {
        !self.suspects.is_empty()
    }

    /// Whether `key` may be one that came twice.
    pub fn is_suspect(&self, key: &str) -> bool {
        self.suspects.contains(&self.hasher.hash_one(key))
    }

    /// The first pass is over: its memory goes, the suspects stay.
    pub fn noted(&mut self) {
        self.seen = HashSet::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_in_order_as_often_as_asked() {
        let mut w = SpoolWriter::new().unwrap();
        for i in 0..2_500 {
            w.push(&format!("c-{i}"), &format!("{{\"n\":{i}}}"))
                .unwrap();
        }
        w.push("", "").unwrap();
        let spool = w.finish().unwrap();
        assert_eq!(spool.len(), 2_501);
        for _ in 0..2 {
            let mut r = spool.reader().unwrap();
            let first = r.batch(1_000).unwrap();
            assert_eq!(first[0], ("c-0".to_owned(), "{\"n\":0}".to_owned()));
            assert_eq!(r.batch(1_000).unwrap().len(), 1_000);
            let last = r.batch(1_000).unwrap();
            assert_eq!(last.len(), 501);
            assert_eq!(last[500], (String::new(), String::new()));
            assert!(r.batch(1_000).unwrap().is_empty());
        }
    }

    #[test]
    fn a_repeated_key_is_a_suspect_and_distinct_keys_are_not() {
        let mut r = Repeats::default();
        for i in 0..10_000 {
            r.note(&format!("c-{i}"));
        }
        assert!(!r.suspected());
        r.note("c-42");
        r.noted();
        assert!(r.suspected() && r.is_suspect("c-42"));
        assert!(!r.is_suspect("c-43"));
    }
}
