//! Running a connector component: the process-wide [`engine`] and its compile
//! cache, loading and checking a [`component`], one [`sandbox`] per run with its
//! store [`limits`] and deadlines, and the classification of a failed guest call
//! ([`guest_error`]).
//!
//! This is the edge of the WIT contract. [`bindings`] holds the `bindgen!`s of the
//! supported versions of the package (`v1` for 1.0 and 1.1's shared interfaces,
//! `v1_1` for the `evidence` export 1.1 adds), [`v1`] converts their types to the
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
