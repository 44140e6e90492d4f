//! Reply codes: the three-digit number that opens every reply line.

use std::fmt;

/// A three-digit FTP reply code such as `220` or `550`.
///
/// Only values from 100 to 699 exist: the first digit (1-6) says whether the command worked,
/// and is all a client should rely on (RFC 1123 §4.1.2.11). The second and third digits may be
/// any digit, since real servers send codes no RFC lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

/// What the first digit of a [`ReplyCode`] says about the command (RFC 959 §4.2.1, RFC 2228).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// `1yz`: action started; expect another reply before sending a new command.
    PositivePreliminary,
    /// `2yz`: action completed.
    PositiveCompletion,
    /// `3yz`: accepted, but the server needs another command (e.g. PASS after USER).
    PositiveIntermediate,
    /// `4yz`: not done, but the same command may work later.
    TransientNegative,
    /// `5yz`: not done; do not repeat the same command.
    PermanentNegative,
    /// `6yz`: an RFC 2228 protected reply whose base64 text holds the real reply.
    Protected,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        impl ReplyCode {
            $($(#[$doc])* pub const $name: ReplyCode = ReplyCode($value);)*

            /// Every named constant, in ascending order (for tables and tests).
            pub const ALL_NAMED: &'static [ReplyCode] = &[$(ReplyCode::$name),*];
        }
    };
}

codes! {
    /// 110: restart marker reply; its text is exactly `MARK yyyy = mmmm`.
    RESTART_MARKER = 110;
    /// 120: service ready in nnn minutes; a 220 follows later.
    SERVICE_READY_IN = 120;
    /// 125: data connection already open; transfer starting.
    DATA_CONNECTION_ALREADY_OPEN = 125;
    /// 150: file status okay; about to open the data connection.
    FILE_STATUS_OKAY = 150;
    /// 200: command okay.
    COMMAND_OKAY = 200;
    /// 202: command not implemented, superfluous at this site.
    COMMAND_SUPERFLUOUS = 202;
    /// 211: system status or help reply; also the FEAT reply.
    SYSTEM_STATUS = 211;
    /// 212: directory status.
    DIRECTORY_STATUS = 212;
    /// 213: file status; the SIZE and MDTM reply.
    FILE_STATUS = 213;
    /// 214: help message.
    HELP_MESSAGE = 214;
    /// 215: NAME system type (the SYST reply).
    SYSTEM_TYPE = 215;
    /// 220: service ready for new user (the greeting).
    SERVICE_READY = 220;
    /// 221: service closing control connection (the QUIT reply).
    SERVICE_CLOSING = 221;
    /// 225: data connection open; no transfer in progress.
    DATA_CONNECTION_OPEN = 225;
    /// 226: closing data connection; requested file action successful.
    CLOSING_DATA_CONNECTION = 226;
    /// 227: entering passive mode (h1,h2,h3,h4,p1,p2).
    PASSIVE_MODE = 227;
    /// 228: entering long passive mode (RFC 1639 LPSV).
    LONG_PASSIVE_MODE = 228;
    /// 229: entering extended passive mode (|||port|) (RFC 2428 EPSV).
    EXTENDED_PASSIVE_MODE = 229;
    /// 230: user logged in, proceed.
    USER_LOGGED_IN = 230;
    /// 232: user logged in, authorized by security data exchange (RFC 2228).
    USER_LOGGED_IN_AUTHORIZED = 232;
    /// 234: security data exchange complete; the AUTH TLS reply (RFC 2228, RFC 4217).
    SECURITY_EXCHANGE_COMPLETE = 234;
    /// 235: security data exchange completed successfully, with `ADAT=` data (RFC 2228).
    SECURITY_EXCHANGE_SUCCESSFUL = 235;
    /// 250: requested file action okay, completed.
    FILE_ACTION_OKAY = 250;
    /// 257: "PATHNAME" created; the PWD and MKD reply.
    PATHNAME_CREATED = 257;
    /// 331: user name okay, need password.
    NEED_PASSWORD = 331;
    /// 332: need account for login.
    NEED_ACCOUNT = 332;
    /// 334: security mechanism accepted, send security data (RFC 2228).
    SECURITY_MECHANISM_OKAY = 334;
    /// 335: security data acceptable, more is required (RFC 2228).
    SECURITY_DATA_ACCEPTABLE = 335;
    /// 336: user name okay, need password; the text carries a challenge (RFC 2228).
    NEED_PASSWORD_CHALLENGE = 336;
    /// 350: requested file action pending further information (REST, RNFR).
    FILE_ACTION_PENDING = 350;
    /// 421: service not available, closing control connection.
    SERVICE_NOT_AVAILABLE = 421;
    /// 425: can't open data connection.
    CANT_OPEN_DATA_CONNECTION = 425;
    /// 426: connection closed; transfer aborted.
    TRANSFER_ABORTED = 426;
    /// 430: invalid user name or password (non-standard, seen in the wild).
    INVALID_CREDENTIALS = 430;
    /// 431: need some unavailable resource to process security (RFC 2228).
    SECURITY_RESOURCE_UNAVAILABLE = 431;
    /// 450: requested file action not taken; file unavailable (e.g. busy).
    FILE_BUSY = 450;
    /// 451: requested action aborted: local error in processing.
    LOCAL_ERROR = 451;
    /// 452: requested action not taken: insufficient storage space.
    INSUFFICIENT_STORAGE = 452;
    /// 500: syntax error, command unrecognized (also: line too long).
    SYNTAX_ERROR = 500;
    /// 501: syntax error in parameters or arguments.
    SYNTAX_ERROR_IN_ARGUMENTS = 501;
    /// 502: command not implemented.
    COMMAND_NOT_IMPLEMENTED = 502;
    /// 503: bad sequence of commands.
    BAD_SEQUENCE = 503;
    /// 504: command not implemented for that parameter.
    PARAMETER_NOT_IMPLEMENTED = 504;
    /// 521: refused for this setting: address family (RFC 1639 LPRT) or PROT level (RFC 4217).
    SETTING_NOT_SUPPORTED = 521;
    /// 522: network protocol not supported (RFC 2428), or TLS required (RFC 4217).
    NETWORK_PROTOCOL_NOT_SUPPORTED = 522;
    /// 530: not logged in.
    NOT_LOGGED_IN = 530;
    /// 532: need account for storing files.
    NEED_ACCOUNT_FOR_STORING = 532;
    /// 533: command protection level denied for policy reasons (RFC 2228).
    COMMAND_PROTECTION_DENIED = 533;
    /// 534: request denied for policy reasons (RFC 2228).
    DENIED_FOR_POLICY = 534;
    /// 535: failed security check (RFC 2228).
    FAILED_SECURITY_CHECK = 535;
    /// 536: requested PROT level not supported by mechanism (RFC 2228).
    PROT_LEVEL_NOT_SUPPORTED = 536;
    /// 537: command protection level not supported by security mechanism (RFC 2228).
    COMMAND_PROTECTION_NOT_SUPPORTED = 537;
    /// 550: requested action not taken; file unavailable (not found, no access).
    FILE_UNAVAILABLE = 550;
    /// 551: requested action aborted: page type unknown.
    PAGE_TYPE_UNKNOWN = 551;
    /// 552: requested file action aborted: exceeded storage allocation.
    EXCEEDED_STORAGE = 552;
    /// 553: requested action not taken: file name not allowed.
    FILE_NAME_NOT_ALLOWED = 553;
    /// 631: integrity-protected reply (RFC 2228).
    INTEGRITY_PROTECTED = 631;
    /// 632: confidentiality- and integrity-protected reply (RFC 2228).
    PRIVATE_PROTECTED = 632;
    /// 633: confidentiality-protected reply (RFC 2228).
    CONFIDENTIAL_PROTECTED = 633;
}

impl ReplyCode {
    /// Makes a code from a number; `None` unless it lies in 100..=699.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        if code >= 100 && code <= 699 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    /// Reads a code from exactly three ASCII digits, the first 1-6; `None` otherwise.
    pub fn from_digits(digits: &[u8]) -> Option<ReplyCode> {
        match *digits {
            [a @ b'1'..=b'6', b @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(ReplyCode(
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            )),
            _ => None,
        }
    }

    /// The code as a number (100-699).
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The three ASCII digits as they go on the wire.
    pub const fn digits(self) -> [u8; 3] {
        // `self.0` is 100..=699, so each quotient is a single digit and the casts are exact.
        [
            b'0' + (self.0 / 100) as u8,
            b'0' + (self.0 / 10 % 10) as u8,
            b'0' + (self.0 % 10) as u8,
        ]
    }

    /// What the first digit says: preliminary, completion, intermediate, negative or protected.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            1 => ReplyClass::PositivePreliminary,
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            5 => ReplyClass::PermanentNegative,
            _ => ReplyClass::Protected,
        }
    }

    /// True for `1yz`: another reply to the same command will follow.
    pub const fn is_positive_preliminary(self) -> bool {
        matches!(self.class(), ReplyClass::PositivePreliminary)
    }

    /// True for `2yz`: the command succeeded.
    pub const fn is_positive_completion(self) -> bool {
        matches!(self.class(), ReplyClass::PositiveCompletion)
    }

    /// True for `3yz`: the server waits for the next command of a sequence.
    pub const fn is_positive_intermediate(self) -> bool {
        matches!(self.class(), ReplyClass::PositiveIntermediate)
    }

    /// True for `4yz`: failed, may work if tried again.
    pub const fn is_transient_negative(self) -> bool {
        matches!(self.class(), ReplyClass::TransientNegative)
    }

    /// True for `5yz`: failed, will fail again.
    pub const fn is_permanent_negative(self) -> bool {
        matches!(self.class(), ReplyClass::PermanentNegative)
    }

    /// True for `4yz` and `5yz`.
    pub const fn is_negative(self) -> bool {
        self.is_transient_negative() || self.is_permanent_negative()
    }

    /// True for `6yz`, the RFC 2228 protected replies.
    pub const fn is_protected(self) -> bool {
        matches!(self.class(), ReplyClass::Protected)
    }
}

impl From<ReplyCode> for u16 {
    fn from(code: ReplyCode) -> u16 {
        code.0
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_digits() {
        assert_eq!(ReplyCode::new(99), None);
        assert_eq!(ReplyCode::new(700), None);
        assert_eq!(ReplyCode::new(0), None);
        for n in 100..=699 {
            let c = ReplyCode::new(n).unwrap();
            assert_eq!(c.as_u16(), n);
            assert_eq!(ReplyCode::from_digits(&c.digits()), Some(c));
            assert_eq!(c.to_string().as_bytes(), &c.digits());
        }
        for bad in [
            &b"999"[..],
            b"099",
            b"700",
            b"1x0",
            b"12",
            b"1234",
            b"",
            b" 12",
            b"-12",
        ] {
            assert_eq!(ReplyCode::from_digits(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn classes() {
        use ReplyClass::*;
        let table = [
            (150, PositivePreliminary),
            (226, PositiveCompletion),
            (331, PositiveIntermediate),
            (421, TransientNegative),
            (550, PermanentNegative),
            (633, Protected),
        ];
        for (n, class) in table {
            let c = ReplyCode::new(n).unwrap();
            assert_eq!(c.class(), class);
            assert_eq!(c.is_positive_preliminary(), class == PositivePreliminary);
            assert_eq!(c.is_positive_completion(), class == PositiveCompletion);
            assert_eq!(c.is_positive_intermediate(), class == PositiveIntermediate);
            assert_eq!(c.is_transient_negative(), class == TransientNegative);
            assert_eq!(c.is_permanent_negative(), class == PermanentNegative);
            assert_eq!(c.is_protected(), class == Protected);
            assert_eq!(c.is_negative(), n / 100 == 4 || n / 100 == 5);
        }
    }

    #[test]
    fn named_constants() {
        assert_eq!(ReplyCode::SERVICE_READY.as_u16(), 220);
        assert_eq!(ReplyCode::PASSIVE_MODE.as_u16(), 227);
        assert_eq!(ReplyCode::EXTENDED_PASSIVE_MODE.as_u16(), 229);
        assert_eq!(ReplyCode::FILE_STATUS.as_u16(), 213);
        assert_eq!(ReplyCode::PATHNAME_CREATED.as_u16(), 257);
        assert_eq!(u16::from(ReplyCode::CONFIDENTIAL_PROTECTED), 633);
        let all = ReplyCode::ALL_NAMED;
        assert_eq!(all.len(), 59);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
    }
}
