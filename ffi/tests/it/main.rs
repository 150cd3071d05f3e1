//! The C API's tests: the committed header is what cbindgen makes now, and C programs that
//! use the library compile and run clean under valgrind — one binary.

mod c_programs;
mod header;
