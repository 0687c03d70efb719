//! Running a connector component: the process-wide [`engine`] and its compile
//! cache, loading and checking a [`component`], one [`sandbox`] per run with its
//! store [`limits`] and deadlines, and the classification of a failed guest call
//! ([`guest_error`]).
//!
//! This is the edge of the WIT contract. [`bindings`] holds one `bindgen!` per
//! supported version of the package, [`v1`] converts that version's types to the
//! host's own ([`crate::contract`]), the sandbox dispatches every export over the
//! versions a component may implement, and [`capabilities`] implements every
//! interface a component imports, one file each. Adding a version is a new bindings module,
//! a new conversion module and a new arm in each dispatch; nothing behind the edge
//! changes.

pub mod bindings;
pub mod capabilities;
pub mod component;
pub mod engine;
pub mod guest_error;
pub mod limits;
pub mod sandbox;
pub mod v1;
