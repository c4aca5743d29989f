// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where a driver's device is: asked of the root task, which has the device tree.
//!
//! A driver must not hard-code its board's addresses: the same program should drive
//! a PL031 wherever a board puts it. The kernel maps the device tree it booted with
//! read-only into the root task's space (the KIP says where); the root task answers
//! questions about it with `platform::devices`. A program the root runs asks with
//! `find` or `power_key` (an IPC to the root); a program that *is* the root task
//! (a test booted as `root`) reads the tree itself with `find_local` and
//! `power_key_local` (all four on the target only).
//!
//! The protocol: a call to the root with label [`QUERY_LABEL`], MR1 the kind
//! ([`KIND_COMPATIBLE`]: MR2..MR4 hold the compatible string, NUL-padded, at most 24
//! bytes; [`KIND_KEY`]: MR2 the key's `linux,code`). The answer has label
//! [`ANSWER_LABEL`]: MR1 0 or the error's code ([`error_code`]), MR2 the register
//! base, MR3 their size, MR4 the INTID (bits 31..0; `u32::MAX` none) and, for a key,
//! the GPIO line (bits 63..32).

use abi::message::Tag;
pub use platform::devices::{Device, DeviceError, KEY_POWER, Key};

/// A device query to the root task.
pub const QUERY_LABEL: u16 = 0x5D10;
/// The root task's answer.
pub const ANSWER_LABEL: u16 = 0x5D11;
/// MR1 of a query: a device by `compatible`.
pub const KIND_COMPATIBLE: u64 = 1;
/// MR1 of a query: a `gpio-keys` key by `linux,code`.
pub const KIND_KEY: u64 = 2;
/// The longest compatible string a query carries.
pub const MAX_COMPATIBLE: usize = crate::words::BYTES;

/// Why a query got no device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The device tree says no (or has no such device).
    Device(DeviceError),
    /// The compatible string is longer than [`MAX_COMPATIBLE`].
    TooLong,
    /// There is no device tree (a board described by ACPI, or none handed over).
    NoTree,
    /// The root task could not be reached, or answered something else.
    NoAnswer,
}

impl core::fmt::Display for QueryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            QueryError::Device(e) => write!(f, "{e}"),
            QueryError::TooLong => write!(f, "compatible strings have at most {MAX_COMPATIBLE} bytes here"),
            QueryError::NoTree => f.write_str("the kernel handed over no device tree"),
            QueryError::NoAnswer => f.write_str("the root task did not answer the query"),
        }
    }
}

const ERRORS: [QueryError; 9] = [
    QueryError::Device(DeviceError::BadTree),
    QueryError::Device(DeviceError::NotFound),
    QueryError::Device(DeviceError::BadReg),
    QueryError::Device(DeviceError::Translated),
    QueryError::Device(DeviceError::BadInterrupt),
    QueryError::Device(DeviceError::BadGpios),
    QueryError::TooLong,
    QueryError::NoTree,
    QueryError::NoAnswer,
];

/// The code of `e` in an answer (1..).
pub fn error_code(e: QueryError) -> u64 {
    ERRORS.iter().position(|&x| x == e).map_or(u64::MAX, |i| i as u64 + 1)
}

/// The error of code `code` (`None` for 0 or an unknown code).
pub fn error_of(code: u64) -> Option<QueryError> {
    ERRORS.get(code.checked_sub(1)? as usize).copied()
}

fn tag(label: u16, u: u8) -> u64 {
    Tag::new(label, u, 0).map_or(0, |t| t.raw())
}

/// The query message for the device compatible with `compatible`.
pub fn compatible_query(compatible: &str) -> Result<[u64; 5], QueryError> {
    let bytes = compatible.as_bytes();
    if bytes.len() > MAX_COMPATIBLE {
        return Err(QueryError::TooLong);
    }
    let [w0, w1, w2] = crate::words::pack(bytes);
    Ok([tag(QUERY_LABEL, 4), KIND_COMPATIBLE, w0, w1, w2])
}

/// The query message for the key with `linux,code` `code`.
pub fn key_query(code: u32) -> [u64; 5] {
    [tag(QUERY_LABEL, 2), KIND_KEY, u64::from(code), 0, 0]
}

/// What the root task answers `query` with, given the device tree `dtb` (`None`: no
/// tree). Pure: the root task's side, host-tested.
pub fn answer(dtb: Option<&[u8]>, query: [u64; 5]) -> [u64; 5] {
    let encode = |r: Result<(Device, u32), QueryError>| match r {
        Ok((d, line)) => {
            let low = u64::from(d.intid.unwrap_or(u32::MAX));
            [tag(ANSWER_LABEL, 4), 0, d.base, d.size, low | u64::from(line) << 32]
        }
        Err(e) => [tag(ANSWER_LABEL, 4), error_code(e), 0, 0, 0],
    };
    let Some(dtb) = dtb else { return encode(Err(QueryError::NoTree)) };
    match query[1] {
        KIND_COMPATIBLE => {
            let bytes = crate::words::unpack(&query[2..5]);
            let len = bytes.iter().position(|&b| b == 0).unwrap_or(MAX_COMPATIBLE);
            let name =
                core::str::from_utf8(&bytes[..len]).map_err(|_| QueryError::Device(DeviceError::NotFound));
            encode(
                name.and_then(|n| {
                    platform::devices::find(dtb, n).map(|d| (d, 0)).map_err(QueryError::Device)
                }),
            )
        }
        KIND_KEY => encode(
            u32::try_from(query[2])
                .map_err(|_| QueryError::Device(DeviceError::NotFound))
                .and_then(|c| platform::devices::key(dtb, c).map_err(QueryError::Device))
                .map(|k| (k.controller, k.line)),
        ),
        _ => encode(Err(QueryError::Device(DeviceError::NotFound))),
    }
}

/// Reads an answer: the device and the line (0 unless a key).
pub fn decode(mr: [u64; 5]) -> Result<(Device, u32), QueryError> {
    if Tag::from_raw(mr[0]).map(|t| t.label()) != Ok(ANSWER_LABEL) {
        return Err(QueryError::NoAnswer);
    }
    if mr[1] != 0 {
        return Err(error_of(mr[1]).unwrap_or(QueryError::NoAnswer));
    }
    let intid = mr[4] as u32;
    Ok((
        Device { base: mr[2], size: mr[3], intid: (intid != u32::MAX).then_some(intid) },
        (mr[4] >> 32) as u32,
    ))
}

on_target! {
    fn ask(query: [u64; 5]) -> Result<(Device, u32), QueryError> {
        let root = abi::thread::ThreadId::ROOT.raw();
        let m = crate::sys::ipc(root, root, abi::timeout::Timeouts::NEVER.pack(), query).map_err(|_| QueryError::NoAnswer)?;
        decode(m.mr)
    }

    /// The device tree, for the root task (mapped in its space only).
    fn local_tree() -> Option<&'static [u8]> {
        let (va, size) = crate::sys::kip().dtb()?;
        // SAFETY: the kernel maps the device tree read-only at this address of the root
        // task's space for its whole life (the KIP says where and how long); callers are
        // the root task's threads (see the module docs).
        Some(unsafe { core::slice::from_raw_parts(va as *const u8, size as usize) })
    }

    /// (A program the root task runs.) The device compatible with `compatible`.
    pub fn find(compatible: &str) -> Result<Device, QueryError> {
        ask(compatible_query(compatible)?).map(|(d, _)| d)
    }

    /// (A program the root task runs.) The power key: its GPIO controller and line.
    pub fn power_key() -> Result<Key, QueryError> {
        ask(key_query(KEY_POWER)).map(|(controller, line)| Key { controller, line })
    }

    /// (The root task only.) The device compatible with `compatible`, from the tree.
    pub fn find_local(compatible: &str) -> Result<Device, QueryError> {
        decode(answer(local_tree(), compatible_query(compatible)?)).map(|(d, _)| d)
    }

    /// (The root task only.) The power key, from the tree.
    pub fn power_key_local() -> Result<Key, QueryError> {
        decode(answer(local_tree(), key_query(KEY_POWER))).map(|(controller, line)| Key { controller, line })
    }

    /// (The root task only.) The answer to a program's query.
    pub fn answer_local(query: [u64; 5]) -> [u64; 5] {
        answer(local_tree(), query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virt() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../platform/tests/fixtures/virt-2n2c.dtb"))
            .unwrap()
    }

    #[test]
    fn queries_and_answers_round_trip() {
        let dtb = virt();
        let rtc = decode(answer(Some(&dtb), compatible_query("arm,pl031").unwrap())).unwrap();
        assert_eq!(rtc, (Device { base: 0x901_0000, size: 0x1000, intid: Some(34) }, 0));
        let (gpio, line) = decode(answer(Some(&dtb), key_query(KEY_POWER))).unwrap();
        assert_eq!((gpio.base, gpio.intid, line), (0x903_0000, Some(39), 3));
        let long = "a".repeat(MAX_COMPATIBLE);
        assert_eq!(
            decode(answer(Some(&dtb), compatible_query(&long).unwrap())),
            Err(QueryError::Device(DeviceError::NotFound))
        );
        assert_eq!(compatible_query(&"a".repeat(MAX_COMPATIBLE + 1)), Err(QueryError::TooLong));
        assert_eq!(decode(answer(None, key_query(KEY_POWER))), Err(QueryError::NoTree));
        assert_eq!(
            decode(answer(Some(b"junk"), key_query(KEY_POWER))),
            Err(QueryError::Device(DeviceError::BadTree))
        );
        assert_eq!(decode([0; 5]), Err(QueryError::NoAnswer));
        let bad_kind = [tag(QUERY_LABEL, 2), 9, 0, 0, 0];
        assert_eq!(decode(answer(Some(&dtb), bad_kind)), Err(QueryError::Device(DeviceError::NotFound)));
    }

    #[test]
    fn every_error_has_a_code_and_back() {
        for e in ERRORS {
            assert_eq!(error_of(error_code(e)), Some(e));
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(error_of(0), None);
        assert_eq!(error_of(99), None);
    }
}
