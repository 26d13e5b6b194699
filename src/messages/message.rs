//! One message, as Django's `django.contrib.messages.storage.base.Message` holds it.

use super::level::{Level, LevelTags};
use crate::json::Value;

/// A message to show once: Django's `Message` (level, text, extra tags) plus whether the text
/// is `SafeData` (HTML the template must not escape), which Django keeps in the stored form.
///
/// ```
/// use tessera::messages::{LevelTags, Message, SUCCESS};
/// let m = Message::new(SUCCESS, "Saved.").with_extra_tags("fade");
/// assert_eq!(m.tags(&LevelTags::default()), "fade success");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The level.
    pub level: Level,
    /// The text.
    pub message: String,
    /// Extra tags; `None` is stored without the field, `Some("")` with an empty one (what
    /// Django's `add` writes), and the two stay apart on a round trip.
    pub extra_tags: Option<String>,
    /// The text is HTML marked safe (`mark_safe`): stored with `is_safedata` 1.
    pub safe: bool,
}

impl Message {
    /// A plain-text message with the empty extra tags that Django's `storage.add` gives.
    pub fn new(level: Level, message: impl Into<String>) -> Self {
        Message {
            level,
            message: message.into(),
            extra_tags: Some(String::new()),
            safe: false,
        }
    }

    /// This message with `extra_tags` (Django's `extra_tags=` argument).
    #[must_use]
    pub fn with_extra_tags(mut self, extra_tags: impl Into<String>) -> Self {
        self.extra_tags = Some(extra_tags.into());
        self
    }

    /// This message with no extra tags at all (`extra_tags=None`).
    #[must_use]
    pub fn without_extra_tags(mut self) -> Self {
        self.extra_tags = None;
        self
    }

    /// This message with its text marked safe HTML (`mark_safe(message)`).
    #[must_use]
    pub fn safe(mut self) -> Self {
        self.safe = true;
        self
    }

    /// Django's `level_tag`: the tag of the level under `tags`.
    pub fn level_tag<'t>(&self, tags: &'t LevelTags) -> &'t str {
        tags.tag(self.level)
    }

    /// Django's `tags`: the extra tags and the level tag, the empty ones left out.
    pub fn tags(&self, tags: &LevelTags) -> String {
        [
            self.extra_tags.as_deref().unwrap_or(""),
            self.level_tag(tags),
        ]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// One item of a stored message list. Django keeps whatever it decodes: lists written by
/// Django hold only messages (and the cookie's "not finished" sentinel), but a value written
/// by other code is kept and stored back as it was, so nothing a reader does not understand
/// is lost.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A message.
    Message(Message),
    /// Any other JSON value, kept as decoded (messages nested inside it stay in their stored
    /// form, which is what Django writes back for them).
    Other(Value),
}

impl Entry {
    /// The message, if this entry is one.
    pub fn as_message(&self) -> Option<&Message> {
        match self {
            Entry::Message(m) => Some(m),
            Entry::Other(_) => None,
        }
    }
}

impl From<Message> for Entry {
    fn from(m: Message) -> Self {
        Entry::Message(m)
    }
}
