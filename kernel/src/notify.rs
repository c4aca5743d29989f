// SPDX-License-Identifier: MIT OR Apache-2.0
//! A thread's notification queue: the words `Notify` posted to it that it has not
//! received yet.
//!
//! # Why
//! IPC in L4 is synchronous: a sender waits until the receiver takes the message. The
//! paper's pagers need a signal that does not wait: a pager that unmaps a global page
//! tells every other pager (on other nodes) to drop its mapping and goes on; they
//! answer when they have. `Notify` is that signal, and this queue is where a word
//! waits for its receiver. It is **bounded** ([`abi::syscall::NOTIFY_QUEUE`] words, in
//! the receiver's TCB: no allocation, no way for a sender to grow kernel memory) and
//! first in, first out; a full queue is an error to the sender
//! ([`abi::Error::QueueFull`]), never a lost word.
//!
//! The queue is plain data inside the TCB (under the kernel lock); the kernel's
//! `Notify` and `receive` (in `l4`) push and pop. Host-tested below.
#![forbid(unsafe_code)]

use abi::syscall::NOTIFY_QUEUE;

/// Up to [`NOTIFY_QUEUE`] (notifier, word) pairs, oldest first.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoteQueue {
    slots: [(u64, u64); NOTIFY_QUEUE],
    /// Index of the oldest entry.
    head: u8,
    /// Entries queued.
    len: u8,
}

/// The queue holds [`NOTIFY_QUEUE`] words already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl NoteQueue {
    /// An empty queue.
    pub const fn new() -> NoteQueue {
        NoteQueue { slots: [(0, 0); NOTIFY_QUEUE], head: 0, len: 0 }
    }

    /// Words waiting.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no word waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `word` from thread `from` (a full id); [`Full`] changes nothing.
    pub fn push(&mut self, from: u64, word: u64) -> Result<(), Full> {
        if self.len() == NOTIFY_QUEUE {
            return Err(Full);
        }
        let at = (self.head as usize + self.len()) % NOTIFY_QUEUE;
        self.slots[at] = (from, word);
        self.len += 1;
        Ok(())
    }

    /// Takes the oldest (notifier, word).
    pub fn pop(&mut self) -> Option<(u64, u64)> {
        if self.is_empty() {
            return None;
        }
        let entry = self.slots[self.head as usize];
        self.head = ((self.head as usize + 1) % NOTIFY_QUEUE) as u8;
        self.len -= 1;
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn words_come_out_in_order_and_a_full_queue_refuses_without_losing_any() {
        let mut q = NoteQueue::new();
        for i in 0..NOTIFY_QUEUE as u64 {
            assert_eq!(q.push(7, i), Ok(()));
        }
        assert_eq!(q.push(7, 99), Err(Full));
        assert_eq!(q.len(), NOTIFY_QUEUE);
        for i in 0..NOTIFY_QUEUE as u64 {
            assert_eq!(q.pop(), Some((7, i)));
        }
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn random_pushes_and_pops_match_a_bounded_fifo() {
        let (mut q, mut model) = (NoteQueue::new(), VecDeque::new());
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for step in 0..100_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed % 5 < 3 {
                let want = if model.len() == NOTIFY_QUEUE { Err(Full) } else { Ok(()) };
                assert_eq!(q.push(seed >> 40, step), want, "step {step}");
                if want.is_ok() {
                    model.push_back((seed >> 40, step));
                }
            } else {
                assert_eq!(q.pop(), model.pop_front(), "step {step}");
            }
            assert_eq!(q.len(), model.len());
        }
    }
}
