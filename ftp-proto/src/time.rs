//! UTC timestamps as FTP carries them: the RFC 3659 `time-val` (`YYYYMMDDHHMMSS[.sss]`) of
//! MDTM, MFMT and the MLSx `modify`/`create` facts, and the calendar fields LIST lines show.
//!
//! The core never reads a clock: a [`Timestamp`] is made from a number, a calendar date, a
//! parsed `time-val` or a [`std::time::SystemTime`] the caller already has.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a `time-val` did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not `YYYYMMDDHHMMSS` followed by an optional `.` and 1-9 digits.
    #[error("time-val is not YYYYMMDDHHMMSS[.fraction]")]
    Syntax,
    /// The digits are well-formed but name no real instant (month 13, 31 February, hour 24...).
    #[error("time-val is out of range")]
    Range,
}

/// The calendar fields of a [`Timestamp`] in UTC (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Civil {
    /// Year, 0 to 9999 for values that a `time-val` can carry.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day: u8,
    /// Hour, 0 to 23.
    pub hour: u8,
    /// Minute, 0 to 59.
    pub minute: u8,
    /// Second, 0 to 59.
    pub second: u8,
}

/// An instant in UTC with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Seconds from 0000-01-01T00:00:00 to 9999-12-31T23:59:59, the span a `time-val` can name.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// Builds a timestamp from seconds since the Unix epoch and a sub-second part.
    ///
    /// Returns `None` if `nanos` is 1e9 or more, or if the instant lies outside years 0-9999.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Self> {
        if nanos >= 1_000_000_000 || !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return None;
        }
        Some(Timestamp { secs, nanos })
    }

    /// Seconds since the Unix epoch (negative before 1970).
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// The sub-second part in nanoseconds.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Builds a timestamp from UTC calendar fields; `None` if a field is out of range.
    pub fn from_civil(c: Civil) -> Option<Self> {
        if !(0..=9999).contains(&c.year)
            || !(1..=12).contains(&c.month)
            || c.day == 0
            || c.day > days_in_month(c.year, c.month)
            || c.hour > 23
            || c.minute > 59
            || c.second > 59
        {
            return None;
        }
        let days = days_from_civil(c.year, c.month, c.day);
        let secs = days * 86_400
            + i64::from(c.hour) * 3600
            + i64::from(c.minute) * 60
            + i64::from(c.second);
        Timestamp::from_unix(secs, 0)
    }

    /// The UTC calendar fields of this instant (the sub-second part is dropped).
    pub fn to_civil(&self) -> Civil {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// Converts a [`SystemTime`] the caller already holds; `None` outside years 0-9999.
    pub fn from_system_time(t: SystemTime) -> Option<Self> {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs())
                .ok()
                .and_then(|s| Timestamp::from_unix(s, d.subsec_nanos())),
            Err(e) => {
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).ok()?;
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                Timestamp::from_unix(secs, nanos)
            }
        }
    }

    /// Converts to a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs as u64, self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs())
                + Duration::from_nanos(u64::from(self.nanos))
        }
    }

    /// Parses an RFC 3659 `time-val`: `YYYYMMDDHHMMSS` and an optional `.` with 1 to 9
    /// fraction digits. A leap second (`60`) is accepted and read as the next second.
    pub fn parse_time_val(s: &[u8]) -> Result<Self, TimeError> {
        if s.len() < 14 || !s[..14].iter().all(u8::is_ascii_digit) {
            return Err(TimeError::Syntax);
        }
        let num = |r: std::ops::Range<usize>| {
            s[r].iter()
                .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'))
        };
        let mut nanos = 0u32;
        match &s[14..] {
            [] => {}
            [b'.', frac @ ..]
                if (1..=9).contains(&frac.len()) && frac.iter().all(u8::is_ascii_digit) =>
            {
                for i in 0..9 {
                    let d = frac.get(i).map_or(0, |&b| u32::from(b - b'0'));
                    nanos = nanos * 10 + d;
                }
            }
            _ => return Err(TimeError::Syntax),
        }
        let second = num(12..14);
        let leap = second == 60;
        let civil = Civil {
            year: num(0..4) as i32,
            month: num(4..6) as u8,
            day: num(6..8) as u8,
            hour: num(8..10) as u8,
            minute: num(10..12) as u8,
            second: if leap { 59 } else { second.min(255) as u8 },
        };
        let t = Timestamp::from_civil(civil).ok_or(TimeError::Range)?;
        if leap {
            return Timestamp::from_unix(t.secs + 1, nanos).ok_or(TimeError::Range);
        }
        Ok(Timestamp {
            secs: t.secs,
            nanos,
        })
    }

    /// Formats as a `time-val` without a fraction: `YYYYMMDDHHMMSS`.
    pub fn time_val(&self) -> TimeVal {
        TimeVal {
            t: *self,
            fraction: false,
        }
    }

    /// Formats as a `time-val` with the fraction when it is not zero (trailing zeros trimmed).
    pub fn time_val_precise(&self) -> TimeVal {
        TimeVal {
            t: *self,
            fraction: true,
        }
    }
}

/// A [`Timestamp`] displayed as an RFC 3659 `time-val`; made by [`Timestamp::time_val`].
#[derive(Debug, Clone, Copy)]
pub struct TimeVal {
    t: Timestamp,
    fraction: bool,
}

impl fmt::Display for TimeVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.t.to_civil();
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )?;
        if self.fraction && self.t.nanos != 0 {
            let mut digits = format!("{:09}", self.t.nanos);
            while digits.ends_with('0') {
                digits.pop();
            }
            write!(f, ".{digits}")?;
        }
        Ok(())
    }
}

/// Whether `year` is a Gregorian leap year.
pub(crate) fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's days-from-civil algorithm: exact for the proleptic Gregorian calendar.
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &[(&str, i64, u32)] = &[
        ("19700101000000", 0, 0),
        ("20020717210148", 1_026_939_708, 0),
        ("19980308131822.123", 889_363_102, 123_000_000),
        ("20000229235959", 951_868_799, 0),
        ("00000101000000", MIN_SECS, 0),
        ("99991231235959.999999999", MAX_SECS, 999_999_999),
        ("19691231235959.5", -1, 500_000_000),
    ];

    #[test]
    fn time_val_vectors_both_ways() {
        for &(text, secs, nanos) in VECTORS {
            let t = Timestamp::parse_time_val(text.as_bytes()).unwrap();
            assert_eq!(
                (t.unix_seconds(), t.subsec_nanos()),
                (secs, nanos),
                "{text}"
            );
            assert_eq!(t.time_val_precise().to_string(), text);
            assert_eq!(Timestamp::from_system_time(t.to_system_time()), Some(t));
        }
    }

    #[test]
    fn time_val_rejects() {
        for bad in [
            "",
            "2003040a102659",
            "2003040",
            "20030230000000",
            "20031301000000",
            "20030101240000",
            "20030101006000",
            "20030101000061",
            "20030101000000.",
            "20030101000000.1234567890",
            "20030101000000x",
            "+2003010100000",
        ] {
            assert!(Timestamp::parse_time_val(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn leap_second_reads_as_next_second() {
        let t = Timestamp::parse_time_val(b"19981231235960").unwrap();
        assert_eq!(t.time_val().to_string(), "19990101000000");
    }

    #[test]
    fn civil_round_trip_over_many_days() {
        let mut secs = MIN_SECS;
        while secs < MAX_SECS {
            let t = Timestamp::from_unix(secs, 0).unwrap();
            assert_eq!(Timestamp::from_civil(t.to_civil()), Some(t));
            secs += 86_400 * 37 + 3_601;
        }
    }
}
