// SPDX-License-Identifier: MIT OR Apache-2.0
//! Timeout queues: each CPU's waiting threads, ordered by deadline, linked through
//! their TCBs.
//!
//! A tickless kernel programs each CPU's timer for the earliest deadline of the threads
//! that wait there (with a timeout), so it must find that deadline without scanning
//! threads, and add and remove a waiter in a bounded number of steps on every blocking
//! IPC. A [`Queue`] is an AVL tree keyed by `(deadline, thread)`: insertion, removal of
//! any waiter and finding the earliest each take `O(log n)` steps in the worst case (at
//! most 15 levels for the kernel's 1024 threads), not merely on average as a heap with
//! lazy deletion or a pairing heap would. Its nodes are the threads themselves: each
//! TCB carries its [`Links`], so a queue is one word per CPU and needs no memory of its
//! own (a per-CPU array of 1024 entries would cost every CPU a frame: on a board of
//! 116 CPUs in 5 MiB that is the root task's whole margin).
//!
//! The queue reaches the nodes through [`Nodes`]: the kernel's thread table on the
//! target, a vector in the tests below.
//!
//! # Invariants
//! - A thread is in at most one queue; its links are all zero when it is in none
//!   (`height == 0`).
//! - A queued thread's key (its deadline) does not change while it is queued: remove
//!   it, change the deadline, insert it again.
//! - AVL: at every node the heights of the two subtrees differ by at most one; keys
//!   are in order (left smaller, right larger, `(deadline, thread)` being unique).
#![forbid(unsafe_code)]

use core::cmp::Ordering;

/// No thread (thread number 0 is never a thread).
const NONE: u32 = 0;

/// A thread's place in a timeout queue (in its TCB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Links {
    left: u32,
    right: u32,
    /// Height of the subtree this thread roots; 0 when it is in no queue.
    height: u8,
}

impl Links {
    /// Whether the thread is in a queue.
    pub fn queued(&self) -> bool {
        self.height != 0
    }
}

/// Where a queue finds its threads: their deadlines and their links.
pub trait Nodes {
    /// Thread `t`'s deadline (its key, with `t` itself to break ties).
    fn deadline(&mut self, t: u32) -> u64;
    /// Thread `t`'s links.
    fn links(&mut self, t: u32) -> &mut Links;
}

/// One CPU's waiting threads by deadline (the root of the tree, and how many).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    root: u32,
    len: u32,
}

impl Queue {
    /// No thread.
    pub const fn new() -> Queue {
        Queue { root: NONE, len: 0 }
    }

    /// How many threads wait here.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no thread waits here.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds thread `t` (in no queue; its key is `n.deadline(t)`).
    pub fn insert<N: Nodes>(&mut self, n: &mut N, t: u32) {
        debug_assert!(t != NONE && !n.links(t).queued(), "invariant: a thread is in one queue at most");
        let key = (n.deadline(t), t);
        self.root = insert_at(n, self.root, t, key);
        self.len += 1;
    }

    /// Removes thread `t` (with the key it was inserted with); `false` if it was not in
    /// this queue.
    pub fn remove<N: Nodes>(&mut self, n: &mut N, t: u32) -> bool {
        if t == NONE || !n.links(t).queued() {
            return false;
        }
        let key = (n.deadline(t), t);
        let mut found = false;
        self.root = remove_at(n, self.root, key, &mut found);
        if found {
            self.len -= 1;
        }
        found
    }

    /// Whether thread `t` (with its key) is in this queue.
    pub fn contains<N: Nodes>(&self, n: &mut N, t: u32) -> bool {
        let key = (n.deadline(t), t);
        let mut at = self.root;
        while at != NONE {
            match key.cmp(&key_of(n, at)) {
                Ordering::Less => at = n.links(at).left,
                Ordering::Greater => at = n.links(at).right,
                Ordering::Equal => return true,
            }
        }
        false
    }

    /// The thread with the earliest deadline (the smallest thread number among equal
    /// ones).
    pub fn first<N: Nodes>(&self, n: &mut N) -> Option<u32> {
        let mut at = self.root;
        if at == NONE {
            return None;
        }
        loop {
            let left = n.links(at).left;
            if left == NONE {
                return Some(at);
            }
            at = left;
        }
    }

    /// The earliest deadline, if any thread waits.
    pub fn earliest<N: Nodes>(&self, n: &mut N) -> Option<u64> {
        self.first(n).map(|t| n.deadline(t))
    }

    /// Removes and returns the earliest waiter if its deadline is at or before `now`.
    pub fn pop_expired<N: Nodes>(&mut self, n: &mut N, now: u64) -> Option<u32> {
        let t = self.first(n)?;
        if n.deadline(t) > now {
            return None;
        }
        self.remove(n, t);
        Some(t)
    }

    /// Checks the invariants (ordering, balance, heights, the count); the first broken
    /// one.
    pub fn check<N: Nodes>(&self, n: &mut N) -> Result<(), &'static str> {
        let mut count = 0;
        check_at(n, self.root, None, None, &mut count)?;
        if count != self.len { Err("the count disagrees with the tree") } else { Ok(()) }
    }
}

fn height<N: Nodes>(n: &mut N, t: u32) -> u8 {
    if t == NONE { 0 } else { n.links(t).height }
}

fn update<N: Nodes>(n: &mut N, t: u32) {
    let Links { left, right, .. } = *n.links(t);
    let h = 1 + height(n, left).max(height(n, right));
    n.links(t).height = h;
}

fn rotate_right<N: Nodes>(n: &mut N, y: u32) -> u32 {
    let x = n.links(y).left;
    let moved = n.links(x).right;
    n.links(y).left = moved;
    n.links(x).right = y;
    update(n, y);
    update(n, x);
    x
}

fn rotate_left<N: Nodes>(n: &mut N, x: u32) -> u32 {
    let y = n.links(x).right;
    let moved = n.links(y).left;
    n.links(x).right = moved;
    n.links(y).left = x;
    update(n, x);
    update(n, y);
    y
}

/// Restores the AVL balance at `t` (its subtrees balanced, their heights off by two at
/// most); the subtree's new root.
fn rebalance<N: Nodes>(n: &mut N, t: u32) -> u32 {
    update(n, t);
    let Links { left, right, .. } = *n.links(t);
    let (hl, hr) = (height(n, left), height(n, right));
    if hl > hr + 1 {
        let (ll, lr) = (n.links(left).left, n.links(left).right);
        if height(n, ll) < height(n, lr) {
            let l = rotate_left(n, left);
            n.links(t).left = l;
        }
        return rotate_right(n, t);
    }
    if hr > hl + 1 {
        let (rl, rr) = (n.links(right).left, n.links(right).right);
        if height(n, rr) < height(n, rl) {
            let r = rotate_right(n, right);
            n.links(t).right = r;
        }
        return rotate_left(n, t);
    }
    t
}

fn key_of<N: Nodes>(n: &mut N, t: u32) -> (u64, u32) {
    (n.deadline(t), t)
}

fn insert_at<N: Nodes>(n: &mut N, at: u32, t: u32, key: (u64, u32)) -> u32 {
    if at == NONE {
        *n.links(t) = Links { left: NONE, right: NONE, height: 1 };
        return t;
    }
    if key < key_of(n, at) {
        let left = n.links(at).left;
        let new = insert_at(n, left, t, key);
        n.links(at).left = new;
    } else {
        let right = n.links(at).right;
        let new = insert_at(n, right, t, key);
        n.links(at).right = new;
    }
    rebalance(n, at)
}

/// Removes the smallest node of the subtree at `at`: (the subtree's new root, that node).
fn remove_min<N: Nodes>(n: &mut N, at: u32) -> (u32, u32) {
    let Links { left, right, .. } = *n.links(at);
    if left == NONE {
        return (right, at);
    }
    let (new_left, min) = remove_min(n, left);
    n.links(at).left = new_left;
    (rebalance(n, at), min)
}

fn remove_at<N: Nodes>(n: &mut N, at: u32, key: (u64, u32), found: &mut bool) -> u32 {
    if at == NONE {
        return NONE;
    }
    match key.cmp(&key_of(n, at)) {
        Ordering::Less => {
            let left = n.links(at).left;
            let new = remove_at(n, left, key, found);
            n.links(at).left = new;
        }
        Ordering::Greater => {
            let right = n.links(at).right;
            let new = remove_at(n, right, key, found);
            n.links(at).right = new;
        }
        Ordering::Equal => {
            *found = true;
            let Links { left, right, .. } = *n.links(at);
            *n.links(at) = Links::default();
            if left == NONE {
                return right;
            }
            if right == NONE {
                return left;
            }
            let (new_right, successor) = remove_min(n, right);
            *n.links(successor) = Links { left, right: new_right, height: 0 };
            return rebalance(n, successor);
        }
    }
    rebalance(n, at)
}

fn check_at<N: Nodes>(
    n: &mut N,
    at: u32,
    low: Option<(u64, u32)>,
    high: Option<(u64, u32)>,
    count: &mut u32,
) -> Result<u8, &'static str> {
    if at == NONE {
        return Ok(0);
    }
    *count += 1;
    let key = key_of(n, at);
    if low.is_some_and(|l| key <= l) || high.is_some_and(|h| key >= h) {
        return Err("keys out of order");
    }
    let Links { left, right, height } = *n.links(at);
    let hl = check_at(n, left, low, Some(key), count)?;
    let hr = check_at(n, right, Some(key), high, count)?;
    if hl.abs_diff(hr) > 1 {
        return Err("unbalanced");
    }
    if height != 1 + hl.max(hr) {
        return Err("a wrong height");
    }
    Ok(height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::vec::Vec;

    /// Threads 1..N with a deadline and links each.
    struct Table(Vec<(u64, Links)>);

    impl Nodes for Table {
        fn deadline(&mut self, t: u32) -> u64 {
            self.0[t as usize].0
        }

        fn links(&mut self, t: u32) -> &mut Links {
            &mut self.0[t as usize].1
        }
    }

    #[test]
    fn the_earliest_deadline_comes_first_and_ties_go_by_thread_number() {
        let mut n = Table(vec![(0, Links::default()); 8]);
        let mut q = Queue::new();
        for (t, d) in [(3, 50), (1, 70), (5, 50), (2, 10), (7, 90)] {
            n.0[t].0 = d;
            q.insert(&mut n, t as u32);
        }
        assert_eq!(q.earliest(&mut n), Some(10));
        assert!(q.contains(&mut n, 5) && !q.contains(&mut n, 4));
        let order: Vec<_> = std::iter::from_fn(|| q.pop_expired(&mut n, 80)).collect();
        assert_eq!(order, [2, 3, 5, 1], "up to 80, in deadline order, 3 before 5");
        assert_eq!(q.first(&mut n), Some(7));
        assert_eq!(q.pop_expired(&mut n, 89), None, "not yet");
        assert!(q.remove(&mut n, 7));
        assert!(!q.remove(&mut n, 7), "gone already");
        assert!(q.is_empty() && q.first(&mut n).is_none());
        assert!(n.0.iter().all(|(_, l)| *l == Links::default()), "every link cleared");
    }

    #[test]
    fn a_thousand_sequential_deadlines_keep_the_tree_shallow() {
        let mut n = Table(vec![(0, Links::default()); 1025]);
        let mut q = Queue::new();
        for t in 1..=1024u32 {
            n.0[t as usize].0 = u64::from(t); // the worst order for an unbalanced tree
            q.insert(&mut n, t);
        }
        q.check(&mut n).unwrap();
        let root = q.root;
        assert!(n.links(root).height <= 11, "a perfectly balanced 1024 is 11 high; AVL allows 15");
    }

    #[test]
    fn random_operations_match_an_ordered_set() {
        const T: usize = 200;
        let mut n = Table(vec![(0, Links::default()); T]);
        let mut q = Queue::new();
        let mut model: BTreeSet<(u64, u32)> = BTreeSet::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..40_000 {
            let t = 1 + (rand() % (T as u64 - 1)) as u32;
            match rand() % 4 {
                0 | 1 => {
                    if !n.links(t).queued() {
                        let d = rand() % 64; // many ties
                        n.0[t as usize].0 = d;
                        q.insert(&mut n, t);
                        model.insert((d, t));
                    }
                }
                2 => {
                    let d = n.0[t as usize].0;
                    assert_eq!(q.remove(&mut n, t), model.remove(&(d, t)), "step {step}: remove {t}");
                }
                _ => {
                    let now = rand() % 64;
                    let want = model.first().copied().filter(|&(d, _)| d <= now);
                    if let Some(w) = want {
                        model.remove(&w);
                    }
                    assert_eq!(q.pop_expired(&mut n, now), want.map(|(_, t)| t), "step {step}");
                }
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.earliest(&mut n), model.first().map(|&(d, _)| d));
            if step % 97 == 0 {
                q.check(&mut n).unwrap();
            }
        }
        q.check(&mut n).unwrap();
    }
}
