//! Shell-style patterns for `get`: `*` (any run of characters), `?` (one character) and
//! `[...]` (one character of a set, with ranges `a-z` and negation `[!...]` or `[^...]`).

/// Whether `s` holds a pattern character (`*`, `?` or `[`).
pub fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern` as a whole. A `[` without its `]` is a plain character.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for the last `*`: linear in practice and
    // never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p[pi..], n[ni]) {
                Some((true, len)) => Some(pi + len),
                Some((false, _)) => None,
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class at the start of `p` (`[...]`): whether it matched and the
/// class's length in pattern characters; `None` when the class has no closing `]`.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((found != negated, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for (p, n, want) in [
            ("*.gz", "a.gz", true),
            ("*.gz", "a.gz.1", false),
            ("*.gz", ".gz", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("log[0-9].txt", "log7.txt", true),
            ("log[0-9].txt", "logx.txt", false),
            ("log[!0-9].txt", "logx.txt", true),
            ("log[^0-9].txt", "log1.txt", false),
            ("[]a]", "]", true),
            ("[a-]", "-", true),
            ("a[b", "a[b", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxxc", false),
            ("**", "", true),
            ("*", "anything", true),
            ("é?", "éà", true),
        ] {
            assert_eq!(matches(p, n), want, "{p} {n}");
        }
        assert!(is_pattern("*.gz") && is_pattern("a[12]") && !is_pattern("plain.txt"));
    }

    #[test]
    fn no_blow_up() {
        let name = "a".repeat(200);
        assert!(!matches(&"*a".repeat(30).replace("*a*a", "*a*b"), &name));
    }
}
