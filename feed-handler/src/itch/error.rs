//! Errors of the ITCH codec.

use core::fmt;

/// Why [`super::parse`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ItchError {
    /// The message has no bytes at all, so not even a type byte.
    #[error("empty ITCH message: no type byte")]
    Empty,
    /// The type byte is not one of the 23 ITCH 5.0 types. The caller can skip the
    /// message (it knows its length from the framing) and count it.
    #[error("unknown ITCH 5.0 message type {} in a {len}-byte message", TypeByte(*.ty))]
    UnknownType {
        /// The type byte.
        ty: u8,
        /// The message's length, type byte included.
        len: usize,
    },
    /// The type is known but the message is not exactly that type's length.
    #[error(
        "ITCH {} message (type {}) must be {expected} bytes, got {actual}",
        super::type_name(*.ty).unwrap_or("?"),
        TypeByte(*.ty)
    )]
    BadLength {
        /// The type byte.
        ty: u8,
        /// The type's length, type byte included.
        expected: usize,
        /// The message's length.
        actual: usize,
    },
}

impl ItchError {
    /// The type byte the error is about, if the message had one.
    pub fn msg_type(&self) -> Option<u8> {
        match *self {
            ItchError::Empty => None,
            ItchError::UnknownType { ty, .. } | ItchError::BadLength { ty, .. } => Some(ty),
        }
    }
}

/// Why [`super::LengthPrefixed`] stopped before the end of its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FramingError {
    /// Fewer than the 2 bytes of a length prefix are left.
    #[error("truncated length prefix at offset {offset}: 2 bytes needed, {available} left")]
    TruncatedLength {
        /// Offset of the partial prefix in the buffer.
        offset: usize,
        /// Bytes left at that offset: always 1, since an empty remainder simply ends
        /// the iteration.
        available: usize,
    },
    /// The length prefix announces more bytes than are left.
    #[error(
        "truncated message at offset {offset}: its length prefix says {declared} bytes, \
         {available} left after the prefix"
    )]
    TruncatedMessage {
        /// Offset of the message's length prefix in the buffer.
        offset: usize,
        /// The length the prefix announces.
        declared: usize,
        /// The bytes left after the prefix.
        available: usize,
    },
}

impl FramingError {
    /// Offset in the buffer of the length prefix that could not be completed.
    pub fn offset(&self) -> usize {
        match *self {
            FramingError::TruncatedLength { offset, .. }
            | FramingError::TruncatedMessage { offset, .. } => offset,
        }
    }
}

/// Shows a type byte as `'A'` when printable, else as `0x00`.
pub(crate) struct TypeByte(pub(crate) u8);

impl fmt::Display for TypeByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "{:#04x}", self.0)
        }
    }
}
