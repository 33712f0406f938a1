//! Progress on stderr for long work — loading a large file, `gen`,
//! `bench` — drawn only when stderr is a terminal, so that logs and pipes
//! never see it.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Files smaller than this load too fast for a bar to help.
const BAR_WORTH_BYTES: u64 = 64 << 20;

/// A bar of bytes read from a file being loaded.
pub(crate) fn loading(path: &std::path::Path, total_bytes: u64) -> ProgressBar {
    if total_bytes < BAR_WORTH_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("loading {}", path.display()));
    bar
}

/// A bar of messages written by `gen`.
pub(crate) fn generating(count: u64) -> ProgressBar {
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("generating [{bar:30}] {human_pos}/{human_len} messages ({per_sec}, {eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// A spinner naming the step under way (`bench`).
pub(crate) fn steps() -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
    spinner.enable_steady_tick(Duration::from_millis(200));
    spinner
}

/// A writer that advances `bar` by one for each line written through it.
pub(crate) struct CountLines<W> {
    inner: W,
    bar: ProgressBar,
}

impl<W> CountLines<W> {
    /// `inner`, counted on `bar`.
    pub(crate) fn new(inner: W, bar: ProgressBar) -> CountLines<W> {
        CountLines { inner, bar }
    }
}

impl<W: std::io::Write> std::io::Write for CountLines<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.bar.inc(memchr_count(&bytes[..written]));
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn memchr_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&byte| byte == b'\n').count() as u64
}
