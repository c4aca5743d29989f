// SPDX-License-Identifier: MIT OR Apache-2.0
//! Messages: the tag in MR0, the untyped words, the map and grant items.
//!
//! An IPC message lives in the sender's 64 message registers (MRs). MR0 is the tag: a
//! label the receiver dispatches on and the count of words that follow. Then come
//! `u` untyped words, copied as they are, then `t` typed words: pairs that each
//! describe a map or grant of a flexpage, which the kernel *performs* during the IPC
//! instead of copying. That is how memory moves between address spaces in L4, page
//! faults included: the pager answers a fault message with a map item.
//!
//! MR0..MR4 travel in registers (`x3..x7`), so short messages (a fault, a reply)
//! never touch memory; MR5..MR63 are in the UTCB.
//!
//! # Design
//! ```text
//!  MR0 (tag):  bit 63    32 31          16 15    12 11     6 5      0
//!             |  must be 0 |    label     |  flags  |   t    |   u    |
//!  flags: bit 12 = propagate (reserved in v1); all four must be 0 in v1
//!
//!  MR1 .. MRu            untyped words
//!  MRu+1 .. MRu+t        typed items, two words each:
//!     word 0:  bit 63            12 11    4 3    0
//!             |  send base         |  0    | kind |   kind 0x8 map, 0xA grant
//!     word 1:  a flexpage in the sender's space
//! ```
//! Every rule is checked when a tag or item is decoded, so a [`Tag`] or [`TypedItem`]
//! value is always well formed; a malformed one is named by [`TagError`] or
//! [`ItemError`] (the kernel answers [`Error::InvalidArgument`], or
//! [`Error::MessageOverflow`] for more words than the registers hold).
//!
//! # References
//! L4 X.2 reference manual, 5.1 "Messages and message registers" (MsgTag, typed
//! items) and 5.2 "Map/grant items".
#![forbid(unsafe_code)]

use core::fmt;

use crate::error::Error;
use crate::fpage::{Fpage, FpageError};

/// Message registers per thread (MR0..MR63).
pub const MR_COUNT: usize = 64;
/// Most words after the tag (u + t): MR1..MR63.
pub const MAX_WORDS: u8 = 63;
/// Message registers passed in CPU registers: MR0..MR4 in `x3..x7`.
pub const REGISTER_MRS: usize = 5;
/// Words per typed item.
pub const ITEM_WORDS: u8 = 2;

/// Why a word is not a valid message tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagError {
    /// Bits 63..32 are not 0.
    HighBits,
    /// A flag bit (15..12) is set; none is defined for senders in v1.
    ReservedFlags,
    /// `u + t` exceeds 63: the message does not fit MR1..MR63.
    TooManyWords {
        /// Untyped words claimed.
        u: u8,
        /// Typed words claimed.
        t: u8,
    },
    /// `t` is odd: typed items are two words each.
    OddTypedWords {
        /// Typed words claimed.
        t: u8,
    },
}

impl From<TagError> for Error {
    fn from(e: TagError) -> Error {
        match e {
            TagError::TooManyWords { .. } => Error::MessageOverflow,
            _ => Error::InvalidArgument,
        }
    }
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagError::HighBits => f.write_str("tag bits 63..32 set"),
            TagError::ReservedFlags => f.write_str("tag flags set (reserved in v1)"),
            TagError::TooManyWords { u, t } => write!(f, "tag u={u} + t={t} exceeds 63 words"),
            TagError::OddTypedWords { t } => write!(f, "tag t={t} is odd"),
        }
    }
}

/// A message tag (MR0): label, untyped word count `u`, typed word count `t`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(u64);

const LABEL_SHIFT: u32 = 16;
const FLAGS_MASK: u64 = 0xF << 12;
const T_SHIFT: u32 = 6;
const FIELD_MASK: u64 = 0x3F;

impl Tag {
    /// The empty message: label 0, no words (a bare reply or notification).
    pub const EMPTY: Tag = Tag(0);

    /// A tag with `label`, `u` untyped and `t` typed words, flags 0.
    ///
    /// Errors: [`TagError::TooManyWords`] if `u + t > 63`, [`TagError::OddTypedWords`]
    /// if `t` is odd.
    pub const fn new(label: u16, u: u8, t: u8) -> Result<Tag, TagError> {
        if u as u16 + t as u16 > MAX_WORDS as u16 {
            return Err(TagError::TooManyWords { u, t });
        }
        Tag::from_raw((label as u64) << LABEL_SHIFT | (t as u64) << T_SHIFT | u as u64)
    }

    /// Decodes MR0, checking every rule of the layout.
    pub const fn from_raw(raw: u64) -> Result<Tag, TagError> {
        if raw >> 32 != 0 {
            return Err(TagError::HighBits);
        }
        if raw & FLAGS_MASK != 0 {
            return Err(TagError::ReservedFlags);
        }
        let u = (raw & FIELD_MASK) as u8;
        let t = ((raw >> T_SHIFT) & FIELD_MASK) as u8;
        if u + t > MAX_WORDS {
            return Err(TagError::TooManyWords { u, t });
        }
        if !t.is_multiple_of(ITEM_WORDS) {
            return Err(TagError::OddTypedWords { t });
        }
        Ok(Tag(raw))
    }

    /// MR0.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The label (bits 31..16): what the message means to the receiver.
    pub const fn label(self) -> u16 {
        (self.0 >> LABEL_SHIFT) as u16
    }

    /// The flags (bits 15..12); always 0 in v1.
    pub const fn flags(self) -> u8 {
        ((self.0 & FLAGS_MASK) >> 12) as u8
    }

    /// Untyped words (bits 5..0): MR1..MRu.
    pub const fn u(self) -> u8 {
        (self.0 & FIELD_MASK) as u8
    }

    /// Typed words (bits 11..6): MR(u+1)..MR(u+t), two per item.
    pub const fn t(self) -> u8 {
        ((self.0 >> T_SHIFT) & FIELD_MASK) as u8
    }

    /// Typed items: `t / 2`.
    pub const fn items(self) -> u8 {
        self.t() / ITEM_WORDS
    }

    /// Words after the tag: `u + t`.
    pub const fn words(self) -> u8 {
        self.u() + self.t()
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag(label={:#x} u={} t={})", self.label(), self.u(), self.t())
    }
}

/// Why two words are not a valid typed item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemError {
    /// The kind (word 0, bits 3..0) is neither map (0x8) nor grant (0xA).
    UnknownKind {
        /// The kind found.
        kind: u8,
    },
    /// Word 0 bits 11..4 are not 0.
    ReservedBits,
    /// The send base handed to [`TypedItem::encode`] is not page aligned.
    SendBaseMisaligned,
    /// Word 1 is not a valid flexpage.
    Fpage(FpageError),
}

impl From<ItemError> for Error {
    fn from(_: ItemError) -> Error {
        Error::InvalidArgument
    }
}

impl From<FpageError> for ItemError {
    fn from(e: FpageError) -> ItemError {
        ItemError::Fpage(e)
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemError::UnknownKind { kind } => write!(f, "typed item kind {kind:#x} unknown"),
            ItemError::ReservedBits => f.write_str("typed item reserved bits set"),
            ItemError::SendBaseMisaligned => f.write_str("typed item send base not page aligned"),
            ItemError::Fpage(e) => write!(f, "typed item: {e}"),
        }
    }
}

/// The kind nibble of a map item.
pub const KIND_MAP: u8 = 0x8;
/// The kind nibble of a grant item.
pub const KIND_GRANT: u8 = 0xA;

const KIND_MASK: u64 = 0xF;
const ITEM_RESERVED_MASK: u64 = 0xFF0;
const SEND_BASE_MASK: u64 = !0xFFF;

/// A typed item: a flexpage of the sender's space to map or grant to the receiver.
///
/// The receiver must have opened a window (BR0 of its UTCB) that the flexpage fits
/// in; otherwise the whole IPC fails with [`Error::MapRejected`] for both sides and
/// nothing is mapped. Likewise, if the receiver's kernel-memory quota or the free
/// memory cannot cover the worst case of every item, the IPC fails with
/// [`Error::OutOfMemory`] for both sides before anything is mapped. Only the pages
/// the sender has mapped are passed on; a target page that already holds its source
/// (or a mapping the source derives from) is left as it is. In a page-fault reply the
/// pager alone learns of `OutOfMemory` (the faulting thread has no IPC to fail): it
/// stays in its fault until the pager answers again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypedItem {
    /// Share the pages: the sender keeps them, the receiver gets a mapping derived
    /// from the sender's (revoked when the sender unmaps).
    Map {
        /// Page-aligned hint of where in the receive window to place the pages; 0
        /// lets the kernel choose.
        send_base: u64,
        /// The pages, in the sender's space, with the rights to pass on.
        fpage: Fpage,
    },
    /// Move the pages: they leave the sender's space and appear in the receiver's.
    Grant {
        /// As for [`TypedItem::Map`].
        send_base: u64,
        /// As for [`TypedItem::Map`].
        fpage: Fpage,
    },
}

impl TypedItem {
    /// The flexpage.
    pub const fn fpage(self) -> Fpage {
        match self {
            TypedItem::Map { fpage, .. } | TypedItem::Grant { fpage, .. } => fpage,
        }
    }

    /// The send base.
    pub const fn send_base(self) -> u64 {
        match self {
            TypedItem::Map { send_base, .. } | TypedItem::Grant { send_base, .. } => send_base,
        }
    }

    /// Whether this is a grant.
    pub const fn is_grant(self) -> bool {
        matches!(self, TypedItem::Grant { .. })
    }

    /// The two message words. Errors: [`ItemError::SendBaseMisaligned`].
    pub const fn encode(self) -> Result<[u64; 2], ItemError> {
        let (kind, send_base, fpage) = match self {
            TypedItem::Map { send_base, fpage } => (KIND_MAP, send_base, fpage),
            TypedItem::Grant { send_base, fpage } => (KIND_GRANT, send_base, fpage),
        };
        if send_base & !SEND_BASE_MASK != 0 {
            return Err(ItemError::SendBaseMisaligned);
        }
        Ok([send_base | kind as u64, fpage.raw()])
    }

    /// Decodes two message words, checking the kind, the reserved bits and the
    /// flexpage.
    #[inline(always)]
    pub const fn decode(words: [u64; 2]) -> Result<TypedItem, ItemError> {
        if words[0] & ITEM_RESERVED_MASK != 0 {
            return Err(ItemError::ReservedBits);
        }
        let fpage = match Fpage::from_raw(words[1]) {
            Ok(f) => f,
            Err(e) => return Err(ItemError::Fpage(e)),
        };
        let send_base = words[0] & SEND_BASE_MASK;
        match (words[0] & KIND_MASK) as u8 {
            KIND_MAP => Ok(TypedItem::Map { send_base, fpage }),
            KIND_GRANT => Ok(TypedItem::Grant { send_base, fpage }),
            kind => Err(ItemError::UnknownKind { kind }),
        }
    }

    /// Whether a receive window admits this item by size: the window is not nil and
    /// the flexpage is no larger than it. (A larger item, or any item against a nil
    /// window, makes the IPC fail with [`Error::MapRejected`].)
    #[inline(always)]
    pub const fn fits_window(self, window: Fpage) -> bool {
        !window.is_nil() && self.fpage().size() <= window.size()
    }
}

/// Why a message could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The tag does not decode.
    Tag(TagError),
    /// Typed item `index` (0-based) does not decode.
    Item {
        /// Which item.
        index: usize,
        /// What is wrong with it.
        error: ItemError,
    },
}

impl From<MessageError> for Error {
    fn from(e: MessageError) -> Error {
        match e {
            MessageError::Tag(t) => t.into(),
            MessageError::Item { error, .. } => error.into(),
        }
    }
}

impl From<TagError> for MessageError {
    fn from(e: TagError) -> MessageError {
        MessageError::Tag(e)
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Tag(e) => e.fmt(f),
            MessageError::Item { index, error } => write!(f, "item {index}: {error}"),
        }
    }
}

/// A read-only view of a message in a thread's message registers, with a valid tag.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    mrs: &'a [u64; MR_COUNT],
    tag: Tag,
}

impl<'a> Message<'a> {
    /// The message in `mrs`; decodes and checks the tag in MR0 (the items are checked
    /// as they are read, or all at once by [`Message::validate`]).
    pub const fn new(mrs: &'a [u64; MR_COUNT]) -> Result<Message<'a>, TagError> {
        match Tag::from_raw(mrs[0]) {
            Ok(tag) => Ok(Message { mrs, tag }),
            Err(e) => Err(e),
        }
    }

    /// The tag.
    pub const fn tag(&self) -> Tag {
        self.tag
    }

    /// The label.
    pub const fn label(&self) -> u16 {
        self.tag.label()
    }

    /// The untyped words, MR1..MRu.
    pub fn untyped(&self) -> &'a [u64] {
        &self.mrs[1..1 + self.tag.u() as usize]
    }

    /// The typed words, MR(u+1)..MR(u+t).
    pub fn typed_words(&self) -> &'a [u64] {
        let start = 1 + self.tag.u() as usize;
        &self.mrs[start..start + self.tag.t() as usize]
    }

    /// The typed items, each decoded (or its error, with its index).
    pub fn items(&self) -> impl Iterator<Item = Result<TypedItem, MessageError>> + 'a {
        self.typed_words().chunks_exact(ITEM_WORDS as usize).enumerate().map(|(index, w)| {
            TypedItem::decode([w[0], w[1]]).map_err(|error| MessageError::Item { index, error })
        })
    }

    /// Checks every typed item; the first bad one is the error.
    pub fn validate(&self) -> Result<(), MessageError> {
        self.items().try_for_each(|item| item.map(|_| ()))
    }

    /// Writes a message into `mrs`: the tag, then `untyped`, then `items`; returns the
    /// tag. Registers past the message are left as they are.
    ///
    /// Errors: [`TagError::TooManyWords`] if it does not fit, [`MessageError::Item`]
    /// for an item that does not encode (nothing is written then).
    pub fn write(
        mrs: &mut [u64; MR_COUNT],
        label: u16,
        untyped: &[u64],
        items: &[TypedItem],
    ) -> Result<Tag, MessageError> {
        let too_many = TagError::TooManyWords {
            u: untyped.len().min(u8::MAX as usize) as u8,
            t: (items.len() * 2).min(u8::MAX as usize) as u8,
        };
        if untyped.len() + items.len() * 2 > MAX_WORDS as usize {
            return Err(too_many.into());
        }
        let tag = Tag::new(label, untyped.len() as u8, (items.len() * 2) as u8)?;
        let mut encoded = [[0u64; 2]; MAX_WORDS as usize / 2];
        for (index, item) in items.iter().enumerate() {
            encoded[index] = item.encode().map_err(|error| MessageError::Item { index, error })?;
        }
        mrs[0] = tag.raw();
        let u = untyped.len();
        mrs[1..1 + u].copy_from_slice(untyped);
        for (index, words) in encoded[..items.len()].iter().enumerate() {
            mrs[1 + u + 2 * index..3 + u + 2 * index].copy_from_slice(words);
        }
        Ok(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpage::Rights;

    fn page(base: u64) -> Fpage {
        Fpage::new(base, 12, Rights::RW).unwrap()
    }

    #[test]
    fn tags_round_trip_and_use_the_x2_layout() {
        let tag = Tag::new(0xBEEF, 3, 4).unwrap();
        assert_eq!(tag.raw(), 0xBEEF_0000 | 4 << 6 | 3);
        assert_eq!((tag.label(), tag.u(), tag.t(), tag.items(), tag.words()), (0xBEEF, 3, 4, 2, 7));
        assert_eq!(Tag::from_raw(tag.raw()), Ok(tag));
        for (u, t) in [(0, 0), (63, 0), (1, 62), (61, 2)] {
            let tag = Tag::new(0xFFFF, u, t).unwrap();
            assert_eq!(Tag::from_raw(tag.raw()), Ok(tag));
            assert_eq!(tag.flags(), 0);
        }
    }

    #[test]
    fn a_tag_with_high_bits_is_refused() {
        assert_eq!(Tag::from_raw(1 << 32), Err(TagError::HighBits));
        assert_eq!(Tag::from_raw(u64::MAX), Err(TagError::HighBits));
        assert_eq!(Error::from(TagError::HighBits), Error::InvalidArgument);
    }

    #[test]
    fn a_tag_with_flags_is_refused() {
        for bit in 12..16 {
            assert_eq!(Tag::from_raw(1 << bit), Err(TagError::ReservedFlags), "bit {bit}");
        }
    }

    #[test]
    fn more_than_63_words_is_a_message_overflow() {
        assert_eq!(Tag::new(0, 62, 2), Err(TagError::TooManyWords { u: 62, t: 2 }));
        assert_eq!(Tag::from_raw(63 << 6 | 1), Err(TagError::TooManyWords { u: 1, t: 63 }));
        assert_eq!(Tag::from_raw(63 << 6 | 63), Err(TagError::TooManyWords { u: 63, t: 63 }));
        assert_eq!(Error::from(TagError::TooManyWords { u: 1, t: 63 }), Error::MessageOverflow);
    }

    #[test]
    fn an_odd_typed_word_count_is_refused() {
        assert_eq!(Tag::new(0, 0, 3), Err(TagError::OddTypedWords { t: 3 }));
        assert_eq!(Tag::from_raw(1 << 6), Err(TagError::OddTypedWords { t: 1 }));
    }

    #[test]
    fn map_and_grant_items_round_trip_through_two_words() {
        let f = Fpage::new(0x20_0000, 21, Rights::RX).unwrap();
        let map = TypedItem::Map { send_base: 0x7000_0000, fpage: f };
        assert_eq!(map.encode(), Ok([0x7000_0000 | 0x8, f.raw()]));
        let grant = TypedItem::Grant { send_base: 0, fpage: f };
        assert_eq!(grant.encode(), Ok([0xA, f.raw()]));
        for item in [map, grant] {
            assert_eq!(TypedItem::decode(item.encode().unwrap()), Ok(item));
        }
        assert!(grant.is_grant() && !map.is_grant());
        assert_eq!((map.send_base(), map.fpage()), (0x7000_0000, f));
    }

    #[test]
    fn unknown_kinds_reserved_bits_and_bad_fpages_are_refused() {
        let f = page(0x1000).raw();
        for kind in [0x0, 0x1, 0x9, 0xB, 0xF] {
            assert_eq!(TypedItem::decode([kind, f]), Err(ItemError::UnknownKind { kind: kind as u8 }));
        }
        assert_eq!(TypedItem::decode([0x8 | 0x10, f]), Err(ItemError::ReservedBits));
        assert_eq!(TypedItem::decode([0x8 | 0x800, f]), Err(ItemError::ReservedBits));
        assert_eq!(TypedItem::decode([0x8, 0x1000 | 13 << 6]), Err(ItemError::Fpage(FpageError::Misaligned)));
        let bad = TypedItem::Map { send_base: 0x1234, fpage: page(0x1000) };
        assert_eq!(bad.encode(), Err(ItemError::SendBaseMisaligned));
        assert_eq!(Error::from(ItemError::ReservedBits), Error::InvalidArgument);
    }

    #[test]
    fn an_item_fits_a_window_no_smaller_than_itself() {
        let item = TypedItem::Map { send_base: 0, fpage: Fpage::new(0, 21, Rights::R).unwrap() };
        assert!(item.fits_window(Fpage::new(0x4000_0000, 30, Rights::RWX).unwrap()));
        assert!(item.fits_window(Fpage::new(0x20_0000, 21, Rights::RWX).unwrap()));
        assert!(!item.fits_window(page(0x1000)));
        assert!(!item.fits_window(Fpage::nil()));
        assert!(item.fits_window(Fpage::whole_space(Rights::RWX)));
    }

    #[test]
    fn a_written_message_reads_back_word_for_word() {
        let mut mrs = [0xAAu64; MR_COUNT];
        let items = [
            TypedItem::Map { send_base: 0, fpage: page(0x1000) },
            TypedItem::Grant { send_base: 0x5000, fpage: page(0x2000) },
        ];
        let tag = Message::write(&mut mrs, 0x42, &[1, 2, 3], &items).unwrap();
        assert_eq!((tag.u(), tag.t()), (3, 4));
        assert_eq!(mrs[8], 0xAA, "registers past the message are untouched");
        let msg = Message::new(&mrs).unwrap();
        assert_eq!(msg.label(), 0x42);
        assert_eq!(msg.untyped(), &[1, 2, 3]);
        assert_eq!(msg.typed_words().len(), 4);
        let read: Vec<_> = msg.items().collect::<Result<_, _>>().unwrap();
        assert_eq!(read, items);
        assert_eq!(msg.validate(), Ok(()));
    }

    #[test]
    fn a_bad_item_is_reported_with_its_index() {
        let mut mrs = [0u64; MR_COUNT];
        Message::write(&mut mrs, 0, &[], &[TypedItem::Map { send_base: 0, fpage: page(0x1000) }; 2]).unwrap();
        mrs[3] = 0x3; // second item's kind
        let msg = Message::new(&mrs).unwrap();
        let err = MessageError::Item { index: 1, error: ItemError::UnknownKind { kind: 3 } };
        assert_eq!(msg.validate(), Err(err));
        assert_eq!(msg.items().nth(1), Some(Err(err)));
        assert_eq!(err.to_string(), "item 1: typed item kind 0x3 unknown");
        assert_eq!(Error::from(err), Error::InvalidArgument);
    }

    #[test]
    fn writing_refuses_what_does_not_fit_and_writes_nothing_on_error() {
        let mut mrs = [7u64; MR_COUNT];
        let words = [0u64; 64];
        assert_eq!(
            Message::write(&mut mrs, 0, &words, &[]),
            Err(MessageError::Tag(TagError::TooManyWords { u: 64, t: 0 }))
        );
        let bad = TypedItem::Grant { send_base: 1, fpage: page(0x1000) };
        assert_eq!(
            Message::write(&mut mrs, 0, &[1], &[bad]),
            Err(MessageError::Item { index: 0, error: ItemError::SendBaseMisaligned })
        );
        assert_eq!(mrs, [7u64; MR_COUNT]);
        assert_eq!(Message::new(&[u64::MAX; MR_COUNT]).unwrap_err(), TagError::HighBits);
    }
}
