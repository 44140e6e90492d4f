//! FEAT replies (RFC 2389): parsing a feature list and encoding one.

use bytes::{BufMut, Bytes, BytesMut};

use super::encode::write_text;
use super::{Reply, ReplyCode};

/// One feature line of a FEAT reply: a name such as `MLST` and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Feature {
    name: Bytes,
    params: Bytes,
}

impl Feature {
    /// Makes a feature; the name is stored in ASCII upper case, the parameters as given.
    pub fn new(name: impl AsRef<[u8]>, params: impl AsRef<[u8]>) -> Feature {
        Feature {
            name: Bytes::from(name.as_ref().to_ascii_uppercase()),
            params: Bytes::copy_from_slice(params.as_ref()),
        }
    }

    /// The feature name in upper case (`REST`, `MLST`, `UTF8`...).
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The parameters after the name (`STREAM`, `size*;modify*;`...), empty if none.
    pub fn params(&self) -> &[u8] {
        &self.params
    }
}

/// The features a server lists in its FEAT reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Features {
    list: Vec<Feature>,
}

impl Features {
    /// An empty list.
    pub fn new() -> Features {
        Features::default()
    }

    /// Reads the features from a FEAT reply.
    ///
    /// Only the lines between the first and the last of a multi-line `211` reply count, and of
    /// those only the ones starting with a space (RFC 2389 §3.2); other lines are skipped, so
    /// `211-UTF8` style lines are not features. Any other reply (a single-line `211 no
    /// features`, `500`, `502`) gives an empty list. Unknown features are kept.
    pub fn parse(reply: &Reply) -> Features {
        let mut features = Features::new();
        if reply.code() != ReplyCode::SYSTEM_STATUS || !reply.is_multiline() {
            return features;
        }
        let count = reply.line_count();
        for line in reply.lines().skip(1).take(count.saturating_sub(2)) {
            let Some(line) = line.strip_prefix(b" ") else {
                continue;
            };
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let (name, params) = match line.iter().position(|&b| b == b' ') {
                Some(sp) => {
                    let (name, rest) = line.split_at(sp);
                    (name, rest.get(1..).unwrap_or_default())
                }
                None => (line, &b""[..]),
            };
            features.push(Feature::new(name, params));
        }
        features
    }

    /// Adds a feature at the end of the list.
    pub fn push(&mut self, feature: Feature) {
        self.list.push(feature);
    }

    /// True if a feature of this name is listed (case-insensitive), e.g. `has("EPSV")`.
    pub fn has(&self, name: impl AsRef<[u8]>) -> bool {
        self.get(name).is_some()
    }

    /// The parameters of the first feature of this name (case-insensitive), e.g.
    /// `get("MLST")` gives `Some(b"size*;modify*;type*;")`; an empty slice when the feature has
    /// no parameters, `None` when it is not listed.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.list
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(Feature::params)
    }

    /// The features in the order listed.
    pub fn iter(&self) -> std::slice::Iter<'_, Feature> {
        self.list.iter()
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True if no feature is listed.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Writes the server's FEAT reply for this list to `out`.
    ///
    /// A non-empty list becomes `211-Features:`, one ` NAME params` line per feature and
    /// `211 End`; an empty one the single line `211 No features` (RFC 2389 forbids a multi-line
    /// reply there). CR, LF and NUL in names or parameters become spaces and 0xFF is doubled,
    /// so a feature cannot break the framing.
    pub fn encode(&self, out: &mut BytesMut) {
        if self.list.is_empty() {
            out.put_slice(b"211 No features\r\n");
            return;
        }
        out.put_slice(b"211-Features:\r\n");
        for f in &self.list {
            out.put_u8(b' ');
            write_text(out, &f.name);
            if !f.params.is_empty() {
                out.put_u8(b' ');
                write_text(out, &f.params);
            }
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"211 End\r\n");
    }
}

impl<'a> IntoIterator for &'a Features {
    type Item = &'a Feature;
    type IntoIter = std::slice::Iter<'a, Feature>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(iter: I) -> Self {
        Features {
            list: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ReplyDecoder;
    use super::*;

    const VSFTPD: &[u8] = b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n \
SIZE\r\n TVFS\r\n UTF8\r\n MLST size*;modify*;type*;\r\n AUTH TLS\r\n X-WEIRD a b\r\n211 End\r\n";

    fn decode(wire: &[u8]) -> Reply {
        let mut buf = BytesMut::from(wire);
        ReplyDecoder::default().decode(&mut buf).unwrap().unwrap()
    }

    #[test]
    fn parse_feature_list() {
        let f = Features::parse(&decode(VSFTPD));
        assert_eq!(f.len(), 11);
        assert!(f.has("EPSV"));
        assert!(f.has("epsv"));
        assert!(!f.has("MLSD"));
        assert_eq!(f.get("REST"), Some(&b"STREAM"[..]));
        assert_eq!(f.get("mlst"), Some(&b"size*;modify*;type*;"[..]));
        assert_eq!(f.get("AUTH"), Some(&b"TLS"[..]));
        assert_eq!(f.get("UTF8"), Some(&b""[..]));
        assert_eq!(f.get("X-WEIRD"), Some(&b"a b"[..]));
        assert_eq!(f.get("End"), None);
        assert_eq!(f.get("FEATURES:"), None);
    }

    #[test]
    fn parse_odd_replies() {
        let none = Features::parse(&decode(b"211 no features\r\n"));
        assert!(none.is_empty());
        let refused = Features::parse(&decode(b"500 Unknown command\r\n"));
        assert!(refused.is_empty());
        // proftpd's deprecated MultilineRFC2228 style and stray lines are skipped.
        let odd = Features::parse(&decode(
            b"211-Extensions:\r\n211-UTF8\r\n mdtm\r\n\r\n   \r\nSIZE\r\n211 End\r\n",
        ));
        assert_eq!(odd.iter().map(Feature::name).collect::<Vec<_>>(), [b"MDTM"]);
    }

    #[test]
    fn encode_both_ways() {
        let list: Features = [
            Feature::new("EPSV", ""),
            Feature::new("rest", "STREAM"),
            Feature::new("MLST", "size*;modify*;type*;"),
        ]
        .into_iter()
        .collect();
        let mut out = BytesMut::new();
        list.encode(&mut out);
        let wire =
            b"211-Features:\r\n EPSV\r\n REST STREAM\r\n MLST size*;modify*;type*;\r\n211 End\r\n";
        assert_eq!(&out[..], &wire[..]);
        assert_eq!(Features::parse(&decode(&out)), list);

        let mut out = BytesMut::new();
        Features::new().encode(&mut out);
        assert_eq!(&out[..], b"211 No features\r\n");
        assert!(Features::parse(&decode(&out)).is_empty());

        let mut evil = Features::new();
        evil.push(Feature::new("X", "a\r\n211 End\r\n"));
        let mut out = BytesMut::new();
        evil.encode(&mut out);
        assert_eq!(&out[..], b"211-Features:\r\n X a  211 End  \r\n211 End\r\n");
    }
}
