//! The library's own worker threads.
//!
//! A rayon pool owned by the library (never the host's global pool), built on first use with
//! `cauchy_set_num_threads()`'s count, or `CAUCHY_NUM_THREADS` (read once), or every core.
//! After `fork()` the child has no worker threads, so the pool remembers the pid that built it
//! and the child builds its own instead of waiting forever on threads that do not exist.

use crate::status::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The most threads `cauchy_set_num_threads()` accepts.
pub(crate) const MAX_THREADS: usize = 4096;

/// The count set by `cauchy_set_num_threads()`; 0 means the default.
static REQUESTED: AtomicUsize = AtomicUsize::new(0);

struct Built {
    pid: u32,
    threads: usize,
    pool: Arc<rayon::ThreadPool>,
}

static POOL: Mutex<Option<Built>> = Mutex::new(None);

/// `CAUCHY_NUM_THREADS` when it holds a number in 1..=4096, else the number of cores.
fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var("CAUCHY_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| (1..=MAX_THREADS).contains(n))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Set the thread count for later calls (0 = the default).
pub fn set_num_threads(n: usize) -> Result<(), Error> {
    if n > MAX_THREADS {
        return Err(Error::TooManyThreads(n));
    }
    REQUESTED.store(n, Ordering::Relaxed);
    Ok(())
}

/// The thread count calls use now; never 0.
pub fn num_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// The pool for the current count and process, built or rebuilt when either changed.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, Error> {
    let pid = std::process::id();
    let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = slot.as_ref() {
        if b.pid == pid && b.threads == threads {
            return Ok(b.pool.clone());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cauchy-{i}"))
        .build()
        .map_err(|e| Error::Internal(format!("cannot start {threads} worker threads: {e}")))?;
    let pool = Arc::new(pool);
    if let Some(old) = slot.replace(Built { pid, threads, pool: pool.clone() }) {
        if old.pid != pid {
            // Inherited through fork(): its threads do not exist here, so it is not dropped.
            std::mem::forget(old);
        }
    }
    Ok(pool)
}

/// Run `f` on the library's pool when more than one thread is configured, else right here.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, Error> {
    match num_threads() {
        1 => Ok(f()),
        n => Ok(pool(n)?.install(f)),
    }
}
