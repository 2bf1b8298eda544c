//! [`IMap`]: the iterator returned by `imap` and `imap_unordered`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::task::TaskError;
use ipc_core::Timeout;

/// Results of [`Pool::imap`](crate::Pool::imap) / [`imap_unordered`](crate::Pool::imap_unordered),
/// as they arrive. A plain [`Iterator`] (so adapters and progress bars compose with it), plus
/// [`next_timeout`](IMap::next_timeout). A failed chunk yields its error once per item.
///
/// ```
/// use procpool::Pool;
///
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = Pool::new(2)?;
/// let results = pool.imap(square, 1..=5, 2)?; // chunks of 2 items
/// assert_eq!(results.len(), 5);
/// let squares: Vec<u64> = results.collect::<Result<_, _>>()?;
/// assert_eq!(squares, [1, 4, 9, 16, 25]); // in order; imap_unordered yields as they finish
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IMap<R> {
    rx: Receiver<(usize, Result<Vec<R>, TaskError>)>,
    sizes: Vec<usize>,
    ordered: bool,
    next_chunk: usize,
    early: BTreeMap<usize, Result<Vec<R>, TaskError>>,
    ready: VecDeque<Result<R, TaskError>>,
    chunks_left: usize,
    items_left: usize,
}

impl<R> IMap<R> {
    pub(crate) fn new(
        rx: Receiver<(usize, Result<Vec<R>, TaskError>)>,
        sizes: Vec<usize>,
        ordered: bool,
    ) -> Self {
        let chunks_left = sizes.len();
        let items_left = sizes.iter().sum();
        IMap {
            rx,
            sizes,
            ordered,
            next_chunk: 0,
            early: BTreeMap::new(),
            ready: VecDeque::new(),
            chunks_left,
            items_left,
        }
    }

    /// Items not yet yielded (including those still being computed).
    pub fn remaining(&self) -> usize {
        self.items_left
    }

    fn push_chunk(&mut self, index: usize, outcome: Result<Vec<R>, TaskError>) {
        match outcome {
            Ok(v) => self.ready.extend(v.into_iter().map(Ok)),
            Err(e) => self
                .ready
                .extend((0..self.sizes[index]).map(|_| Err(e.clone()))),
        }
    }

    fn accept(&mut self, index: usize, outcome: Result<Vec<R>, TaskError>) {
        self.chunks_left -= 1;
        if !self.ordered {
            self.push_chunk(index, outcome);
            return;
        }
        self.early.insert(index, outcome);
        while let Some(o) = self.early.remove(&self.next_chunk) {
            let i = self.next_chunk;
            self.next_chunk += 1;
            self.push_chunk(i, o);
        }
    }

    fn next_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Result<R, TaskError>>, Timeout> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                self.items_left = self.items_left.saturating_sub(1);
                return Ok(Some(r));
            }
            if self.chunks_left == 0 {
                return Ok(None);
            }
            let got = match deadline {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => self.rx.recv_deadline(d),
            };
            match got {
                Ok((i, o)) => self.accept(i, o),
                Err(RecvTimeoutError::Timeout) => return Err(Timeout),
                Err(RecvTimeoutError::Disconnected) => {
                    // The pool went away with chunks outstanding (terminated).
                    self.chunks_left = 0;
                    self.items_left = 0;
                    return Ok(Some(Err(TaskError::Terminated)));
                }
            }
        }
    }

    /// The next result, waiting at most `timeout`; `Ok(None)` at the end.
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Result<R, TaskError>>, Timeout> {
        self.next_until(Instant::now().checked_add(timeout))
    }
}

impl<R> Iterator for IMap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None).unwrap_or(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.items_left, Some(self.items_left))
    }
}

impl<R> ExactSizeIterator for IMap<R> {}

impl<R> fmt::Debug for IMap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.ordered)
            .field("chunks_left", &self.chunks_left)
            .finish()
    }
}
