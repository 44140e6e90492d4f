//! Credentials from a `.netrc` file: `machine NAME`, `default`, `login`, `password`,
//! `account` and `macdef` tokens (a macro's body, up to an empty line, is skipped), separated
//! by blanks or newlines; a token may be double-quoted (with `\` escapes); a `#` at the start
//! of a token comments out the rest of the line.

/// One `machine` (or `default`) entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The machine's name; `None` for `default`.
    pub machine: Option<String>,
    /// `login`.
    pub login: Option<String>,
    /// `password`.
    pub password: Option<String>,
}

/// Parses the text of a netrc file into its entries, in order.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut tokens = Tokens { rest: text };
    while let Some(token) = tokens.next() {
        match token.as_str() {
            "machine" => entries.push(Entry {
                machine: Some(tokens.next().unwrap_or_default()),
                ..Entry::default()
            }),
            "default" => entries.push(Entry::default()),
            "login" | "password" | "account" => {
                let value = tokens.next();
                if let Some(e) = entries.last_mut() {
                    match token.as_str() {
                        "login" => e.login = value,
                        "password" => e.password = value,
                        _ => {}
                    }
                }
            }
            "macdef" => {
                tokens.next();
                tokens.skip_macro();
            }
            _ => {}
        }
    }
    entries
}

/// The entry for `host`: its `machine` entry, else the `default` entry.
pub fn lookup<'a>(entries: &'a [Entry], host: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| {
            e.machine
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(host))
        })
        .or_else(|| entries.iter().find(|e| e.machine.is_none()))
}

struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    fn next(&mut self) -> Option<String> {
        loop {
            self.rest = self.rest.trim_start();
            if self.rest.starts_with('#') {
                self.rest = self.rest.split_once('\n').map_or("", |(_, r)| r);
                continue;
            }
            break;
        }
        if self.rest.is_empty() {
            return None;
        }
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.rest = &quoted[i + 1..];
                        return Some(out);
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, e)) => out.push(e),
                        None => {}
                    },
                    c => out.push(c),
                }
            }
            self.rest = "";
            return Some(out);
        }
        let end = self
            .rest
            .find(char::is_whitespace)
            .unwrap_or(self.rest.len());
        let token = self.rest[..end].to_owned();
        self.rest = &self.rest[end..];
        Some(token)
    }

    /// Skips a `macdef` body: the lines up to the first empty one.
    fn skip_macro(&mut self) {
        // The rest of the macdef line, then lines until an empty one.
        self.rest = self.rest.split_once('\n').map_or("", |(_, r)| r);
        loop {
            match self.rest.split_once('\n') {
                Some((line, rest)) => {
                    self.rest = rest;
                    if line.trim().is_empty() {
                        return;
                    }
                }
                None => {
                    self.rest = "";
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_default_and_macros() {
        let text = "# a comment\nmachine ftp.example.org login bob password \"p w\\\"x\"\n\
                    macdef init\ncd /pub\nbinary\n\nmachine other login carol account acc password c\n\
                    default login anon password me@\n";
        let e = parse(text);
        assert_eq!(e.len(), 3);
        let bob = lookup(&e, "FTP.example.org").unwrap();
        assert_eq!(
            (bob.login.as_deref(), bob.password.as_deref()),
            (Some("bob"), Some("p w\"x"))
        );
        let carol = lookup(&e, "other").unwrap();
        assert_eq!(carol.password.as_deref(), Some("c"));
        let d = lookup(&e, "unknown").unwrap();
        assert_eq!(
            (d.login.as_deref(), d.machine.as_deref()),
            (Some("anon"), None)
        );
        assert_eq!(lookup(&parse("machine a login x"), "b"), None);
        assert!(parse("").is_empty());
        // One line, no newline at the end; a macro that runs to the end of the file.
        let e = parse("machine h login u password p macdef m\nstuff");
        assert_eq!(lookup(&e, "h").unwrap().password.as_deref(), Some("p"));
    }
}
