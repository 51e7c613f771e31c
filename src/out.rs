//! Standard output that a closed pipe ends quietly.
//!
//! `println!` panics when stdout is a pipe whose reader has gone (`hotpath replay
//! ... --json | head`): Rust ignores SIGPIPE, so the write fails with EPIPE and the
//! macro turns that into a panic. Commands print through [`outln!`] and [`out!`]
//! instead: on a broken pipe the process exits at once with status 141 (128 +
//! SIGPIPE, what a shell reports for a tool the signal stopped), printing nothing;
//! any other write error is reported on stderr with status 2.

use std::io::{self, Write};
use std::process::ExitCode;

/// Status of a command whose output pipe was closed: 128 + SIGPIPE.
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// Writes `args` to stdout, ending the process as the module says on failure.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        exit_on(&e);
    }
}

/// Ends the process for a failed write to stdout.
fn exit_on(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(i32::from(BROKEN_PIPE_STATUS));
    }
    eprintln!("hotpath: error: writing to stdout: {e}");
    std::process::exit(2)
}

/// The exit code for a command's error, if it was a closed output pipe (anywhere in
/// its chain of causes): such a command stops quietly.
pub fn quiet_exit(e: &(dyn std::error::Error + 'static)) -> Option<ExitCode> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return Some(ExitCode::from(BROKEN_PIPE_STATUS));
            }
        }
        cur = err.source();
    }
    None
}

/// `println!` that ends the process quietly on a closed pipe.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that ends the process quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_anywhere_in_the_causes_is_a_quiet_exit() {
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "printing the table")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let piped = Wrapper(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(quiet_exit(&piped), Some(ExitCode::from(BROKEN_PIPE_STATUS)));
        let other = Wrapper(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(quiet_exit(&other), None);
    }
}
