// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cmdline.txt`: the kernel's bootargs, as a file on the EFI system partition.
//!
//! Under QEMU's `-kernel` the bootargs come from `-append`; through UEFI nothing passes
//! them, so `scripts/run --uefi` writes them to `cmdline.txt` beside the Image and the
//! loader puts them into `/chosen/bootargs`. The file is one line of printable ASCII
//! (what the kernel's argument parser takes); surrounding whitespace and a final newline,
//! as any editor leaves, are dropped.
#![forbid(unsafe_code)]

/// The longest command line the loader passes on.
pub const MAX_LEN: usize = 1024;

/// Why a `cmdline.txt` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineError {
    /// Longer than [`MAX_LEN`].
    TooLong,
    /// A byte that is not printable ASCII (a second line, a tab, UTF-8), at this offset.
    BadByte { offset: usize, byte: u8 },
}

/// The bootargs in the contents of `cmdline.txt`.
pub fn bootargs(file: &[u8]) -> Result<&str, CmdlineError> {
    let start = file.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(file.len());
    let end = file.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    let line = &file[start..end];
    if line.len() > MAX_LEN {
        return Err(CmdlineError::TooLong);
    }
    if let Some(offset) = line.iter().position(|&b| !(b' '..=b'~').contains(&b)) {
        return Err(CmdlineError::BadByte { offset: start + offset, byte: line[offset] });
    }
    core::str::from_utf8(line).map_err(|_| CmdlineError::BadByte { offset: start, byte: line[0] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_its_newline_is_the_bootargs() {
        assert_eq!(bootargs(b"exit=semihosting selftest=panic\n"), Ok("exit=semihosting selftest=panic"));
        assert_eq!(bootargs(b"  \r\n"), Ok(""));
        assert_eq!(bootargs(b""), Ok(""));
    }

    #[test]
    fn a_second_line_or_non_ascii_is_refused_with_its_offset() {
        assert_eq!(bootargs(b"a\nb"), Err(CmdlineError::BadByte { offset: 1, byte: b'\n' }));
        assert_eq!(bootargs(" x\u{e9}".as_bytes()), Err(CmdlineError::BadByte { offset: 2, byte: 0xc3 }));
        assert_eq!(bootargs(&[b'a'; MAX_LEN + 1]), Err(CmdlineError::TooLong));
    }
}
