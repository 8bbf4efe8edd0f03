//! Standard output for the report commands (`list`, `check`, `sim`, the
//! secret printers). A reader that closes the pipe early (`prophet list |
//! grep -q kv`, `| head`) has taken what it wanted: the command then stops
//! quietly with status 0, as Unix tools do, instead of panicking as
//! `println!` does on a closed pipe.

use std::io::Write;

/// Writes one formatted line to standard output. On a closed pipe the
/// process exits with status 0; on any other write error it exits with
/// status 74 (`EX_IOERR`) after saying why on standard error.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(74);
        }
    }
}

/// `println!` for the report commands: see [`line`].
macro_rules! outln {
    () => { $crate::out::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::out::line(format_args!($($arg)*)) };
}
pub(crate) use outln;
