//! Message levels and their CSS tags: Django's `django.contrib.messages.constants` and the
//! `MESSAGE_TAGS` setting.
//!
//! A level is a plain integer, as in Django, so apps can define levels of their own (say 35
//! between `WARNING` and `ERROR`); the five named ones are constants here, spelled as Django
//! spells them (`messages.INFO` ↔ [`INFO`]).

use std::collections::BTreeMap;
use std::fmt;

/// A message level: an integer, ordered, compared with `MESSAGE_LEVEL` to drop minor messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(pub i64);

/// `messages.DEBUG` (10): below the default minimum level, so dropped unless configured.
pub const DEBUG: Level = Level(10);
/// `messages.INFO` (20): the default `MESSAGE_LEVEL`.
pub const INFO: Level = Level(20);
/// `messages.SUCCESS` (25).
pub const SUCCESS: Level = Level(25);
/// `messages.WARNING` (30).
pub const WARNING: Level = Level(30);
/// `messages.ERROR` (40).
pub const ERROR: Level = Level(40);

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<i64> for Level {
    fn from(level: i64) -> Self {
        Level(level)
    }
}

/// Level → tag, as Django's `DEFAULT_TAGS` updated with `MESSAGE_TAGS`: the class a template
/// puts on a message. A level without a tag has the empty tag, as in Django.
///
/// ```
/// use tessera::messages::{LevelTags, Level, ERROR};
/// let tags = LevelTags::default().with(ERROR, "danger").with(Level(50), "critical");
/// assert_eq!(tags.tag(ERROR), "danger");
/// assert_eq!(tags.tag(Level(50)), "critical");
/// assert_eq!(tags.tag(Level(99)), "");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelTags(BTreeMap<Level, String>);

impl Default for LevelTags {
    /// Django's `DEFAULT_TAGS`: `debug`, `info`, `success`, `warning`, `error`.
    fn default() -> Self {
        LevelTags(
            [
                (DEBUG, "debug"),
                (INFO, "info"),
                (SUCCESS, "success"),
                (WARNING, "warning"),
                (ERROR, "error"),
            ]
            .into_iter()
            .map(|(level, tag)| (level, tag.to_owned()))
            .collect(),
        )
    }
}

impl LevelTags {
    /// These tags with `level` tagged `tag` (one `MESSAGE_TAGS` entry).
    #[must_use]
    pub fn with(mut self, level: Level, tag: impl Into<String>) -> Self {
        self.0.insert(level, tag.into());
        self
    }

    /// The tag of `level`, or `""` (Django's `LEVEL_TAGS.get(level, "")`).
    pub fn tag(&self, level: Level) -> &str {
        self.0.get(&level).map_or("", String::as_str)
    }
}
