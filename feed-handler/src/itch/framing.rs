//! Nasdaq's raw daily-file framing: each message is preceded by its length as a
//! 2-byte big-endian integer.

use core::iter::FusedIterator;

use super::error::FramingError;

/// Iterator over the messages of a buffer in Nasdaq's raw file format (a 2-byte
/// big-endian length, then that many bytes of message, repeated).
///
/// Yields each message (without its prefix) as a sub-slice of the buffer, ready for
/// [`super::parse`]. A zero-length prefix yields an empty message (which `parse`
/// rejects as [`super::ItchError::Empty`]). If the buffer ends inside a prefix or a
/// message, the iterator yields one [`FramingError`] naming the offset and the
/// lengths, and then ends. It never panics and never allocates.
///
/// ```
/// use hotpath_feed::itch::{parse, LengthPrefixed, Message};
///
/// let file: &[u8] = &[0, 12, b'S', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'O'];
/// for msg in LengthPrefixed::new(file) {
///     match parse(msg.unwrap()).unwrap() {
///         Message::SystemEvent(m) => assert_eq!(m.event_code(), b'O'),
///         other => panic!("unexpected {other:?}"),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct LengthPrefixed<'a> {
    rest: &'a [u8],
    total: usize,
}

impl<'a> LengthPrefixed<'a> {
    /// Iterates over the messages of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        LengthPrefixed {
            rest: buf,
            total: buf.len(),
        }
    }

    /// Offset in the buffer of the next length prefix: the bytes consumed so far.
    /// After an error this is the buffer's length.
    #[inline]
    pub fn offset(&self) -> usize {
        self.total - self.rest.len()
    }

    /// The bytes not consumed yet (empty after an error).
    #[inline]
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for LengthPrefixed<'a> {
    type Item = Result<&'a [u8], FramingError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let (prefix, after) = match rest {
            [] => return None,
            [hi, lo, after @ ..] => (u16::from_be_bytes([*hi, *lo]) as usize, after),
            [_] => {
                let offset = self.offset();
                self.rest = &[];
                return Some(Err(FramingError::TruncatedLength {
                    offset,
                    available: 1,
                }));
            }
        };
        if prefix <= after.len() {
            let (msg, next) = after.split_at(prefix);
            self.rest = next;
            Some(Ok(msg))
        } else {
            let offset = self.offset();
            self.rest = &[];
            Some(Err(FramingError::TruncatedMessage {
                offset,
                declared: prefix,
                available: after.len(),
            }))
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        // Each item consumes at least 2 bytes, except a final error, which consumes 1.
        let n = self.rest.len();
        (usize::from(n > 0), Some(n.div_ceil(2)))
    }
}

impl FusedIterator for LengthPrefixed<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_messages_and_reports_offsets() {
        let buf = [0, 2, b'a', b'b', 0, 0, 0, 1, b'c'];
        let mut it = LengthPrefixed::new(&buf);
        assert_eq!(it.next(), Some(Ok(&b"ab"[..])));
        assert_eq!(it.offset(), 4);
        assert_eq!(it.next(), Some(Ok(&b""[..])));
        assert_eq!(it.next(), Some(Ok(&b"c"[..])));
        assert_eq!(it.offset(), buf.len());
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn truncated_message_is_reported_once() {
        let buf = [0, 1, b'x', 0, 5, 1, 2];
        let mut it = LengthPrefixed::new(&buf);
        assert_eq!(it.next(), Some(Ok(&b"x"[..])));
        assert_eq!(
            it.next(),
            Some(Err(FramingError::TruncatedMessage {
                offset: 3,
                declared: 5,
                available: 2
            }))
        );
        assert_eq!(it.next(), None);
        assert!(it.remainder().is_empty());
    }

    #[test]
    fn truncated_prefix_is_reported_once() {
        let buf = [0, 1, b'x', 7];
        let items: Vec<_> = LengthPrefixed::new(&buf).collect();
        assert_eq!(
            items,
            vec![
                Ok(&b"x"[..]),
                Err(FramingError::TruncatedLength {
                    offset: 3,
                    available: 1
                })
            ]
        );
    }
}
