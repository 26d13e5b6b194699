//! Who a session belongs to: the user record the session is checked against, how the primary
//! key stored in `_auth_user_id` is read back (Django's `pk.to_python`), and where users come
//! from ([`UserSource`]).

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;

use crate::json::Value;
use crate::signing::SecretKeys;

use super::session_hash;

/// The user as far as a session needs it: the primary key and the stored password *field*
/// (the hash string, empty, or `!…` when unusable), whose HMAC ties each session to the
/// password it was made with.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The primary key as Django's `value_to_string` writes it: `"42"`, a hyphenated UUID,
    /// or the text of a string key. This is what `_auth_user_id` holds.
    pub id: String,
    /// `auth_user.password`: a change (even to an unusable password) ends every session made
    /// with the old one.
    pub password: String,
    /// `is_active`: an inactive user is not returned by Django's `ModelBackend.get_user`.
    pub is_active: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password hash is a secret's HMAC input: never printed.
        f.debug_struct("User")
            .field("id", &self.id)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Django's `get_session_auth_hash()` under the current key.
    pub fn session_auth_hash(&self, keys: &SecretKeys) -> String {
        session_hash::session_auth_hash(keys.current().as_bytes(), &self.password)
    }
}

/// The kind of the user model's primary key, which decides how `_auth_user_id` is read
/// (Django's `pk.to_python`): `auth.User`'s is an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PkKind {
    /// `AutoField`/`BigAutoField`/`IntegerField`: Python's `int()` of the stored value, so
    /// `"42"`, `42`, `42.0`, `" 42\n"`, `"4_2"` and `true` all name user 42.
    #[default]
    Int,
    /// `UUIDField`: any spelling `uuid.UUID` reads (hyphens, braces, `urn:uuid:`, case), or
    /// an integer; the id is then the lowercase hyphenated form.
    Uuid,
    /// `CharField` and other text keys: the text itself (a number becomes its text).
    Str,
}

/// `_auth_user_id` holds something the primary key field cannot read (Django raises
/// `ValidationError`, which escapes `get_user()` and `login()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the session's _auth_user_id is not a valid {kind} primary key")]
pub struct InvalidUserId {
    kind: &'static str,
}

impl PkKind {
    /// Reads a stored `_auth_user_id` as the field's `to_python` does: `Ok(None)` for JSON
    /// `null` (Python's `None`), the canonical id text otherwise.
    ///
    /// ```
    /// use tessera::auth::user::PkKind;
    /// use tessera::json::Value;
    /// assert_eq!(PkKind::Int.to_python(&Value::Str(" 0_42\n".into())).unwrap().as_deref(), Some("42"));
    /// assert!(PkKind::Int.to_python(&Value::Str("12abc".into())).is_err());
    /// ```
    pub fn to_python(self, stored: &Value) -> Result<Option<String>, InvalidUserId> {
        if let Value::Null = stored {
            return Ok(None);
        }
        let invalid = || InvalidUserId {
            kind: match self {
                PkKind::Int => "integer",
                PkKind::Uuid => "UUID",
                PkKind::Str => "text",
            },
        };
        match self {
            PkKind::Int => python_int(stored).map(Some).ok_or_else(invalid),
            PkKind::Uuid => python_uuid(stored).map(Some).ok_or_else(invalid),
            PkKind::Str => match stored {
                Value::Str(s) => Ok(Some(s.clone())),
                Value::Utf16(_) | Value::List(_) | Value::Dict(_) => Err(invalid()),
                // str(value) of a number or bool: Python's spelling.
                other => Ok(Some(match other {
                    Value::Bool(true) => "True".to_owned(),
                    Value::Bool(false) => "False".to_owned(),
                    number => crate::json::to_string(number),
                })),
            },
        }
    }
}

/// Python's `int(value)` as decimal text; `None` where it raises.
fn python_int(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::BigInt(digits) => Some(digits.clone()),
        // int() truncates toward zero; NaN and the infinities raise.
        Value::Float(f) if f.is_finite() => {
            let truncated = f.trunc();
            if truncated.abs() < 9.2e18 {
                Some((truncated as i64).to_string())
            } else {
                Some(format!("{truncated:.0}"))
            }
        }
        Value::Str(s) => int_text(s),
        _ => None,
    }
}

/// `int(text)`: surrounding whitespace, a sign, ASCII digits with single underscores between
/// them. (Python also takes other Unicode decimal digits; tessera refuses them, which only a
/// key holder could have stored.)
fn int_text(text: &str) -> Option<String> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let mut clean = String::with_capacity(digits.len() + 1);
    let mut previous_underscore = false;
    for c in digits.chars() {
        match c {
            '0'..='9' => {
                clean.push(c);
                previous_underscore = false;
            }
            '_' if !previous_underscore => previous_underscore = true,
            _ => return None,
        }
    }
    let significant = clean.trim_start_matches('0');
    if significant.is_empty() {
        return Some("0".to_owned());
    }
    Some(if negative {
        format!("-{significant}")
    } else {
        significant.to_owned()
    })
}

/// `uuid.UUID(hex=…)` (or `int=…` for an integer), as the hyphenated lowercase text.
fn python_uuid(value: &Value) -> Option<String> {
    let hex = match value {
        Value::Str(s) => {
            let mut s = s.as_str();
            for prefix in ["urn:", "uuid:"] {
                s = s.strip_prefix(prefix).unwrap_or(s);
            }
            let s = s.trim_matches(|c| c == '{' || c == '}');
            let hex: String = s.chars().filter(|c| *c != '-').collect();
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            hex.to_ascii_lowercase()
        }
        Value::Int(i) if *i >= 0 => format!("{i:032x}"),
        Value::BigInt(digits) => format!("{:032x}", digits.parse::<u128>().ok()?),
        _ => return None,
    };
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Why a [`UserSource`] could not answer (the database is down, …): the request fails, and
/// the session is left alone.
#[derive(Debug, thiserror::Error)]
#[error("the user source failed: {0}")]
pub struct UserSourceError(pub String);

/// Where users come from: the app's user table. `id` is the canonical primary key text
/// ([`PkKind::to_python`]); return inactive users too, with `is_active` false.
#[async_trait]
pub trait UserSource: Send + Sync + 'static {
    /// The user whose primary key is `id`, if there is one.
    async fn user(&self, id: &str) -> Result<Option<User>, UserSourceError>;
}

/// Users held in memory: for tests, examples and apps whose users are few and fixed.
#[derive(Clone, Debug, Default)]
pub struct MemoryUsers {
    users: HashMap<String, User>,
}

impl MemoryUsers {
    /// No users yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a user.
    pub fn insert(&mut self, user: User) {
        self.users.insert(user.id.clone(), user);
    }
}

impl FromIterator<User> for MemoryUsers {
    fn from_iter<I: IntoIterator<Item = User>>(users: I) -> Self {
        let mut all = MemoryUsers::new();
        for user in users {
            all.insert(user);
        }
        all
    }
}

#[async_trait]
impl UserSource for MemoryUsers {
    async fn user(&self, id: &str) -> Result<Option<User>, UserSourceError> {
        Ok(self.users.get(id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: Value) -> Option<String> {
        PkKind::Int.to_python(&v).ok().flatten()
    }

    #[test]
    fn int_keys_read_as_python_int_reads_them() {
        for (v, want) in [
            (Value::Str("42".into()), "42"),
            (Value::Str("042".into()), "42"),
            (Value::Str(" 42\n".into()), "42"),
            (Value::Str("4_2".into()), "42"),
            (Value::Str("-0".into()), "0"),
            (Value::Int(42), "42"),
            (Value::Float(42.9), "42"),
            (Value::Float(-42.9), "-42"),
            (Value::Bool(true), "1"),
            (
                Value::BigInt("123456789012345678901234567890".into()),
                "123456789012345678901234567890",
            ),
        ] {
            assert_eq!(int(v.clone()).as_deref(), Some(want), "{v:?}");
        }
        for bad in ["", "4__2", "_42", "42_", "12abc", "4 2", "0x2a", "+"] {
            assert!(
                PkKind::Int.to_python(&Value::Str(bad.into())).is_err(),
                "{bad:?}"
            );
        }
        assert!(PkKind::Int.to_python(&Value::Float(f64::NAN)).is_err());
        assert!(PkKind::Int.to_python(&Value::List(vec![])).is_err());
        assert_eq!(PkKind::Int.to_python(&Value::Null), Ok(None));
    }

    #[test]
    fn uuid_keys_take_every_spelling_uuid_reads() {
        let canonical = "9f5328b9-ae34-44d7-b14f-b238d724277c";
        for spelling in [
            canonical,
            "9F5328B9AE3444D7B14FB238D724277C",
            "{9f5328b9-ae34-44d7-b14f-b238d724277c}",
            "urn:uuid:9f5328b9-ae34-44d7-b14f-b238d724277c",
        ] {
            assert_eq!(
                PkKind::Uuid
                    .to_python(&Value::Str(spelling.into()))
                    .unwrap()
                    .as_deref(),
                Some(canonical),
                "{spelling}"
            );
        }
        assert!(PkKind::Uuid
            .to_python(&Value::Str("9f5328b9".into()))
            .is_err());
        assert_eq!(
            PkKind::Uuid.to_python(&Value::Int(1)).unwrap().as_deref(),
            Some("00000000-0000-0000-0000-000000000001")
        );
    }

    #[test]
    fn text_keys_are_the_text_and_debug_hides_the_password() {
        assert_eq!(
            PkKind::Str.to_python(&Value::Int(7)).unwrap().as_deref(),
            Some("7")
        );
        let user = User {
            id: "alice".into(),
            password: "pbkdf2_sha256$1$salt$hash".into(),
            is_active: true,
        };
        assert!(!format!("{user:?}").contains("pbkdf2"));
    }
}
