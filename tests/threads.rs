//! Threads: the thread-count setting and `CAUCHY_NUM_THREADS`, fork safety of the pool,
//! concurrent callers, and the per-thread last-error message.
//!
//! The thread count is global to the process, so every test here holds `LOCK` (a fork must
//! also not happen while another test's call holds the library's locks).

mod common;

use cauchy::{
    cauchy_get_num_threads as get, cauchy_set_num_threads as set, CauchyStatus, CauchyTensorDesc,
    CAUCHY_REDUCTION_MEAN as MEAN, CAUCHY_REDUCTION_NONE as NONE, CAUCHY_REDUCTION_SUM as SUM,
};
use common::tensors::{digest, ok, Float, Rng, View};
use std::ffi::CStr;
use std::ptr::null;
use std::sync::{Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string valid until this thread's next failure.
    unsafe { CStr::from_ptr(cauchy::cauchy_last_error_message()) }.to_string_lossy().into_owned()
}

/// The default count when `CAUCHY_NUM_THREADS` holds no valid number: every core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn set_and_get_round_trip() {
    let _l = lock();
    let default = get();
    assert_ne!(default, 0);
    if std::env::var_os("CAUCHY_NUM_THREADS").is_none() {
        assert_eq!(default, cores());
    }
    for n in [1, 2, 3, 17, 4096] {
        ok(set(n), "set");
        assert_eq!(get(), n);
    }
    ok(set(5), "set");
    for n in [4097, usize::MAX] {
        assert_eq!(set(n), CauchyStatus::CAUCHY_STATUS_INVALID_ARGUMENT);
        assert!(last_error().contains(&n.to_string()), "message: {}", last_error());
        assert_eq!(get(), 5, "a rejected count changed the setting");
    }
    ok(set(0), "set");
    assert_eq!(get(), default, "0 does not restore the default");
}

/// A contiguous f32 pair of `n` elements with reproducible values.
fn pair(n: i64, seed: u64) -> (View<f32>, View<f32>) {
    let mut rng = Rng(seed);
    let x = View::new(&[n], None, || rng.value(-4.0, 4.0));
    let y = View::new(&[n], None, || rng.value(-4.0, 4.0));
    (x, y)
}

/// The loss SUM of a pair, as bits.
fn loss_sum(x: &View<f32>, y: &View<f32>) -> Result<u32, CauchyStatus> {
    let mut out = f32::NAN;
    // SAFETY: live views; one output element.
    let status = unsafe { f32::LOSS(x.ptr(), x.desc(), y.ptr(), y.desc(), SUM, &mut out, null()) };
    match status {
        CauchyStatus::CAUCHY_STATUS_OK => Ok(out.to_bits()),
        s => Err(s),
    }
}

/// The child's side of `env_variable_is_honoured`: the count must be `want`, whatever happens
/// to the variable after first use.
fn check_env_count(want: usize) {
    assert_eq!(get(), want);
    // Read once: changing the variable later changes nothing, not even the restored default.
    std::env::set_var("CAUCHY_NUM_THREADS", "3");
    ok(set(2), "set");
    ok(set(0), "set");
    assert_eq!(get(), want);
    if want <= 8 {
        let (x, y) = pair(100_000, 1);
        assert!(loss_sum(&x, &y).is_ok());
    }
}

/// `CAUCHY_NUM_THREADS` is read at first use: the test re-runs itself in a child process per
/// value, where `CAUCHY_TEST_EXPECT` says what the child must see.
#[test]
fn env_variable_is_honoured() {
    if let Ok(want) = std::env::var("CAUCHY_TEST_EXPECT") {
        return check_env_count(want.parse().unwrap());
    }
    let _l = lock();
    let exe = std::env::current_exe().unwrap();
    let cases =
        [("1", 1), ("5", 5), ("4096", 4096), ("0", cores()), ("4097", cores()), ("two", cores())];
    for (value, want) in cases {
        let out = std::process::Command::new(&exe)
            .args(["env_variable_is_honoured", "--exact", "--test-threads=1"])
            .env("CAUCHY_NUM_THREADS", value)
            .env("CAUCHY_TEST_EXPECT", want.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "CAUCHY_NUM_THREADS={value:?} should give {want} threads:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn fork_child_can_use_the_pool() {
    let _l = lock();
    let (x, y) = pair(300_000, 2);
    ok(set(3), "set");
    let want = loss_sum(&x, &y).unwrap(); // the pool now exists, with live worker threads
                                          // SAFETY: the child only calls the library (which is fork-safe by contract) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // The child: only this thread exists. Nothing may unwind into the copied test harness.
        let same = |threads| {
            set(threads) == CauchyStatus::CAUCHY_STATUS_OK && loss_sum(&x, &y) == Ok(want)
        };
        let good = std::panic::catch_unwind(|| same(3) && same(2) && same(4)).unwrap_or(false);
        // SAFETY: ends the child without running the parent's atexit handlers or destructors.
        unsafe { libc::_exit(if good { 0 } else { 1 }) };
    }
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung in its library call");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(set(0), "set");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: status {status:#x}"
    );
}

/// One of a few different calls (by `kind`) on reproducible data of `n` elements: the digest
/// of its outputs.
fn job<T: Float>(kind: usize, n: i64) -> u64 {
    let mut rng = Rng(kind as u64);
    let x = View::<T>::new(&[n], None, || rng.value(-4.0, 4.0));
    let y = View::<T>::new(&[n], None, || rng.value(-4.0, 4.0));
    let (mut out, mut g1, mut g2) =
        (View::<T>::output(&[n], None), View::output(&[n], None), View::output(&[n], None));
    let one = T::from_f64(1.0);
    let (xp, xd, yp, yd) = (x.ptr(), x.desc(), y.ptr(), y.desc());
    let (o, p1, p2) = (out.ptr_mut(), g1.ptr_mut(), g2.ptr_mut());
    // SAFETY: live views; MEAN / SUM outputs and upstream gradients are one element.
    let status = unsafe {
        match kind % 4 {
            0 => T::LOSS(xp, xd, yp, yd, NONE, o, null()),
            1 => T::BACKWARD(xp, xd, yp, yd, SUM, &one, null(), p1, null(), p2, null()),
            2 => T::FUSED(xp, xd, yp, yd, MEAN, o, null(), p1, null(), p2, null()),
            _ => T::REDUCE(xp, xd, SUM, o),
        }
    };
    ok(status, "job");
    digest(&[out.buf, g1.buf, g2.buf].concat())
}

/// A job per index: f32 and f64, small and pool-sized, every kind of call.
fn job_by_index(i: usize) -> u64 {
    let n = if i.is_multiple_of(3) { 1000 } else { 100_000 };
    if i.is_multiple_of(2) {
        job::<f32>(i / 2, n)
    } else {
        job::<f64>(i / 2, n)
    }
}

#[test]
fn concurrent_callers_get_correct_results() {
    let _l = lock();
    ok(set(4), "set");
    let want: Vec<u64> = (0..8).map(job_by_index).collect();
    std::thread::scope(|s| {
        for (i, &w) in want.iter().enumerate() {
            s.spawn(move || {
                for round in 0..3 {
                    assert_eq!(
                        job_by_index(i),
                        w,
                        "job {i} round {round} differs under concurrency"
                    );
                }
            });
        }
    });
    ok(set(0), "set");
}

#[test]
fn last_error_message_is_per_thread() {
    let _l = lock();
    let barrier = Barrier::new(8);
    std::thread::scope(|s| {
        for i in 0..8i64 {
            let barrier = &barrier;
            s.spawn(move || {
                let (s1, s2) = ([i + 2], [i + 3]);
                let d1 = CauchyTensorDesc { ndim: 1, shape: s1.as_ptr(), strides: null() };
                let d2 = CauchyTensorDesc { ndim: 1, shape: s2.as_ptr(), strides: null() };
                let (x, y, mut out) = (vec![0f32; 16], vec![0f32; 16], vec![0f32; 16]);
                // SAFETY: buffers hold more elements than the descriptors describe.
                let status = unsafe {
                    f32::LOSS(x.as_ptr(), &d1, y.as_ptr(), &d2, NONE, out.as_mut_ptr(), null())
                };
                assert_eq!(status, CauchyStatus::CAUCHY_STATUS_SHAPE_MISMATCH);
                barrier.wait(); // every thread has failed with its own shapes
                let want = format!("img2 shape [{}] does not match img1 shape [{}]", i + 3, i + 2);
                assert!(last_error().contains(&want), "thread {i} sees {:?}", last_error());
            });
        }
    });
    let fresh = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(fresh, "", "a thread that never failed has a message");
}
