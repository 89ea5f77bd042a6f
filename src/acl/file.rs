//! The ACL file: `[[token]]` tables with `secret` (or `secret_file`, `secret_env`), optional
//! `user`, `names` (prefixes, `"*"` for every name) and `allow` (`lock`, `read`, `admin`).
//! Unknown keys are errors, so that a misspelt `allow` never silently grants less (or more).

use std::path::Path;

use serde::Deserialize;

use super::tokens::{Acl, Grant, MAX_SECRET};

/// Why an ACL file was refused; never contains a secret.
#[derive(Debug)]
pub enum AclError {
    /// The file (or a `secret_file`) could not be read.
    Read {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    Parse(String),
    /// A token is not usable: what is wrong with it (tokens counted from 1).
    Token {
        /// Its position in the file.
        index: usize,
        /// What is wrong.
        why: String,
    },
}

impl std::fmt::Display for AclError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AclError::Read { path, source } => write!(f, "reading {}: {source}", path.display()),
            AclError::Parse(why) => write!(f, "ACL file: {why}"),
            AclError::Token { index, why } => write!(f, "ACL file, token {index}: {why}"),
        }
    }
}

impl std::error::Error for AclError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AclError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The shortest secret accepted.
const MIN_SECRET: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    token: Vec<TokenShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenShape {
    user: Option<String>,
    /// Read as any value, so that a wrong type is reported without quoting it.
    secret: Option<toml::Value>,
    secret_file: Option<std::path::PathBuf>,
    secret_env: Option<String>,
    names: Vec<String>,
    allow: Vec<String>,
}

impl Acl {
    /// Reads an ACL file.
    pub fn load(path: &Path) -> Result<Acl, AclError> {
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Read {
            path: path.to_owned(),
            source,
        })?;
        Acl::from_toml(&text)
    }

    /// Parses an ACL from TOML text.
    pub fn from_toml(text: &str) -> Result<Acl, AclError> {
        let shape: FileShape = toml::from_str(text).map_err(|e| {
            // The message and the line only: toml's own rendering quotes the line, which may
            // hold a secret.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            AclError::Parse(match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_string(),
            })
        })?;
        let mut tokens = Vec::with_capacity(shape.token.len());
        for (i, t) in shape.token.into_iter().enumerate() {
            let index = i + 1;
            let bad = |why: String| AclError::Token { index, why };
            let secret = match (t.secret, t.secret_file, t.secret_env) {
                (Some(toml::Value::String(s)), None, None) => s,
                (Some(_), None, None) => return Err(bad("secret must be a string".into())),
                (None, Some(path), None) => std::fs::read_to_string(&path)
                    .map_err(|source| AclError::Read { path, source })?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
                (None, None, Some(var)) => std::env::var(&var)
                    .map_err(|_| bad(format!("environment variable {var} is not set")))?,
                _ => {
                    return Err(bad(
                        "needs exactly one of secret, secret_file, secret_env".into()
                    ));
                }
            };
            if secret.len() > MAX_SECRET {
                return Err(bad(format!(
                    "its secret is longer than {} bytes",
                    MAX_SECRET
                )));
            }
            if secret.chars().count() < MIN_SECRET {
                return Err(bad(format!(
                    "its secret is shorter than {MIN_SECRET} characters"
                )));
            }
            if secret.contains([' ', '\t', '\n', '\r']) {
                return Err(bad("its secret contains white space".into()));
            }
            if t.names.is_empty() {
                return Err(bad("names is empty: it would permit nothing".into()));
            }
            let names = t
                .names
                .into_iter()
                .map(|n| match n.as_str() {
                    "*" => Vec::new(),
                    _ => n.into_bytes(),
                })
                .collect();
            let (mut lock, mut read, mut admin) = (false, false, false);
            for a in &t.allow {
                match a.as_str() {
                    "lock" => lock = true,
                    "read" => read = true,
                    "admin" => admin = true,
                    other => return Err(bad(format!("unknown permission {other:?}"))),
                }
            }
            if let Some(user) = &t.user {
                if user.is_empty() || user.contains([' ', '\t', '\n', '\r']) {
                    return Err(bad("user is empty or contains white space".into()));
                }
            }
            tokens.push(Grant {
                id: i,
                user: t.user.map(String::into_bytes),
                secret: secret.into_bytes(),
                names,
                lock,
                read,
                admin,
            });
        }
        Ok(Acl {
            tokens: tokens.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Permission;

    #[test]
    fn the_issue_example_parses_and_grants_what_it_says() {
        let acl = Acl::from_toml(
            r#"
            [[token]]
            secret = "s3cret-admin"
            names = ["*"]
            allow = ["lock", "read", "admin"]

            [[token]]
            user = "jobs"
            secret = "s3cret-jobs"
            names = ["jobs/"]
            allow = ["lock", "read"]
            "#,
        )
        .unwrap();
        assert_eq!(acl.len(), 2);
        let admin = acl.authenticate(None, b"s3cret-admin").unwrap();
        assert!(admin.permits(Permission::Admin, b""));
        assert!(admin.permits(Permission::Lock, b"anything"));
        let jobs = acl.authenticate(Some(b"jobs"), b"s3cret-jobs").unwrap();
        assert!(jobs.permits(Permission::Read, b"jobs/x"));
        assert!(!jobs.permits(Permission::Read, b"job"));
        assert!(!jobs.permits(Permission::Admin, b""));
        assert!(
            acl.authenticate(None, b"s3cret-jobs").is_some(),
            "auth TOKEN also works"
        );
        assert!(acl.authenticate(Some(b"other"), b"s3cret-jobs").is_none());
        assert!(acl.authenticate(Some(b"jobs"), b"s3cret-admin").is_none());
        assert!(acl.authenticate(None, b"s3cret-job").is_none());
        assert!(
            !format!("{admin:?}").contains("s3cret"),
            "Debug never shows a secret"
        );
    }

    #[test]
    fn mistakes_are_errors_that_name_the_token_but_not_its_secret() {
        for (text, says) in [
            (
                "[[token]]\nnames=[\"*\"]\nallow=[\"lock\"]",
                "exactly one of",
            ),
            (
                "[[token]]\nsecret=\"a\"\nsecret_env=\"X\"\nnames=[\"*\"]\nallow=[]",
                "exactly one of",
            ),
            (
                "[[token]]\nsecret=\"top secret\"\nnames=[\"*\"]\nallow=[]",
                "white space",
            ),
            (
                "[[token]]\nsecret=\"long-enough\"\nnames=[]\nallow=[\"lock\"]",
                "permit nothing",
            ),
            (
                "[[token]]\nsecret=\"long-enough\"\nnames=[\"*\"]\nallow=[\"lok\"]",
                "unknown permission",
            ),
            (
                "[[token]]\nsecret=\"long-enough\"\nname=[\"*\"]\nallow=[]",
                "unknown field",
            ),
            (
                "[[token]]\nsecret_env=\"LOCKD_TEST_UNSET_VAR\"\nnames=[\"*\"]\nallow=[]",
                "not set",
            ),
            // A syntax error on a secret's line: the line number, never the line itself.
            (
                "[[token]]\nsecret=\"top secret\nnames=[\"*\"]\nallow=[]",
                "line 2",
            ),
            // A secret of the wrong type is not quoted either; a short one is refused.
            (
                "[[token]]\nsecret=8675309\nnames=[\"*\"]\nallow=[]",
                "must be a string",
            ),
            (
                "[[token]]\nsecret=\"short\"\nnames=[\"*\"]\nallow=[]",
                "shorter than 8",
            ),
        ] {
            let e = Acl::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
            assert!(!e.contains("top secret") && !e.contains("8675309"), "{e}");
        }
    }

    #[test]
    fn secrets_from_a_file_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("lockd-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        // SAFETY: this test's own variable; no other thread reads it.
        unsafe { std::env::set_var("LOCKD_TEST_ACL_SECRET", "from-env") };
        let acl = Acl::from_toml(&format!(
            "[[token]]\nsecret_file={:?}\nnames=[\"*\"]\nallow=[\"read\"]\n\
             [[token]]\nsecret_env=\"LOCKD_TEST_ACL_SECRET\"\nnames=[\"a/\"]\nallow=[\"lock\"]",
            file
        ))
        .unwrap();
        assert!(acl.authenticate(None, b"from-file").is_some());
        assert!(acl.authenticate(None, b"from-env").is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
