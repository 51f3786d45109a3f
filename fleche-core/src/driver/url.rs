//! [`StoreUrl`]: a store's URL, parsed once, with typed access to its
//! options; and [`UrlError`], what can be wrong with one.
//!
//! Every store is named by a URL: `file:///data/cache`,
//! `postgres://me@db/team?schema=cache&strict=true`, `sqlite::memory:`.
//! This module is the only place that reads one. The text goes through the
//! WHATWG parser of the `url` crate (authority, IPv6 hosts, percent
//! escapes); the query string is split here into `name=value` options,
//! each percent-decoded — and only that: a `+` stays a `+`, as secret keys
//! contain them. An option given twice is an error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// An option a URL may carry, for the driver's list of what it takes (and
/// for errors and help that name them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlOption {
    /// The option's name in the query string.
    pub name: &'static str,
    /// One line: what it sets, and its default.
    pub help: &'static str,
}

impl UrlOption {
    /// An option called `name`.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help }
    }
}

/// What is wrong with a store URL. Messages never quote a secret: values of
/// options that hold one are shown as `***`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is not a URL, or not of the form its store takes.
    #[error("{0}")]
    Malformed(String),
    /// No driver is registered for the URL's scheme.
    #[error("unknown scheme `{scheme}`; {}", known_schemes(.known))]
    UnknownScheme {
        /// The scheme asked for.
        scheme: String,
        /// The schemes that drivers serve.
        known: Vec<String>,
    },
    /// An option that neither the cache nor the store takes.
    #[error("unknown option `{option}` (known: {})", .known.join(", "))]
    UnknownOption {
        /// The option given.
        option: String,
        /// The options this URL may carry.
        known: Vec<String>,
    },
    /// An option given more than once.
    #[error("option `{option}` is given more than once")]
    RepeatedOption {
        /// The option.
        option: String,
    },
    /// An option whose value is not what it takes.
    #[error("option `{option}` {}", describe_value(.expected, .found))]
    BadValue {
        /// The option.
        option: String,
        /// What it takes ("true or false", "milliseconds", …).
        expected: String,
        /// What it got (`***` for a secret).
        found: String,
    },
}

fn known_schemes(known: &[String]) -> String {
    if known.is_empty() {
        "no store drivers are registered (the `fleche` crate installs its built-in ones; \
         register your own with `register_driver`)"
            .to_owned()
    } else {
        format!("this program opens {}", known.join(", "))
    }
}

fn describe_value(expected: &str, found: &str) -> String {
    if found.is_empty() {
        format!("is empty; it takes {expected}")
    } else {
        format!("takes {expected}, not `{found}`")
    }
}

impl UrlError {
    /// A URL that is not of the form its store takes; `problem` says how
    /// (and, where it can, what to write instead).
    pub fn malformed(problem: impl Into<String>) -> Self {
        UrlError::Malformed(problem.into())
    }

    /// Option `option` does not take `found`: it takes `expected`. A
    /// secret's value is not repeated.
    pub fn bad_value(option: &str, expected: impl Into<String>, found: &str) -> Self {
        UrlError::BadValue {
            option: option.to_owned(),
            expected: expected.into(),
            found: if is_secret_option(option) {
                "***".to_owned()
            } else {
                found.to_owned()
            },
        }
    }
}

/// A store URL, parsed. Its accessors give the parts decoded; the text
/// given stays available (with its secrets) for reopening the store
/// elsewhere, and [`StoreUrl::redacted`] shows it without them.
///
/// ```
/// use std::time::Duration;
/// use fleche_core::driver::StoreUrl;
///
/// let url = StoreUrl::parse("redis://me:p%40ss@[::1]:6380/2?namespace=team&ttl_ms=500#insecure").unwrap();
/// assert_eq!(url.scheme(), "redis");
/// assert_eq!(url.host().as_deref(), Some("::1"));
/// assert_eq!(url.port(), Some(6380));
/// assert_eq!(url.password().as_deref(), Some("p@ss"));
/// assert_eq!(url.path(), "/2");
/// assert_eq!(url.fragment(), Some("insecure"));
/// assert_eq!(url.text("namespace").unwrap(), Some("team"));
/// assert_eq!(url.millis("ttl_ms").unwrap(), Some(Duration::from_millis(500)));
/// assert_eq!(url.redacted(), "redis://me:***@[::1]:6380/2?namespace=team&ttl_ms=500#insecure");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    text: String,
    url: url::Url,
    options: Vec<(String, String)>,
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for StoreUrl {
    /// The URL without its secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for StoreUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        Self::parse(s)
    }
}

impl StoreUrl {
    /// Parses `text` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|e| UrlError::Malformed(parse_problem(e, text)))?;
        let options = split_query(url.query().unwrap_or(""))?;
        Ok(Self {
            text: text.to_owned(),
            url,
            options,
        })
    }

    /// The URL as given, secrets included: for reopening the store, never
    /// for showing.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The scheme, in lower case: `file`, `postgres`, `sqlite`, …
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// Whether the scheme is followed by `//` as written (`file:///x`, not
    /// `file:/x`).
    pub fn has_authority(&self) -> bool {
        self.text
            .get(self.scheme().len() + 1..)
            .is_some_and(|rest| rest.starts_with("//"))
    }

    /// The host, decoded; an IPv6 address without its brackets. `None` if
    /// the URL names none (`file:///x`, `memory://`).
    pub fn host(&self) -> Option<String> {
        match self.url.host()? {
            url::Host::Domain("") => None,
            url::Host::Domain(d) => Some(decode(d)),
            url::Host::Ipv4(a) => Some(a.to_string()),
            url::Host::Ipv6(a) => Some(a.to_string()),
        }
    }

    /// The port, if the URL gives one.
    pub fn port(&self) -> Option<u16> {
        self.url.port()
    }

    /// The user name, decoded; `None` if empty.
    pub fn username(&self) -> Option<String> {
        Some(decode(self.url.username())).filter(|u| !u.is_empty())
    }

    /// The password, decoded (`%40` is `@`); `None` if there is none.
    pub fn password(&self) -> Option<String> {
        self.url.password().map(decode)
    }

    /// The path, decoded (`%20` is a space): `/data/cache`, `/0`, `""`, or
    /// `:memory:` for `sqlite::memory:`.
    pub fn path(&self) -> String {
        decode(self.url.path())
    }

    /// The fragment (`insecure` of `rediss://h/0#insecure`), as written.
    pub fn fragment(&self) -> Option<&str> {
        self.url.fragment()
    }

    /// Every option, decoded, in the order given: the cache's and the
    /// store's.
    pub fn options(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of option `name` as given (decoded), if present.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of option `name`, which must not be empty.
    pub fn text(&self, name: &str) -> Result<Option<&str>, UrlError> {
        self.typed(name, "a value", Some)
    }

    /// Option `name` as `true` or `false`.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, UrlError> {
        self.typed(name, "true or false", |v| v.parse().ok())
    }

    /// Option `name` as a number (of the type asked for).
    pub fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, UrlError> {
        self.typed(name, "a number", |v| v.parse().ok())
    }

    /// Option `name` as a whole number of milliseconds.
    pub fn millis(&self, name: &str) -> Result<Option<Duration>, UrlError> {
        self.typed(name, "milliseconds", |v| {
            v.parse().ok().map(Duration::from_millis)
        })
    }

    /// Option `name` read by `read`, which says `None` for a value it does
    /// not take (an empty value is refused before it is asked).
    pub fn typed<'a, T>(
        &'a self,
        name: &str,
        expected: &str,
        read: impl FnOnce(&'a str) -> Option<T>,
    ) -> Result<Option<T>, UrlError> {
        let Some(value) = self.option(name) else {
            return Ok(None);
        };
        if value.is_empty() {
            return Err(UrlError::bad_value(name, expected, value));
        }
        read(value)
            .map(Some)
            .ok_or_else(|| UrlError::bad_value(name, expected, value))
    }

    /// Fails on the first option that is not among `known`, naming it and
    /// listing them.
    pub fn check_options(&self, known: &[UrlOption]) -> Result<(), UrlError> {
        let unknown = self
            .options
            .iter()
            .find(|(k, _)| !known.iter().any(|o| o.name == k));
        match unknown {
            Some((option, _)) => Err(UrlError::UnknownOption {
                option: option.clone(),
                known: known.iter().map(|o| o.name.to_owned()).collect(),
            }),
            None => Ok(()),
        }
    }

    /// The URL without its secrets: the password (and for `s3://` the
    /// user name, an access key id) and the values of options that hold one (`password`, `secret_access_key`,
    /// `access_key_id`, `session_token`, any `…token…`) become `***`.
    pub fn redacted(&self) -> String {
        let secret_user = self.scheme() == "s3" && !self.url.username().is_empty();
        let secret_option = self.options.iter().any(|(k, _)| is_secret_option(k));
        if self.url.password().is_none() && !secret_user && !secret_option {
            // Nothing to hide: the text as written, which the parser would
            // normalise (`file:/x` to `file:///x`) and confuse a reader.
            return self.text.clone();
        }
        let mut url = self.url.clone();
        if url.password().is_some() {
            // Fails only for URLs that cannot have a password, which then
            // have none to hide.
            let _ = url.set_password(Some("***"));
        }
        // In `s3://KEY:SECRET@bucket` the user name is an access key id,
        // which is hidden where it is an option too (`access_key_id=`).
        if secret_user {
            let _ = url.set_username("***");
        }
        if let Some(query) = self.url.query() {
            url.set_query(Some(&redact_query(query)));
        }
        url.to_string()
    }

    /// The local path of a file-like URL (`file:///data/cache`,
    /// `sqlite:///data/cache.db`): absolute, decoded. Forms that would
    /// silently mean something else are refused with what to write instead:
    /// `file://data/x` names a host `data`, `file:/data/x` has no `//`.
    ///
    /// ```
    /// use fleche_core::driver::StoreUrl;
    /// let path = StoreUrl::parse("file:///tmp/my%20cache").unwrap().local_path().unwrap();
    /// assert_eq!(path, std::path::Path::new("/tmp/my cache"));
    /// let err = StoreUrl::parse("file:/tmp/x").unwrap().local_path().unwrap_err();
    /// assert!(err.to_string().contains("file:///tmp/x"), "{err}");
    /// ```
    pub fn local_path(&self) -> Result<PathBuf, UrlError> {
        let scheme = self.scheme();
        if !self.has_authority() {
            let written = self.text[scheme.len() + 1..]
                .split(['?', '#'])
                .next()
                .unwrap_or("");
            return Err(UrlError::malformed(format!(
                "a {scheme} URL is {scheme}:// followed by an absolute path; did you mean {}?",
                self.suggest(Path::new(&decode(written)))
            )));
        }
        let path = self.path();
        match self.host() {
            None => {}
            Some(host) if host.eq_ignore_ascii_case("localhost") => {}
            Some(host) => {
                let relative = Path::new(&host).join(path.trim_start_matches('/'));
                return Err(UrlError::malformed(format!(
                    "`{scheme}://{host}/…` names a host `{host}`, not a directory: a {scheme} URL \
                     takes an absolute path after three slashes; did you mean {}?",
                    self.suggest(&relative)
                )));
            }
        }
        if path.is_empty() || path == "/" {
            return Err(UrlError::malformed(format!(
                "the URL names no path; write {scheme}:///absolute/path"
            )));
        }
        Ok(PathBuf::from(path))
    }

    /// `path` (made absolute against the working directory) as a URL of
    /// this scheme, for suggestions.
    fn suggest(&self, path: &Path) -> String {
        let absolute = std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| Path::new("/").join(path));
        let scheme = self.scheme();
        match url::Url::from_file_path(&absolute) {
            Ok(u) => format!("{scheme}://{}", &u.as_str()["file://".len()..]),
            Err(()) => format!("{scheme}://{}", absolute.display()),
        }
    }
}

/// What is wrong with `text`, which the URL parser refused.
fn parse_problem(e: url::ParseError, text: &str) -> String {
    use url::ParseError as P;
    match e {
        P::RelativeUrlWithoutBase if text.starts_with(['/', '.', '~']) => format!(
            "`{text}` is a path, not a URL; write file:///absolute/path for a directory{}",
            if text.starts_with('/') {
                format!(" (here file://{text})")
            } else {
                String::new()
            }
        ),
        P::RelativeUrlWithoutBase => match text.split_once(':') {
            Some((scheme, _)) => format!("`{scheme}` is not a URL scheme"),
            None => "not a URL: no scheme (write one such as file:///path/to/dir or memory://)"
                .to_owned(),
        },
        P::InvalidPort => "the port is not a number from 0 to 65535".to_owned(),
        P::EmptyHost => "the URL names no host".to_owned(),
        P::InvalidIpv6Address => "the host is not a valid IPv6 address".to_owned(),
        P::InvalidIpv4Address => "the host is not a valid IPv4 address".to_owned(),
        P::InvalidDomainCharacter | P::IdnaError => {
            "the host has characters a host name cannot have".to_owned()
        }
        other => format!("not a URL: {other}"),
    }
}

/// The `name=value` pairs of a query string, percent-decoded (a `+` stays
/// a `+`); an option given twice is an error.
fn split_query(query: &str) -> Result<Vec<(String, String)>, UrlError> {
    let mut options: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key);
        if options.iter().any(|(k, _)| *k == key) {
            return Err(UrlError::RepeatedOption { option: key });
        }
        options.push((key, decode(value)));
    }
    Ok(options)
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Whether an option holds a secret (its value is never shown).
pub(crate) fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "sslkey",
        "credential",
        "access_key",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A query string with the values of secret options replaced by `***`.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_option(&decode(key)) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `url` with its secrets replaced by `***` (see [`StoreUrl::redacted`]).
/// Text that does not parse as a URL is redacted as well as its shape
/// allows: a password between `:` and `@`, secret options.
///
/// ```
/// use fleche_core::redact_url;
/// assert_eq!(redact_url("redis://me:hunter2@h:6379/0"), "redis://me:***@h:6379/0");
/// assert_eq!(redact_url("postgres://h/db?password=pw&schema=s"), "postgres://h/db?password=***&schema=s");
/// assert_eq!(redact_url("memory://x"), "memory://x");
/// assert_eq!(redact_url("redis://me:hunter2@h:notaport/0"), "redis://me:***@h:notaport/0");
/// ```
pub fn redact_url(url: &str) -> String {
    match StoreUrl::parse(url) {
        Ok(parsed) => parsed.redacted(),
        Err(_) => redact_unparsed(url.trim()),
    }
}

/// Redaction of text the URL parser refused, by its shape alone.
fn redact_unparsed(text: &str) -> String {
    let (base, query) = match text.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (text, None),
    };
    let mut out = base.to_owned();
    if let Some(start) = base.find("://").map(|i| i + 3) {
        let rest = &base[start..];
        let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            out = format!("{}***{}", &base[..start + colon + 1], &rest[at..]);
        }
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> StoreUrl {
        StoreUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> String {
        StoreUrl::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_fragment_ends_the_last_option() {
        // The bug of the hand-written parsers: `strict` read as `true#insecure`.
        let url = parse("rediss://host/0?namespace=n&strict=true#insecure");
        assert_eq!(url.flag("strict").unwrap(), Some(true));
        assert_eq!(url.fragment(), Some("insecure"));
        let url = parse("rediss://host/0?strict=true&namespace=n#insecure");
        assert_eq!(url.text("namespace").unwrap(), Some("n"));
    }

    #[test]
    fn percent_encoded_paths_decode() {
        let url = parse("file:///tmp/a%20dir%20%C3%BC/x");
        assert_eq!(url.path(), "/tmp/a dir ü/x");
        assert_eq!(url.local_path().unwrap(), Path::new("/tmp/a dir ü/x"));
        // A literal space is accepted and means the same.
        assert_eq!(parse("file:///tmp/a dir").path(), "/tmp/a dir");
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let url = parse("redis://[::1]:6379/0");
        assert_eq!(url.host().as_deref(), Some("::1"));
        assert_eq!(url.port(), Some(6379));
        let url = parse("postgres://u@[2001:db8::7]/db");
        assert_eq!(url.host().as_deref(), Some("2001:db8::7"));
        assert_eq!(url.port(), None);
        assert!(error("redis://[::zz]:1/0").contains("IPv6"));
    }

    #[test]
    fn passwords_with_at_and_percent() {
        // `@` and `%` escaped, as they should be.
        let url = parse("postgres://me:p%40ss%25w0rd@db.internal:5432/cache");
        assert_eq!(url.username().as_deref(), Some("me"));
        assert_eq!(url.password().as_deref(), Some("p@ss%w0rd"));
        assert_eq!(url.host().as_deref(), Some("db.internal"));
        // An unescaped `@` in the password: the last `@` ends the user info.
        let url = parse("postgres://me:p@ss@db/cache");
        assert_eq!(url.password().as_deref(), Some("p@ss"));
        assert_eq!(url.host().as_deref(), Some("db"));
        // A `%` that starts no escape stays a `%`.
        assert_eq!(
            parse("redis://:50%off@h/0").password().as_deref(),
            Some("50%off")
        );
        for text in [
            "postgres://me:p%40ss%25w0rd@db.internal:5432/cache",
            "postgres://me:p@ss@db/cache",
        ] {
            let shown = parse(text).redacted();
            assert!(!shown.contains("ss") && shown.contains("***"), "{shown}");
        }
    }

    #[test]
    fn options_are_decoded_and_typed() {
        let url = parse(
            "s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A5055&secret_access_key=a+b/c&max_retries=2&allow_http=true",
        );
        assert_eq!(url.option("endpoint"), Some("http://127.0.0.1:5055"));
        // `+` is not a space: secret keys contain it.
        assert_eq!(url.option("secret_access_key"), Some("a+b/c"));
        assert_eq!(url.number::<usize>("max_retries").unwrap(), Some(2));
        assert_eq!(url.flag("allow_http").unwrap(), Some(true));
        assert_eq!(url.flag("nothing").unwrap(), None);
        // An unescaped URL as a value works too: only `&` and `#` end it.
        let url = parse("s3://b/p?endpoint=http://127.0.0.1:5055&region=r");
        assert_eq!(url.option("endpoint"), Some("http://127.0.0.1:5055"));
    }

    #[test]
    fn bad_values_say_what_they_take() {
        let url = parse("memory://?strict=maybe&claim_ttl_ms=soon&inline_limit=&password=hunter2");
        assert_eq!(
            url.flag("strict").unwrap_err().to_string(),
            "option `strict` takes true or false, not `maybe`"
        );
        assert_eq!(
            url.millis("claim_ttl_ms").unwrap_err().to_string(),
            "option `claim_ttl_ms` takes milliseconds, not `soon`"
        );
        assert_eq!(
            url.number::<usize>("inline_limit").unwrap_err().to_string(),
            "option `inline_limit` is empty; it takes a number"
        );
        let e = url.number::<u32>("password").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn repeated_and_empty_options() {
        assert_eq!(
            error("memory://?strict=true&strict=false"),
            "option `strict` is given more than once"
        );
        // Empty pairs are nothing; a name without `=` is an empty value.
        let url = parse("memory://?&strict&&");
        assert_eq!(url.options().count(), 1);
        assert!(
            url.flag("strict")
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
        assert!(url.text("strict").is_err());
    }

    #[test]
    fn unknown_options_are_named_with_the_known_ones() {
        const KNOWN: &[UrlOption] = &[UrlOption::new("fsync", ""), UrlOption::new("strict", "")];
        let url = parse("file:///x?fsync=false&colour=blue");
        assert_eq!(
            url.check_options(KNOWN).unwrap_err().to_string(),
            "unknown option `colour` (known: fsync, strict)"
        );
        assert!(parse("file:///x?fsync=false").check_options(KNOWN).is_ok());
    }

    #[test]
    fn malformed_urls_say_why() {
        assert!(error("redis://127.0.0.1:notaport/0").contains("port is not a number"));
        assert!(error("no-scheme").contains("no scheme"));
        assert!(error("").contains("no scheme"));
        assert!(error("redis://:6379/0").contains("no host"));
        assert_eq!(
            error("/data/cache"),
            "`/data/cache` is a path, not a URL; write file:///absolute/path for a directory (here file:///data/cache)"
        );
        assert!(error("~/cache").contains("is a path, not a URL"));
    }

    #[test]
    fn opaque_urls() {
        let url = parse("sqlite::memory:");
        assert_eq!(url.scheme(), "sqlite");
        assert_eq!(url.path(), ":memory:");
        assert!(!url.has_authority());
        let url = parse("memory://");
        assert_eq!(url.host(), None);
        assert_eq!(url.path(), "");
        assert_eq!(
            parse("memory://Shared_1").host().as_deref(),
            Some("Shared_1")
        );
    }

    #[test]
    fn local_paths_refuse_what_would_mislead() {
        let cwd = std::env::current_dir().unwrap();
        let e = parse("file://relative/dir")
            .local_path()
            .unwrap_err()
            .to_string();
        let want = format!("file://{}/relative/dir", cwd.display());
        assert!(
            e.contains("names a host `relative`") && e.contains(&want),
            "{e}"
        );
        let e = parse("file:/data/x").local_path().unwrap_err().to_string();
        assert!(e.contains("did you mean file:///data/x?"), "{e}");
        let e = parse("sqlite:cache.db")
            .local_path()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("sqlite://{}/cache.db", cwd.display())),
            "{e}"
        );
        for empty in ["file://", "file:///", "sqlite://"] {
            let e = parse(empty).local_path().unwrap_err().to_string();
            assert!(e.contains("names no path"), "{empty}: {e}");
        }
        assert_eq!(
            parse("file://localhost/data/x").local_path().unwrap(),
            Path::new("/data/x")
        );
    }

    #[test]
    fn redaction_hides_every_secret() {
        let cases = [
            (
                "postgres://u:p%40ss@db/x?schema=s",
                "postgres://u:***@db/x?schema=s",
            ),
            ("redis://:secret@h", "redis://:***@h"),
            ("s3://bucket/pre@fix", "s3://bucket/pre@fix"),
            (
                "postgres://u@h/db?sslmode=require&password=p%40ss",
                "postgres://u@h/db?sslmode=require&password=***",
            ),
            (
                "s3://b/p?endpoint=http://h:1&secret_access_key=k",
                "s3://b/p?endpoint=http://h:1&secret_access_key=***",
            ),
            (
                "s3://b/p?access_key_id=AKIA1&region=r&session_token=t",
                "s3://b/p?access_key_id=***&region=r&session_token=***",
            ),
            (
                "rediss://u:pw@[::1]:1/0#insecure",
                "rediss://u:***@[::1]:1/0#insecure",
            ),
            ("s3://AKIAXYZ:hunter2@bucket/p", "s3://***:***@bucket/p"),
        ];
        for (text, shown) in cases {
            assert_eq!(parse(text).redacted(), shown);
            assert_eq!(redact_url(text), shown);
        }
        // Text without secrets is shown as written, not normalised.
        for text in [
            "file:/tmp/x",
            "memory://Shared",
            "sqlite::memory:",
            "redis://h/0?x=%41",
        ] {
            assert_eq!(redact_url(text), text);
        }
        for (text, shown) in cases {
            assert_eq!(format!("{:?}", parse(text)), format!("StoreUrl({shown:?})"));
        }
        // Text the parser refuses is redacted by its shape.
        assert_eq!(
            redact_url("postgres://u:hunter2@h:port/db?password=x"),
            "postgres://u:***@h:port/db?password=***"
        );
    }
}
