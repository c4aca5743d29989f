// SPDX-License-Identifier: MIT OR Apache-2.0
//! Program output through the user-level console driver.
//!
//! The console is a driver like any other: the root task runs a console thread that
//! owns the PL011's registers (found in the device tree) and writes what programs hand
//! it, with `embedded-io`'s `Write` (`platform::uart`). `println!` of a program the root
//! runs goes there, in calls of [`CHUNK`] bytes each ([`write_message`]; the answer comes
//! once the bytes are in the UART, so a program's lines keep their order against the
//! root's). A program with no console thread to talk to (the root task itself, a test
//! booted as the root task) writes through the kernel's `DebugWrite` instead: the first
//! call to the console thread fails at once (no such thread), and the program remembers.
//!
//! The console thread is thread [`CONSOLE_THREAD_NUMBER`] of the root task's space, of
//! version [`CONSOLE_VERSION`] (a version no other thread is created with here).

use abi::message::Tag;

/// The console thread's number (in the root task's space).
pub const CONSOLE_THREAD_NUMBER: u64 = 0x3E0;
/// Its version: the raw id is `(number << 16) | version`.
pub const CONSOLE_VERSION: u64 = 0x5D;
/// The label of a write to the console.
pub const WRITE_LABEL: u16 = 0x5D20;
/// Bytes per write message (MR2..MR4).
pub const CHUNK: usize = crate::words::BYTES;

/// The console thread's raw id.
pub const fn console_id() -> u64 {
    (CONSOLE_THREAD_NUMBER << 16) | CONSOLE_VERSION
}

/// The message writing `bytes` (at most [`CHUNK`]; more are not sent): MR1 the length,
/// MR2..MR4 the bytes, little-endian.
pub fn write_message(bytes: &[u8]) -> [u64; 5] {
    let n = bytes.len().min(CHUNK);
    let [w0, w1, w2] = crate::words::pack(bytes);
    let tag = Tag::new(WRITE_LABEL, 4, 0).map_or(0, |t| t.raw());
    [tag, n as u64, w0, w1, w2]
}

/// The bytes of a write message (the console thread's side): `None` if it is not one.
pub fn decode_write(mr: [u64; 5]) -> Option<([u8; CHUNK], usize)> {
    let tag = Tag::from_raw(mr[0]).ok()?;
    if tag.label() != WRITE_LABEL || tag.u() < 4 || mr[1] > CHUNK as u64 {
        return None;
    }
    Some((crate::words::unpack(&mr[2..5]), mr[1] as usize))
}

/// Longest line the console assembles (a longer one goes out in pieces of this size).
pub const LINE: usize = 256;

/// The console thread's line assembly: each sender's chunks are held until its line
/// is complete, then written whole, so two programs' lines never interleave (a line
/// arrives in several calls, and another program's call may come between them).
pub struct Lines<const N: usize> {
    /// Per slot: the sender (0: free), its bytes so far, how many.
    slots: [(u64, [u8; LINE], usize); N],
}

impl<const N: usize> Lines<N> {
    /// No partial lines.
    pub const fn new() -> Lines<N> {
        Lines { slots: [(0, [0; LINE], 0); N] }
    }

    /// Adds `bytes` from `sender`; `out` gets every completed line (its `\n` included),
    /// and a line that fills [`LINE`] bytes without one. With more than `N` senders
    /// holding partial lines at once, the first slot's is written out unfinished.
    pub fn push(&mut self, sender: u64, bytes: &[u8], mut out: impl FnMut(&[u8])) {
        let slot = match self.slots.iter().position(|s| s.0 == sender && sender != 0) {
            Some(i) => i,
            None => match self.slots.iter().position(|s| s.0 == 0) {
                Some(i) => i,
                None => {
                    let (_, buf, len) = &mut self.slots[0];
                    out(&buf[..*len]);
                    *len = 0;
                    0
                }
            },
        };
        let (owner, buf, len) = &mut self.slots[slot];
        *owner = sender;
        for &b in bytes {
            buf[*len] = b;
            *len += 1;
            if b == b'\n' || *len == LINE {
                out(&buf[..*len]);
                *len = 0;
            }
        }
        if *len == 0 {
            *owner = 0;
        }
    }
}

impl<const N: usize> Default for Lines<N> {
    fn default() -> Self {
        Self::new()
    }
}

on_target! {
    /// No console thread answers this program: write through the kernel.
    static NO_CONSOLE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

    /// Tries the console thread again at the next write: for a program that printed
    /// before its console thread existed (the root task, which starts it).
    pub fn retry() {
        NO_CONSOLE.store(false, core::sync::atomic::Ordering::Relaxed);
    }

    /// Writes `bytes` to the console: through the console thread if there is one, else
    /// through the kernel's `DebugWrite`.
    pub fn write(bytes: &[u8]) {
        use core::sync::atomic::Ordering;
        let mut rest = bytes;
        while !rest.is_empty() && !NO_CONSOLE.load(Ordering::Relaxed) {
            let (chunk, next) = rest.split_at(rest.len().min(CHUNK));
            let never = abi::timeout::Timeouts::NEVER.pack();
            if crate::sys::ipc(console_id(), console_id(), never, write_message(chunk)).is_err() {
                NO_CONSOLE.store(true, Ordering::Relaxed);
                break;
            }
            rest = next;
        }
        if !rest.is_empty() {
            let _ = crate::sys::debug_write(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_two_senders_come_out_whole() {
        let mut lines: Lines<2> = Lines::new();
        let mut written: Vec<Vec<u8>> = Vec::new();
        lines.push(1, b"report: shutdown", |l| written.push(l.to_vec()));
        lines.push(2, b"powerbtn: asked\n", |l| written.push(l.to_vec()));
        lines.push(1, b"listener told=yes\nnext", |l| written.push(l.to_vec()));
        assert_eq!(written, [b"powerbtn: asked\n".to_vec(), b"report: shutdownlistener told=yes\n".to_vec()]);
        // A third sender with both slots busy pushes out the first slot's partial line.
        lines.push(2, b"partial", |l| written.push(l.to_vec()));
        lines.push(3, b"x\n", |l| written.push(l.to_vec()));
        assert_eq!(written[2], b"next".to_vec());
        assert_eq!(written[3], b"x\n".to_vec());
        // A line longer than LINE goes out in pieces.
        let mut pieces = 0;
        lines.push(4, &[b'a'; LINE + 10], |_| pieces += 1);
        assert_eq!(pieces, 1, "one full piece, the rest held");
    }

    #[test]
    fn write_messages_round_trip_and_cap_at_a_chunk() {
        let m = write_message(b"report: hello status=0\n");
        let (bytes, n) = decode_write(m).unwrap();
        assert_eq!(&bytes[..n], b"report: hello status=0\n");
        let long = [b'x'; 40];
        assert_eq!(decode_write(write_message(&long)).unwrap().1, CHUNK);
        assert_eq!(decode_write(write_message(b"")).unwrap().1, 0);
        assert_eq!(decode_write([0; 5]), None);
        let mut bad = write_message(b"a");
        bad[1] = 99;
        assert_eq!(decode_write(bad), None, "a length past the chunk is refused");
        assert_eq!(console_id() >> 16, CONSOLE_THREAD_NUMBER);
    }
}
