//! Messages that cross a process boundary.
//!
//! A message type is `#[repr(C)]`, derives zerocopy's traits (so any bytes read from
//! shared memory are a valid value and the value has no padding to leak), and carries a
//! layout hash computed at compile time from its name, size, alignment and every field's
//! name, type and offset. The hash is stored in each ring file's header; attaching with
//! a different type (or a changed layout of the same type) is refused with
//! [`ShmError::IncompatibleType`](crate::ShmError::IncompatibleType).
//!
//! Declare messages with [`shm_message!`](crate::shm_message), which also asserts the
//! size at compile time:
//!
//! ```
//! hotpath_shm::shm_message! {
//!     /// A sequenced test message.
//!     pub struct Tick (size = 16) {
//!         pub seq: u64,
//!         pub price: i64,
//!     }
//! }
//! use hotpath_shm::ShmMessage;
//! assert_eq!(Tick::TYPE_NAME, "Tick");
//! assert_ne!(Tick::LAYOUT_HASH, 0);
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A fixed-size, plain-old-data message that may live in shared memory.
pub trait ShmMessage:
    FromBytes + IntoBytes + Immutable + KnownLayout + Copy + Send + 'static
{
    /// The type's name, stored in ring headers for error messages and `hotpath shm ls`.
    const TYPE_NAME: &'static str;
    /// FNV-1a hash of the type's layout (name, size, alignment, fields).
    const LAYOUT_HASH: u64;
}

/// FNV-1a offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds a string into an FNV-1a hash (usable in `const`).
pub const fn fnv_str(mut h: u64, s: &str) -> u64 {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    // A separator, so ("ab","c") and ("a","bc") differ.
    h ^= 0xff;
    h.wrapping_mul(FNV_PRIME)
}

/// Folds an integer into an FNV-1a hash (usable in `const`).
pub const fn fnv_u64(mut h: u64, v: u64) -> u64 {
    let b = v.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        h ^= b[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// Declares a `#[repr(C)]` shared-memory message with zerocopy derives, a compile-time
/// size assertion and an [`ShmMessage`] impl whose layout hash covers every field.
///
/// The crate using it needs no dependency on zerocopy: the derives go through this
/// crate's re-export.
#[macro_export]
macro_rules! shm_message {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident (size = $size:expr) {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq,
            $crate::__zerocopy::FromBytes, $crate::__zerocopy::IntoBytes,
            $crate::__zerocopy::Immutable, $crate::__zerocopy::KnownLayout
        )]
        #[zerocopy(crate = "hotpath_shm::__zerocopy")]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),*
        }

        const _: () = assert!(
            ::core::mem::size_of::<$name>() == $size,
            concat!("shm message `", stringify!($name), "` changed size: update it and bump the layout version")
        );
        const _: () = assert!(::core::mem::align_of::<$name>() <= 64);

        impl $crate::ShmMessage for $name {
            const TYPE_NAME: &'static str = stringify!($name);
            const LAYOUT_HASH: u64 = {
                let mut h = $crate::message::FNV_OFFSET;
                h = $crate::message::fnv_str(h, stringify!($name));
                h = $crate::message::fnv_u64(h, ::core::mem::size_of::<$name>() as u64);
                h = $crate::message::fnv_u64(h, ::core::mem::align_of::<$name>() as u64);
                $(
                    h = $crate::message::fnv_str(h, stringify!($field));
                    h = $crate::message::fnv_str(h, stringify!($ty));
                    h = $crate::message::fnv_u64(h, ::core::mem::offset_of!($name, $field) as u64);
                )*
                h
            };
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::ShmMessage;

    crate::shm_message! {
        struct A (size = 16) { x: u64, y: u64 }
    }
    mod other {
        crate::shm_message! {
            pub struct A (size = 16) { pub y: u64, pub x: u64 }
        }
    }
    mod renamed {
        crate::shm_message! {
            pub struct A (size = 16) { pub x: u64, pub z: u64 }
        }
    }
    mod retyped {
        crate::shm_message! {
            pub struct A (size = 16) { pub x: u64, pub y: i64 }
        }
    }

    #[test]
    fn layout_hash_sees_field_order_names_and_types() {
        assert_ne!(A::LAYOUT_HASH, other::A::LAYOUT_HASH);
        assert_ne!(A::LAYOUT_HASH, renamed::A::LAYOUT_HASH);
        assert_ne!(A::LAYOUT_HASH, retyped::A::LAYOUT_HASH);
        let a = A { x: 1, y: 2 };
        assert_eq!(a.x + a.y, 3);
    }

    #[test]
    fn fnv_separates_concatenations() {
        let h1 = super::fnv_str(super::fnv_str(super::FNV_OFFSET, "ab"), "c");
        let h2 = super::fnv_str(super::fnv_str(super::FNV_OFFSET, "a"), "bc");
        assert_ne!(h1, h2);
    }
}
