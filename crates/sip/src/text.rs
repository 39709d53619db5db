//! [`Text`]: a cheap, immutable string slice that shares the buffer it was parsed from.
//!
//! A parsed message keeps its header section in one reference-counted buffer; every header
//! value, URI and parameter is a [`Text`] pointing into it. Cloning is a reference-count
//! increment, never a copy, so typed views can own their pieces without lifetimes.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

/// An immutable UTF-8 string that is a range of a shared buffer.
#[derive(Clone)]
pub struct Text {
    buf: Arc<str>,
    start: u32,
    end: u32,
}

impl Text {
    /// Wraps a whole shared buffer.
    ///
    /// Buffers longer than `u32::MAX` bytes are never produced by the parser (messages are
    /// limited far below that); for such input the text is cut at the last character boundary
    /// that fits.
    pub fn from_shared(buf: Arc<str>) -> Text {
        let mut end = buf.len().min(u32::MAX as usize);
        while !buf.is_char_boundary(end) {
            end -= 1;
        }
        Text {
            buf,
            start: 0,
            end: end as u32,
        }
    }

    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        // Invariant: start..end lies on char boundaries of `buf` (checked when built).
        &self.buf[self.start as usize..self.end as usize]
    }

    /// A sub-range of this text (byte offsets relative to this text).
    ///
    /// # Panics
    /// If the range is out of bounds or not on character boundaries: that is a bug in the
    /// caller (parsers only slice at ASCII delimiters they found).
    pub fn slice(&self, range: Range<usize>) -> Text {
        let s = self.as_str();
        assert!(
            range.start <= range.end
                && range.end <= s.len()
                && s.is_char_boundary(range.start)
                && s.is_char_boundary(range.end),
            "Text::slice out of bounds or off a char boundary"
        );
        Text {
            buf: self.buf.clone(),
            start: self.start + range.start as u32,
            end: self.start + range.end as u32,
        }
    }

    /// The sub-text equal to `part`, which must be a sub-slice of `self.as_str()` (same
    /// memory). Falls back to a fresh copy when `part` is not inside this text.
    pub fn slice_ref(&self, part: &str) -> Text {
        let s = self.as_str();
        let base = s.as_ptr() as usize;
        let p = part.as_ptr() as usize;
        if p >= base && p + part.len() <= base + s.len() {
            self.slice(p - base..p - base + part.len())
        } else {
            Text::from(part)
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::from_shared(Arc::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::from_shared(Arc::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::from(s.as_str())
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer_and_compare_by_content() {
        let t = Text::from("Call-ID: abc");
        let v = t.slice(9..12);
        assert_eq!(v, "abc");
        assert_eq!(v, Text::from("abc"));
        let again = t.slice_ref(&t.as_str()[0..7]);
        assert_eq!(again, "Call-ID");
    }

    #[test]
    fn slice_ref_of_foreign_str_copies() {
        let t = Text::from("abc");
        assert_eq!(t.slice_ref("zzz"), "zzz");
    }
}
