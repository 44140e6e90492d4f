//! Property tests for virtual paths (`ftp_proto::path`).

use ftp_proto::path::{PathError, VirtualPath, MAX_PATH_LEN};
use proptest::prelude::*;

/// Client input built from components that stress normalization.
fn client_path() -> impl Strategy<Value = Vec<u8>> {
    let part = prop_oneof![
        Just(b"".to_vec()),
        Just(b".".to_vec()),
        Just(b"..".to_vec()),
        Just(b"...".to_vec()),
        Just(b"a".to_vec()),
        Just(b"b".to_vec()),
        Just(b".a".to_vec()),
        Just(b"a\\..".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b" x ".to_vec()),
        proptest::collection::vec(
            any::<u8>().prop_filter("no / or NUL", |&b| b != b'/' && b != 0),
            1..4
        ),
    ];
    (
        any::<bool>(),
        proptest::collection::vec(part, 0..10),
        any::<bool>(),
    )
        .prop_map(|(absolute, parts, trailing)| {
            let mut out = Vec::new();
            if absolute {
                out.push(b'/');
            }
            out.extend(parts.join(&b'/'));
            if trailing {
                out.push(b'/');
            }
            out
        })
}

fn cwd() -> impl Strategy<Value = VirtualPath> {
    client_path().prop_map(|p| VirtualPath::root().resolve(&p).unwrap())
}

/// The definition of normalized, checked on the bytes.
fn assert_normalized(p: &VirtualPath) {
    let b = p.as_bytes();
    assert_eq!(b.first(), Some(&b'/'), "{p:?}");
    assert!(!b.contains(&0), "{p:?}");
    if b.len() > 1 {
        assert_ne!(b.last(), Some(&b'/'), "{p:?}");
        for comp in b[1..].split(|&c| c == b'/') {
            assert!(!comp.is_empty() && comp != b"." && comp != b"..", "{p:?}");
        }
    }
    assert!(b.len() <= MAX_PATH_LEN);
}

/// A stack model of resolution, written independently of the library.
fn model(cwd: &VirtualPath, input: &[u8]) -> Vec<Vec<u8>> {
    let mut stack: Vec<Vec<u8>> = if input.first() == Some(&b'/') {
        Vec::new()
    } else {
        cwd.components().map(<[u8]>::to_vec).collect()
    };
    for part in input.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            name => stack.push(name.to_vec()),
        }
    }
    stack
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn resolve_matches_model_and_is_normalized(cwd in cwd(), input in client_path(), other in cwd()) {
        let got = cwd.resolve(&input).unwrap();
        assert_normalized(&got);
        let comps: Vec<Vec<u8>> = got.components().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(&comps, &model(&cwd, &input));
        prop_assert_eq!(got.depth(), comps.len());
        // Idempotent, and the result names the same path from any directory.
        prop_assert_eq!(&got.resolve(b"").unwrap(), &got);
        prop_assert_eq!(&cwd.resolve(got.as_bytes()).unwrap(), &got);
        prop_assert_eq!(&other.resolve(got.as_bytes()).unwrap(), &got);
        prop_assert_eq!(&VirtualPath::root().resolve(got.as_bytes()).unwrap(), &got);
    }

    #[test]
    fn dot_dot_never_escapes(cwd in cwd(), ups in 0usize..12, rest in client_path()) {
        let input = b"../".repeat(ups);
        let up = cwd.resolve(&input).unwrap();
        prop_assert_eq!(up.depth(), cwd.depth().saturating_sub(ups));
        prop_assert!(cwd.starts_with(&up));
        // From the root, leading `..` are no-ops.
        let mut relative = rest.clone();
        while relative.first() == Some(&b'/') {
            relative.remove(0);
        }
        let mut prefixed = input.clone();
        prefixed.extend_from_slice(&relative);
        prop_assert_eq!(
            VirtualPath::root().resolve(&prefixed).unwrap(),
            VirtualPath::root().resolve(&relative).unwrap()
        );
    }

    #[test]
    fn parent_file_name_join_agree(path in cwd()) {
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                prop_assert_eq!(&parent.join(name).unwrap(), &path);
                prop_assert_eq!(parent.depth() + 1, path.depth());
                prop_assert!(path.starts_with(&parent));
                prop_assert_eq!(&path.resolve(b"..").unwrap(), &parent);
            }
            (None, None) => prop_assert!(path.is_root()),
            other => prop_assert!(false, "parent and file_name disagree: {:?}", other),
        }
    }

    #[test]
    fn relative_path_stays_under_a_base(path in cwd()) {
        let base = std::path::PathBuf::from("/srv/ftp");
        if let Ok(rel) = path.to_relative_path() {
            prop_assert!(rel.is_relative() || path.is_root());
            let joined = base.join(&rel);
            prop_assert!(joined.starts_with(&base));
            prop_assert!(joined
                .components()
                .all(|c| !matches!(c, std::path::Component::ParentDir | std::path::Component::CurDir)));
            #[cfg(unix)]
            prop_assert_eq!(rel.components().count(), path.depth());
        }
    }

    /// Arbitrary bytes: never a panic; NUL always refused; otherwise normalized or too long.
    #[test]
    fn arbitrary_input(cwd in cwd(), input in proptest::collection::vec(any::<u8>(), 0..200)) {
        match cwd.resolve(&input) {
            Ok(p) => {
                prop_assert!(!input.contains(&0));
                assert_normalized(&p);
            }
            Err(PathError::Nul) => prop_assert!(input.contains(&0)),
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
    }
}

#[test]
fn long_inputs_are_refused_with_501() {
    let root = VirtualPath::root();
    let long = b"a/".repeat(MAX_PATH_LEN);
    let err = root.resolve(&long).unwrap_err();
    assert_eq!(err, PathError::TooLong);
    assert_eq!(err.reply_code(), 501);
    // Deep but legal: resolving relative input from a deep directory still checks the total.
    let deep = root.resolve(&b"d/".repeat(MAX_PATH_LEN / 2 - 1)).unwrap();
    assert_eq!(deep.as_bytes().len(), MAX_PATH_LEN - 2);
    assert_eq!(deep.resolve(b"xy"), Err(PathError::TooLong));
    assert_eq!(deep.resolve(b"x").unwrap().as_bytes().len(), MAX_PATH_LEN);
}
