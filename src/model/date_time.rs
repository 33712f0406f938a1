//! [`DateTime`]: the API's naive date/time, `"YYYY-MM-DD HH:MM:SS"`.

use std::fmt;

/// A naive date/time (no time zone) with one-second resolution, as the API
/// writes it: `"YYYY-MM-DD HH:MM:SS"`, years 0000 to 9999.
///
/// Stored as seconds since 0000-01-01 00:00:00 in the proleptic Gregorian
/// calendar, so that chronological order is integer order and a value takes
/// eight bytes in a column.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(i64);

/// The date and time as the API writes them, `DateTime(2024-01-02 03:04:05)`,
/// rather than the seconds stored.
impl fmt::Debug for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DateTime({self})")
    }
}

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Days from 0000-01-01 to 0001-01-01 (year 0 is a leap year), so that
/// chrono's day count from the common era can be shifted to start at 0.
const YEAR_ZERO_DAYS: i64 = 366;

impl DateTime {
    /// Seconds since 0000-01-01 00:00:00.
    pub const fn seconds(self) -> i64 {
        self.0
    }

    /// The date/time `seconds` after 0000-01-01 00:00:00, if that is within
    /// the years 0000 to 9999.
    pub fn from_seconds(seconds: i64) -> Option<DateTime> {
        let latest = DateTime::from_parts(9999, 12, 31, 23, 59, 59)?;
        (0..=latest.0).contains(&seconds).then_some(DateTime(seconds))
    }

    /// The date/time of the given calendar fields, if they name a real time
    /// (no 24:00:00, no leap second, no 30 February).
    pub fn from_parts(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<DateTime> {
        if year > 9999 || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
        let days = i64::from(chrono::Datelike::num_days_from_ce(&date)) - 1 + YEAR_ZERO_DAYS;
        Some(DateTime(days * DAY + i64::from(hour * 3600 + minute * 60 + second)))
    }

    /// Parses exactly `YYYY-MM-DD HH:MM:SS` (the stored form).
    pub fn parse(text: &str) -> Option<DateTime> {
        DateTime::parse_with_separator(text, b' ')
    }

    /// Parses exactly `YYYY-MM-DD` as 00:00:00 of that day.
    pub fn parse_date(text: &str) -> Option<DateTime> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 {
            return None;
        }
        let (year, month, day) = parse_date_digits(bytes)?;
        DateTime::from_parts(year, month, day, 0, 0, 0)
    }

    /// Parses a date/time request parameter (SPEC §2): `YYYY-MM-DD HH:MM:SS`,
    /// `YYYY-MM-DDTHH:MM:SS`, or `YYYY-MM-DD` meaning 00:00:00 of that day.
    pub fn parse_parameter(text: &str) -> Option<DateTime> {
        match text.len() {
            10 => DateTime::parse_date(text),
            19 => DateTime::parse_with_separator(text, b' ').or_else(|| DateTime::parse_with_separator(text, b'T')),
            _ => None,
        }
    }

    fn parse_with_separator(text: &str, separator: u8) -> Option<DateTime> {
        let bytes = text.as_bytes();
        if bytes.len() != 19 || bytes[10] != separator || bytes[13] != b':' || bytes[16] != b':' {
            return None;
        }
        let (year, month, day) = parse_date_digits(&bytes[..10])?;
        let hour = digits(&bytes[11..13])?;
        let minute = digits(&bytes[14..16])?;
        let second = digits(&bytes[17..19])?;
        DateTime::from_parts(year, month, day, hour, minute, second)
    }

    /// 00:00:00 of the same day.
    pub fn start_of_day(self) -> DateTime {
        DateTime(self.0 - self.0.rem_euclid(DAY))
    }

    /// The last second of this date/time's day (23:59:59).
    pub fn end_of_day(self) -> DateTime {
        DateTime(self.0 - self.0.rem_euclid(DAY) + DAY - 1)
    }

    /// Writes the canonical `YYYY-MM-DD HH:MM:SS` form into `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The canonical form as 19 ASCII bytes, without allocating.
    pub fn to_bytes(self) -> [u8; 19] {
        let days = self.0.div_euclid(DAY);
        let second_of_day = self.0.rem_euclid(DAY) as u32;
        let date = chrono::NaiveDate::from_num_days_from_ce_opt((days - YEAR_ZERO_DAYS + 1) as i32)
            .expect("a DateTime is always within years 0000..=9999");
        let (year, month, day) =
            (chrono::Datelike::year(&date) as u32, chrono::Datelike::month(&date), chrono::Datelike::day(&date));
        let mut out = *b"0000-00-00 00:00:00";
        put_digits(&mut out[0..4], year);
        put_digits(&mut out[5..7], month);
        put_digits(&mut out[8..10], day);
        put_digits(&mut out[11..13], second_of_day / 3600);
        put_digits(&mut out[14..16], second_of_day / 60 % 60);
        put_digits(&mut out[17..19], second_of_day % 60);
        out
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(std::str::from_utf8(&bytes).expect("ASCII"))
    }
}

fn parse_date_digits(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    Some((digits(&bytes[0..4])?, digits(&bytes[5..7])?, digits(&bytes[8..10])?))
}

/// The value of a run of ASCII decimal digits; `None` if any byte is not one.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, &byte| byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0')))
}

fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_parse_strictly_and_round_trip() {
        for text in ["2024-02-29 23:59:59", "0000-01-01 00:00:00", "9999-12-31 23:59:59", "1970-01-01 00:00:00"] {
            let value = DateTime::parse(text).unwrap_or_else(|| panic!("{text} should parse"));
            assert_eq!(value.to_string(), text);
            assert_eq!(DateTime::from_seconds(value.seconds()), Some(value));
        }
        for bad in [
            "2023-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 23:60:00",
            "2024-01-01 23:59:60",
            "2024-1-01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01",
            "+024-01-01 00:00:00",
            "２０２４-01-01 00:00:00",
            "",
        ] {
            assert_eq!(DateTime::parse(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn date_times_order_chronologically() {
        let earlier = DateTime::parse("1999-12-31 23:59:59").unwrap();
        let later = DateTime::parse("2000-01-01 00:00:00").unwrap();
        assert!(earlier < later);
        assert_eq!(later.seconds() - earlier.seconds(), 1);
        assert_eq!(earlier.end_of_day(), earlier);
        assert_eq!(later.end_of_day().to_string(), "2000-01-01 23:59:59");
    }

    #[test]
    fn parameters_accept_three_forms() {
        let expected = DateTime::parse("2024-03-01 10:11:12").unwrap();
        assert_eq!(DateTime::parse_parameter("2024-03-01T10:11:12"), Some(expected));
        assert_eq!(DateTime::parse_parameter("2024-03-01 10:11:12"), Some(expected));
        assert_eq!(DateTime::parse_parameter("2024-03-01"), DateTime::parse("2024-03-01 00:00:00"));
        assert_eq!(DateTime::parse_parameter("2024-03-01t10:11:12"), None);
        assert_eq!(DateTime::parse_parameter("2024-03-01 10:11"), None);
    }

    #[test]
    fn debug_shows_the_date() {
        let value = DateTime::parse("2024-01-02 03:04:05").unwrap();
        assert_eq!(format!("{value:?}"), "DateTime(2024-01-02 03:04:05)");
    }
}
