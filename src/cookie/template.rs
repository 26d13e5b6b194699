//! A `Set-Cookie` line whose name and attributes are fixed, rendered per response with only
//! the value and the max age changing: the session middleware's cookie, on every save.
//!
//! The bytes are exactly those of [`set_cookie_header`](super::set_cookie_header) with the
//! same options and `max_age`; the name, `SameSite` and the rest are checked once, when the
//! template is made, instead of on every response.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::http_date::{push_http_date, split_timestamp};
use super::{quote_value, CookieError, CookieOptions, MaxAge, Morsel};

/// The fixed parts of a `Set-Cookie` line, in Django's attribute order.
///
/// ```
/// use tessera::cookie::{set_cookie_header, CookieOptions, SetCookieTemplate};
/// let mut options = CookieOptions::new();
/// options.path = Some("/".into());
/// options.httponly = true;
/// options.samesite = Some("Lax".into());
/// let template = SetCookieTemplate::new("sessionid", &options)?;
/// let now = 1_700_000_000.0;
/// assert_eq!(
///     template.render("abc123", 1_209_600.0, now),
///     set_cookie_header("sessionid", "abc123", &options.max_age(1_209_600), now)?,
/// );
/// # Ok::<(), tessera::cookie::CookieError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SetCookieTemplate {
    /// Tells this template's cached endings from another's on the same thread; a clone
    /// renders the same bytes, so it shares the number.
    id: u64,
    /// `name=`
    head: String,
    /// `; Domain=…`, or empty.
    domain: String,
    httponly: bool,
    /// Everything after `Max-Age`: `; Partitioned; Path=…; SameSite=…; Secure` as set.
    tail: String,
}

/// Numbers the templates made in this process (see [`SetCookieTemplate::id`]).
static NEXT_TEMPLATE_ID: AtomicU64 = AtomicU64::new(0);

/// What follows the value in a rendered line (`; expires=…; Max-Age=…` and the fixed tail),
/// kept for the second it expires in and the age it was written with.
struct Ending {
    template: u64,
    expires_second: i64,
    max_age_bits: u64,
    text: String,
}

thread_local! {
    /// The last ending rendered on this thread. A session cookie's expiry is "now plus a fixed
    /// age", so consecutive saves nearly always end alike, and one copy of these ~80 bytes
    /// replaces formatting the date and the age again.
    static LAST_ENDING: RefCell<Ending> = const {
        RefCell::new(Ending {
            template: u64::MAX,
            expires_second: i64::MIN,
            max_age_bits: 0,
            text: String::new(),
        })
    };
}

impl SetCookieTemplate {
    /// A template for cookie `name` with `options` (their `max_age` and `expires` are
    /// ignored: every render gives its own max age, and `expires` follows from it).
    ///
    /// # Errors
    ///
    /// What [`set_cookie_header`](super::set_cookie_header) would return for this name and
    /// these options: an illegal or reserved name, an invalid `SameSite`.
    pub fn new(name: &str, options: &CookieOptions) -> Result<Self, CookieError> {
        let mut fixed = options.clone();
        fixed.expires = None;
        fixed.max_age = None;
        // The same checks as a real Set-Cookie, once.
        Morsel::new(name)?.set("", &fixed.clone().max_age(0))?;
        let domain = match fixed.domain.as_deref() {
            Some(d) if !d.is_empty() => format!("; Domain={d}"),
            _ => String::new(),
        };
        let mut tail = String::new();
        if fixed.partitioned {
            tail.push_str("; Partitioned");
        }
        if let Some(path) = fixed.path.as_deref().filter(|p| !p.is_empty()) {
            tail.push_str("; Path=");
            tail.push_str(path);
        }
        if let Some(samesite) = fixed.samesite.as_deref().filter(|s| !s.is_empty()) {
            tail.push_str("; SameSite=");
            tail.push_str(samesite);
        }
        if fixed.secure {
            tail.push_str("; Secure");
        }
        Ok(SetCookieTemplate {
            id: NEXT_TEMPLATE_ID.fetch_add(1, Ordering::Relaxed),
            head: format!("{name}="),
            domain,
            httponly: fixed.httponly,
            tail,
        })
    }

    /// The `Set-Cookie` value for `value`, expiring `max_age` seconds after `now`.
    pub fn render(&self, value: &str, max_age: f64, now: f64) -> String {
        let expires_at = now + max_age;
        let plain = is_plain_value(value);
        let kept = LAST_ENDING.try_with(|last| {
            // Only a render borrows it, and a render never renders: the borrow fails only if
            // that ever changes, and then the ending is written afresh.
            let mut last = last.try_borrow_mut().ok()?;
            let (expires_second, _) = split_timestamp(expires_at);
            if last.template != self.id
                || last.expires_second != expires_second
                || last.max_age_bits != max_age.to_bits()
            {
                last.text.clear();
                self.push_ending(&mut last.text, max_age, expires_at);
                last.template = self.id;
                last.expires_second = expires_second;
                last.max_age_bits = max_age.to_bits();
            }
            Some(self.render_with(value, plain, &last.text))
        });
        match kept {
            Ok(Some(line)) => line,
            // The thread is being torn down, or the ending is borrowed.
            _ => {
                let mut ending = String::new();
                self.push_ending(&mut ending, max_age, expires_at);
                self.render_with(value, plain, &ending)
            }
        }
    }

    /// The line for `value`, followed by `ending`, in a buffer of exactly its length: a
    /// header value made from a `String` whose capacity is its length takes over its buffer,
    /// any other costs one more allocation.
    fn render_with(&self, value: &str, plain: bool, ending: &str) -> String {
        let quoted;
        let value = if plain {
            value
        } else {
            quoted = quote_value(value);
            &quoted
        };
        let mut out =
            String::with_capacity(self.head.len() + value.len() + self.domain.len() + ending.len());
        out.push_str(&self.head);
        out.push_str(value);
        out.push_str(&self.domain);
        out.push_str(ending);
        out
    }

    /// What follows the value and the domain for this `max_age`, expiring at `expires_at`.
    fn push_ending(&self, out: &mut String, max_age: f64, expires_at: f64) {
        out.push_str("; expires=");
        push_http_date(out, expires_at);
        if self.httponly {
            out.push_str("; HttpOnly");
        }
        out.push_str("; Max-Age=");
        push_max_age(out, max_age);
        out.push_str(&self.tail);
    }
}

impl SetCookieTemplate {
    /// The `Set-Cookie` value for `value` without `expires` or `Max-Age`: a cookie that
    /// ends with the browser session.
    pub fn render_session_only(&self, value: &str) -> String {
        let mut out = String::with_capacity(
            self.head.len() + value.len() + self.domain.len() + self.tail.len() + 12,
        );
        out.push_str(&self.head);
        if is_plain_value(value) {
            out.push_str(value);
        } else {
            out.push_str(&quote_value(value));
        }
        out.push_str(&self.domain);
        if self.httponly {
            out.push_str("; HttpOnly");
        }
        out.push_str(&self.tail);
        out
    }
}

/// A value written as it is, unquoted: every session key and signed session.
fn is_plain_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(is_plain_cookie_byte)
}

/// Bytes Python's cookie quoting leaves alone (a subset of its legal characters, enough for
/// session keys and signed values).
fn is_plain_cookie_byte(b: u8) -> bool {
    PLAIN_COOKIE_BYTES[usize::from(b)]
}

/// [`is_plain_cookie_byte`] as a table: one load per byte of every cookie value rendered.
const PLAIN_COOKIE_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric();
        b += 1;
    }
    let punctuation = b"!#$%&'*+-.^_`|~:";
    let mut i = 0;
    while i < punctuation.len() {
        table[punctuation[i] as usize] = true;
        i += 1;
    }
    table
};

/// `max_age` as a whole number of seconds, when it is one well inside `i64` (every real age).
fn whole_seconds(max_age: f64) -> Option<i64> {
    (max_age.fract() == 0.0 && max_age.abs() < 9.0e15).then_some(max_age as i64)
}

fn push_max_age(out: &mut String, max_age: f64) {
    // Whole numbers print as integers; anything else takes the exact path.
    if let Some(seconds) = whole_seconds(max_age) {
        out.push_str(itoa::Buffer::new().format(seconds));
    } else if let Some(text) = MaxAge::from(max_age).attribute_value() {
        out.push_str(&text);
    } else {
        out.push('0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::set_cookie_header;

    /// Every combination of attributes, values and ages renders as the generic path does.
    #[test]
    fn renders_exactly_what_set_cookie_header_writes() {
        let values = [
            "abc123xyz",
            "",
            "with space",
            "quote\"d",
            "a:b-c_d.e~f",
            "é",
        ];
        let ages = [
            1_209_600.0,
            0.0,
            -5.0,
            10.5,
            -0.4,
            86_400.25,
            1e18,
            3_155_760_000_000.0,
        ];
        let nows = [
            1_700_000_000.0,
            1_700_000_000.999_999_7,
            0.5,
            253_402_300_700.0,
        ];
        let mut checked = 0;
        for domain in [None, Some(""), Some(".example.com")] {
            for path in [None, Some("/"), Some("/app")] {
                for samesite in [None, Some("Lax"), Some("none"), Some("")] {
                    for flags in 0..8u8 {
                        let mut options = CookieOptions::new();
                        options.domain = domain.map(String::from);
                        options.path = path.map(String::from);
                        options.samesite = samesite.map(String::from);
                        options.secure = flags & 1 != 0;
                        options.httponly = flags & 2 != 0;
                        options.partitioned = flags & 4 != 0;
                        let template = SetCookieTemplate::new("sessionid", &options).unwrap();
                        for value in values {
                            for age in ages {
                                for now in nows {
                                    let want = set_cookie_header(
                                        "sessionid",
                                        value,
                                        &options.clone().max_age(age),
                                        now,
                                    )
                                    .unwrap();
                                    let rendered = template.render(value, age, now);
                                    assert_eq!(rendered, want);
                                    // The buffer is exactly its length, so the header
                                    // value takes it over without a copy.
                                    assert_eq!(rendered.capacity(), rendered.len(), "{want}");
                                    checked += 1;
                                }
                            }
                            let want = set_cookie_header("sessionid", value, &options, 0.0);
                            assert_eq!(template.render_session_only(value), want.unwrap());
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    /// The ending kept per thread is never another template's, another age's or another
    /// second's. One template at a time, the renders step through an age's seconds (kept,
    /// then a new second) and on to the next age within the same second; then the two
    /// templates alternate. Leaving any part out of the key fails one of these.
    #[test]
    fn the_kept_ending_is_only_reused_for_the_same_template_age_and_second() {
        let mut lax = CookieOptions::new();
        lax.samesite = Some("Lax".into());
        let mut strict = CookieOptions::new();
        strict.samesite = Some("Strict".into());
        strict.httponly = true;
        let options = [lax, strict];
        let templates = options
            .each_ref()
            .map(|o| SetCookieTemplate::new("sessionid", o).unwrap());
        let ages = [60.0, 61.0, 60.5];
        let nows = [1_700_000_000.0, 1_700_000_000.5, 1_700_000_001.0];
        let mut renders = Vec::new();
        for t in 0..2 {
            for age in ages {
                for now in nows {
                    renders.push((t, age, now));
                }
            }
        }
        for age in ages {
            for now in nows {
                renders.extend([(0, age, now), (1, age, now)]);
            }
        }
        for (t, age, now) in renders {
            let want = set_cookie_header("sessionid", "abc", &options[t].clone().max_age(age), now);
            assert_eq!(
                templates[t].render("abc", age, now),
                want.unwrap(),
                "template {t}, age {age}, now {now}"
            );
        }
    }

    #[test]
    fn the_plain_byte_table_is_the_rule() {
        for b in 0..=255u8 {
            let rule = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:".contains(&b);
            assert_eq!(is_plain_cookie_byte(b), rule, "byte {b}");
        }
    }

    #[test]
    fn refuses_what_set_cookie_header_refuses() {
        let options = CookieOptions::new();
        assert!(SetCookieTemplate::new("bad name", &options).is_err());
        assert!(SetCookieTemplate::new("expires", &options).is_err());
        let mut bad_samesite = CookieOptions::new();
        bad_samesite.samesite = Some("sometimes".into());
        assert!(SetCookieTemplate::new("sessionid", &bad_samesite).is_err());
    }
}
