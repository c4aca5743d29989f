// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numa_rt`: what a NUMA program links to run across nodes.
//!
//! A program becomes a NUMA program with one macro, [`program!`]: it carries its
//! declaration (`numa::decl`) in its ELF, and names the function every declared
//! thread runs. The root task sees the declaration and starts the program under the
//! NUMA runtime (`pagers/numa-pager`): a space and a pager per node, the program's code
//! copied onto every node, its data global and mapped lazily through faults, its stacks
//! and UTCBs on the node each thread runs on. The program itself sees ordinary memory
//! and this API:
//!
//! | call | what it does | cost (measured by `pagers/numacost`: the book's evaluation chapter, "What each call costs") |
//! |---|---|---|
//! | [`Context::rank`], [`Context::ranks`], `node`, `cpu`, `nodes` | who and where am I | no system call |
//! | `spawn` / `Thread::join` | a thread on a CPU, a node or anywhere; wait for its result | one call to the server each |
//! | `Vec`, `Box` (`alloc`) | memory from the calling thread's node's arena | none after the first touch of a page |
//! | `alloc_on` | memory from a chosen node's arena | as `alloc` |
//! | `migrate` | move the calling thread to a node: its space, its pager, its stack there | one call; the stack follows page by page |
//! | `unmap` | take global pages away from every node (the next touch gets a fresh one) | one call; one kernel free per page |
//! | `sample` / `place` | move pages to the node that uses them most | one call each, plus the re-faults |
//! | `barrier` | wait until `n` threads have arrived | one call |
//! | `signal` / `wait` | a word to a thread of the program on any node, and receiving it | one `Notify`; one receive |
//! | `note` | a number for the program's report (stale reads, a prediction) | one call |
//!
//! Every thread ends by returning from its function (or `exit`): its result goes to
//! the server (and to a `Thread::join`); the program ends when its last thread has,
//! and passes when every result is 0 and the runtime's checks hold.
//!
//! # Host builds
//! Everything that is logic is in `numa` and tested there; this crate's target code is
//! system calls. On the host it compiles to nothing but the declaration types, so the
//! programs' host builds type-check.
#![cfg_attr(not(test), no_std)]

pub use numa::decl::{DeclRegion, Declaration, Threads};
pub use numa::proto::{Note, Place};
pub use numa::region::{Kind, Policy, Source};

/// Applies the one target gate to every item given.
macro_rules! on_target {
    ($($item:item)*) => { $( #[cfg(all(target_arch = "aarch64", target_os = "none"))] $item )* };
}

on_target! {
    extern crate alloc;
    mod target;
    pub use target::*;
}

/// The ELF note that carries a declaration: `namesz`, `descsz`, `type`, the name
/// `numa-l4` with its NUL (8 bytes), the descriptor. [`program!`] puts one in section
/// `.note.numa-l4`, which `linker/user.ld` makes a `PT_NOTE` segment.
#[repr(C, align(4))]
pub struct DeclarationNote {
    namesz: u32,
    descsz: u32,
    kind: u32,
    name: [u8; 8],
    desc: [u8; numa::decl::ENCODED_LEN],
}

impl DeclarationNote {
    /// The note for `decl`.
    pub const fn new(decl: &Declaration) -> DeclarationNote {
        DeclarationNote {
            namesz: 8,
            descsz: numa::decl::ENCODED_LEN as u32,
            kind: numa::decl::NOTE_TYPE,
            name: *b"numa-l4\0",
            desc: decl.encode(),
        }
    }

    /// Its bytes, as they stand in the file.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `self` is a `repr(C)` struct of integers and byte arrays with no
        // padding (4 + 4 + 4 + 8 + a multiple of 8, at 4-byte alignment), so all
        // `size_of::<Self>()` bytes are initialised; the slice borrows `self`.
        unsafe {
            core::slice::from_raw_parts((self as *const Self).cast::<u8>(), core::mem::size_of::<Self>())
        }
    }
}

/// Declares a NUMA program: its [`Declaration`] (carried in its ELF) and the function
/// each declared thread runs, `fn(&Context) -> u64` (0 = success).
///
/// ```text
/// numa_rt::program!(
///     numa_rt::Declaration::new().threads(numa_rt::Threads::PerCpu(1)),
///     worker
/// );
/// fn worker(ctx: &numa_rt::Context) -> u64 { ... 0 }
/// ```
#[macro_export]
macro_rules! program {
    ($decl:expr, $main:path) => {
        const __NUMA_DECLARATION: $crate::Declaration = $decl;

        #[cfg(all(target_arch = "aarch64", target_os = "none"))]
        #[unsafe(link_section = ".note.numa-l4")]
        #[used]
        static __NUMA_NOTE: $crate::DeclarationNote = $crate::DeclarationNote::new(&__NUMA_DECLARATION);

        #[cfg(all(target_arch = "aarch64", target_os = "none"))]
        #[global_allocator]
        static __NUMA_HEAP: $crate::Heap = $crate::Heap::new();

        #[cfg(all(target_arch = "aarch64", target_os = "none"))]
        fn __numa_entry(utcb: ::rt::UtcbAddr) -> ! {
            let main: fn(&$crate::Context) -> u64 = $main;
            $crate::run(utcb, &__NUMA_DECLARATION, &__NUMA_HEAP, main)
        }

        ::rt::entry!(__numa_entry);

        #[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
        fn __numa_entry(_utcb: ::rt::UtcbAddr) -> ! {
            let _checked: fn(&$crate::Context) -> u64 = $main;
            let _decl = __NUMA_DECLARATION.encode();
            unreachable!("the host build only type-checks the entry")
        }
    };
}

/// What a declared thread is told when it starts: its rank among the declared threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    rank: u64,
    ranks: u64,
}

impl Context {
    /// A context (the runtime makes them; tests may too).
    pub const fn new(rank: u64, ranks: u64) -> Context {
        Context { rank, ranks }
    }

    /// This thread's rank, `0..ranks()`: threads in node order, then CPU order.
    pub const fn rank(&self) -> u64 {
        self.rank
    }

    /// How many declared threads.
    pub const fn ranks(&self) -> u64 {
        self.ranks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_is_a_well_formed_elf_note() {
        let decl = Declaration::new().threads(Threads::PerNode(2));
        let note = DeclarationNote::new(&decl);
        let b = note.bytes();
        assert_eq!(b.len(), 20 + numa::decl::ENCODED_LEN);
        assert_eq!(&b[..4], &8u32.to_le_bytes());
        assert_eq!(&b[8..12], &numa::decl::NOTE_TYPE.to_le_bytes());
        assert_eq!(&b[12..20], b"numa-l4\0");
        assert_eq!(Declaration::decode(&b[20..], &[]), Ok(decl));
    }
}
