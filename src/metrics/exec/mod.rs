//! The `exec` category: the user's own command, measured from outside its process.
//! Each run is timed from its start to its exit, its device memory sampled while it
//! runs, and every figure it prints read off its output; the runner only gives each
//! run its configuration's environment.

mod command;
mod figures;
mod memory;
mod summary;

pub use command::{run_once, Finished};
pub use figures::{
    bad_name, json_figure, quote, unmatched, Occurrence, Pattern, DEFAULT_UNIT, WALL_TIME,
};
#[cfg(test)]
pub(crate) use memory::Counting;
pub use memory::{DeviceMemory, MemoryProbe, SAMPLE};
pub use summary::summarize;
