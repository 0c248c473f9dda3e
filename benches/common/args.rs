//! Command-line options of the load benchmarks: `--key value` or
//! `--key=value`, read one at a time by a hand-written `match` (a
//! benchmark has a dozen options; a parser crate would be its largest
//! dependency).

use std::time::Duration;

/// The arguments, read as options. Owned by the parsing function.
pub struct Flags<'a> {
    args: std::slice::Iter<'a, String>,
    /// The current option's name (before any `=`).
    key: &'a str,
    /// The current option's value after its `=`, until taken.
    inline: Option<&'a str>,
}

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String]) -> Flags<'a> {
        Flags { args: args.iter(), key: "", inline: None }
    }

    /// The next option: its name (the part before any `=`) and the whole
    /// argument.
    pub fn next_option(&mut self) -> Option<(&'a str, &'a str)> {
        let arg = self.args.next()?;
        (self.key, self.inline) = match arg.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (arg.as_str(), None),
        };
        Some((self.key, arg))
    }

    /// The current option's value: what follows its `=`, else the next
    /// argument.
    pub fn value(&mut self) -> Result<&'a str, String> {
        let key = self.key;
        self.inline.take().or_else(|| self.args.next().map(String::as_str)).ok_or(format!("{key} needs a value"))
    }

    /// The value as a count above zero (`10_000` allowed).
    pub fn count(&mut self) -> Result<usize, String> {
        let value = self.value()?;
        self.positive(value)
    }

    /// The value as a comma-separated list of counts above zero.
    pub fn counts(&mut self) -> Result<Vec<usize>, String> {
        let key = self.key;
        self.list(|v| number(v).filter(|&n| n > 0).ok_or(bad(key, v)))
    }

    /// The value as a number of seconds (fractions allowed).
    pub fn seconds(&mut self) -> Result<Duration, String> {
        let value = self.value()?;
        value.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()).ok_or(self.bad(value))
    }

    /// The value as a comma-separated list.
    pub fn list<T>(&mut self, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
        self.value()?.split(',').map(|i| item(i.trim())).collect()
    }

    /// The error for a bad value of the current option.
    pub fn bad(&self, value: &str) -> String {
        bad(self.key, value)
    }

    fn positive(&self, value: &str) -> Result<usize, String> {
        number(value).filter(|&n| n > 0).ok_or(self.bad(value))
    }
}

/// A whole number, `_` separators allowed.
pub fn number(s: &str) -> Option<usize> {
    s.replace('_', "").parse().ok()
}

/// The error for a bad `value` of option `key`.
pub fn bad(key: &str, value: &str) -> String {
    format!("bad value for {key}: {value:?}")
}
