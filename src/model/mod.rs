//! The message object of SPEC §1: its 31 fields, their kinds, and the typed
//! [`Message`] that the loader produces and both engines answer from.
//!
//! Field order matters: [`Field::ALL`] lists the fields in the canonical
//! order (byte-wise ascending by name, so `_id` first), and every JSON object
//! msgdex writes follows it.

mod date_key;
mod date_time;
mod field;
mod message;
mod values;

pub use date_key::{DateKey, PerDateKey};
pub use date_time::DateTime;
pub use field::{Field, FieldKind};
pub use message::{FieldValue, Message};
pub use values::{Channel, DeliveryStatus, Direction};
