//! The closed sets of string values a message field may hold (the API's
//! enums): [`Channel`], [`Direction`], [`DeliveryStatus`].

/// Declares a closed set of string values (an API enum) with its parsing
/// and canonical spelling.
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`")] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as the API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelled exactly `text`, if any.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The allowed spellings, for error messages: `` `a`, `b` ``.
            pub fn allowed() -> String {
                $name::ALL.iter().map(|value| format!("`{}`", value.as_str())).collect::<Vec<_>>().join(", ")
            }

            /// The value's small code (its position in [`Self::ALL`]).
            pub const fn code(self) -> u8 {
                self as u8
            }
        }
    };
}

api_enum!(
    /// The channel a message went over.
    Channel { Email => "email", Sms => "sms" }
);
api_enum!(
    /// Whether a message was received or sent.
    Direction { Inbound => "inbound", Outbound => "outbound" }
);
api_enum!(
    /// The sender service's verdict on an outbound message.
    DeliveryStatus { Sent => "sent", Failed => "failed", Queued => "queued", Unknown => "unknown" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_only_their_spellings() {
        assert_eq!(Channel::parse("sms"), Some(Channel::Sms));
        assert_eq!(Channel::parse("SMS"), None);
        assert_eq!(DeliveryStatus::parse("unknown"), Some(DeliveryStatus::Unknown));
        assert_eq!(Direction::allowed(), "`inbound`, `outbound`");
    }
}
