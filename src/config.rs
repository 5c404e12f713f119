//! `spanlint.toml`: the project's configuration of `spanlint check`.
//!
//! Found by walking up from the current directory (`.spanlint.toml`, then `spanlint.toml`, in
//! each directory; the nearest wins), or named with `--config FILE`; `--isolated` uses none.
//! There is no user-global configuration, so a CI run and a laptop run agree. Every key is
//! documented in `docs/config.md`.
//!
//! The file is strict: unknown keys, bad values, unknown rule ids and invalid globs are errors
//! that point at their place in the file (line and column, through miette). Paths in it are
//! relative to the file's directory.
//!
//! What the configuration changes goes to three places, never into a rule:
//! the rules file ([`Config::ruleset`]: `rules-file`, `extend-rules-file`, `content-policy`),
//! the [`Settings`] the rules read (`allow-keys`, `expected-context`), and the findings after
//! the rules ran (`crate::sink`: `[rules.<id>] severity` and `[[ignore]]`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use miette::{NamedSource, SourceSpan};
use serde::Deserialize;
use toml::Spanned;

use crate::finding::{Finding, Severity};
use crate::rules::rulesfile::{BUILTIN_RULES, ContentMode, RulesFile};
use crate::rules::{self, Ruleset, Settings, extend};

/// The configuration file names looked for in each directory, in order of precedence.
pub const FILE_NAMES: [&str; 2] = [".spanlint.toml", "spanlint.toml"];

/// Which configuration a run uses (from `--config` / `--isolated`).
#[derive(Debug, Clone, Copy)]
pub enum ConfigChoice<'a> {
    /// Walk up from this directory to the first one holding a [`FILE_NAMES`] file.
    Discover(&'a Path),
    /// This file (`--config`).
    File(&'a Path),
    /// No configuration file (`--isolated`).
    Isolated,
}

/// A rule's configured level: a severity, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Off,
    Info,
    Warning,
    Error,
}

impl RuleLevel {
    /// The severity findings get, or `None` when the rule is off.
    pub fn severity(self) -> Option<Severity> {
        match self {
            RuleLevel::Off => None,
            RuleLevel::Info => Some(Severity::Info),
            RuleLevel::Warning => Some(Severity::Warning),
            RuleLevel::Error => Some(Severity::Error),
        }
    }
}

/// One `[[ignore]]` entry: findings of `rule` on spans matching the globs are not reported.
#[derive(Debug, Clone)]
pub struct Ignore {
    pub rule: &'static str,
    span_name: Option<GlobMatcher>,
    attribute: Option<GlobMatcher>,
    service: Option<GlobMatcher>,
    /// Why the findings are accepted (for people; not used).
    pub reason: Option<String>,
    /// Where the entry is in the configuration file (byte range), for the unmatched warning.
    pub span: Range<usize>,
}

impl Ignore {
    /// Whether this entry covers a finding. A glob that is given must match: an `attribute`
    /// pattern never matches a finding without an attribute, nor `service` one without a
    /// service.
    pub fn matches(&self, finding: &Finding) -> bool {
        let matches = |glob: &Option<GlobMatcher>, text: Option<&str>| match glob {
            None => true,
            Some(glob) => text.is_some_and(|t| glob.is_match(t)),
        };
        finding.rule == self.rule
            && matches(&self.span_name, Some(&finding.span.name))
            && matches(&self.attribute, finding.attribute.as_deref())
            && matches(&self.service, finding.span.service.as_deref())
    }
}

/// The configuration file as it was read, for diagnostics that point into it.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The path as shown to the user.
    pub name: String,
    pub text: String,
}

impl ConfigSource {
    pub fn named(&self) -> NamedSource<String> {
        NamedSource::new(&self.name, self.text.clone()).with_language("toml")
    }
}

/// A loaded configuration (all defaults when there is no file).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from; `None` when no file was used.
    pub source: Option<ConfigSource>,
    /// `rules-file`, resolved against the configuration file's directory.
    pub rules_file: Option<PathBuf>,
    /// `extend-rules-file`, resolved likewise.
    pub extend_rules_file: Option<PathBuf>,
    /// `content-policy`: replaces the rules file's `[content] policy`.
    pub content_policy: Option<ContentMode>,
    /// `allow-keys` and `expected-context`, for the rules.
    pub settings: Settings,
    /// `[rules.<id>] severity`, by rule id.
    pub levels: BTreeMap<&'static str, RuleLevel>,
    /// `[[ignore]]`, in file order.
    pub ignores: Vec<Ignore>,
    /// `[migrate]`: settings of `spanlint migrate`.
    pub migrate: MigrateConfig,
}

/// The `[migrate]` table.
#[derive(Debug, Clone, Default)]
pub struct MigrateConfig {
    /// `squatter-namespace`: where keys squatting a reserved namespace move (`myapp`).
    pub squatter_namespace: Option<String>,
}

/// Why a namespace cannot take squatters: `None` when it can. It must be one or more
/// dot-separated words (letters, digits, `_`, `-`) and not under a reserved namespace.
pub fn invalid_squatter_namespace(ns: &str, rules: &Ruleset) -> Option<String> {
    let words_ok = !ns.is_empty()
        && ns.split('.').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if !words_ok {
        return Some(format!(
            "`{ns}` is not a namespace: use dot-separated words without a trailing dot, e.g. `myapp`"
        ));
    }
    let probe = format!("{ns}.x");
    rules
        .reserved_namespace(&probe)
        .map(|n| format!("`{ns}` is under the reserved namespace `{}`", n.prefix))
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    #[diagnostic(code(spanlint::config::io))]
    Io {
        path: String,
        #[source]
        error: std::io::Error,
    },
    #[error("invalid configuration {path}: {message}")]
    #[diagnostic(code(spanlint::config::invalid))]
    Invalid {
        path: String,
        message: String,
        #[source_code]
        source_code: NamedSource<String>,
        #[label("{label}")]
        at: Option<SourceSpan>,
        label: String,
        #[help]
        help: Option<String>,
    },
}

/// A `[[ignore]]` entry that matched no finding (cargo-deny's unmatched-skip): it can go.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("this [[ignore]] entry matched no finding")]
#[diagnostic(
    code(spanlint::config::unmatched_ignore),
    severity(Warning),
    help("remove it, or fix its patterns; entries for rules that are `off` never match")
)]
pub struct UnmatchedIgnore {
    #[source_code]
    source_code: NamedSource<String>,
    #[label("matched nothing")]
    at: SourceSpan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    rules_file: Option<String>,
    extend_rules_file: Option<String>,
    content_policy: Option<ContentMode>,
    allow_keys: Option<Vec<Spanned<String>>>,
    expected_context: Option<Vec<String>>,
    #[serde(default)]
    rules: BTreeMap<Spanned<String>, RawRule>,
    #[serde(default)]
    ignore: Vec<Spanned<RawIgnore>>,
    #[serde(default)]
    migrate: RawMigrate,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMigrate {
    squatter_namespace: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    severity: RuleLevel,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawIgnore {
    rule: Spanned<String>,
    span_name: Option<Spanned<String>>,
    attribute: Option<Spanned<String>>,
    service: Option<Spanned<String>>,
    reason: Option<String>,
}

/// The nearest configuration file at or above `start`.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        FILE_NAMES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
    })
}

// A configuration error ends the run, once: the size of the error (it carries the file's text
// for the snippet) does not matter.
#[allow(clippy::result_large_err)]
impl Config {
    /// Loads the configuration a run asked for.
    pub fn load(choice: ConfigChoice<'_>) -> Result<Config, ConfigError> {
        let path = match choice {
            ConfigChoice::Isolated => return Ok(Config::default()),
            ConfigChoice::File(path) => path.to_path_buf(),
            ConfigChoice::Discover(start) => match discover(start) {
                Some(path) => shorten(&path, start),
                None => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Config::parse(&path, text)
    }

    /// Parses a configuration file's text; `path` names it in errors and anchors its
    /// relative paths.
    pub fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
        let source = ConfigSource {
            name: path.display().to_string(),
            text,
        };
        let invalid =
            |message: String, at: Option<Range<usize>>, label: &str, help: Option<String>| {
                ConfigError::Invalid {
                    path: source.name.clone(),
                    message,
                    source_code: source.named(),
                    at: at.map(SourceSpan::from),
                    label: label.to_string(),
                    help,
                }
            };
        let raw: RawConfig = toml::from_str(&source.text).map_err(|err| {
            invalid(
                err.message().to_string(),
                err.span(),
                "here",
                Some("every key is described in docs/config.md".to_string()),
            )
        })?;

        let known_rule = |id: &Spanned<String>, what: &str| {
            rules::rule(id.get_ref()).map(|r| r.id).ok_or_else(|| {
                invalid(
                    format!("unknown rule `{}` in {what}", id.get_ref()),
                    Some(id.span()),
                    "not a rule id",
                    Some(match rules::closest_rule_id(id.get_ref()) {
                        Some(meant) => format!("did you mean `{meant}`?"),
                        None => "`spanlint rules` lists the rule ids".to_string(),
                    }),
                )
            })
        };
        let glob = |pattern: &Spanned<String>| {
            Glob::new(pattern.get_ref())
                .map(|g| g.compile_matcher())
                .map_err(|err| {
                    invalid(
                        format!("invalid glob `{}`: {}", pattern.get_ref(), err.kind()),
                        Some(pattern.span()),
                        "invalid glob",
                        None,
                    )
                })
        };

        let mut levels = BTreeMap::new();
        for (id, rule) in &raw.rules {
            levels.insert(known_rule(id, "[rules]")?, rule.severity);
        }
        let mut ignores = Vec::new();
        for entry in &raw.ignore {
            let span = entry.span();
            let entry = entry.get_ref();
            ignores.push(Ignore {
                rule: known_rule(&entry.rule, "[[ignore]]")?,
                span_name: entry.span_name.as_ref().map(glob).transpose()?,
                attribute: entry.attribute.as_ref().map(glob).transpose()?,
                service: entry.service.as_ref().map(glob).transpose()?,
                reason: entry.reason.clone(),
                span,
            });
        }
        let mut settings = Settings::default();
        if let Some(keys) = &raw.allow_keys {
            for key in keys {
                glob(key)?;
            }
            settings.allow_keys = keys.iter().map(|k| k.get_ref().clone()).collect();
        }
        settings.expected_context = raw.expected_context;
        let mut migrate = MigrateConfig::default();
        if let Some(ns) = &raw.migrate.squatter_namespace {
            if let Some(message) = invalid_squatter_namespace(ns.get_ref(), &Ruleset::builtin()) {
                return Err(invalid(
                    message,
                    Some(ns.span()),
                    "not a namespace of your own",
                    None,
                ));
            }
            migrate.squatter_namespace = Some(ns.get_ref().clone());
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        Ok(Config {
            rules_file: raw.rules_file.map(|p| dir.join(p)),
            extend_rules_file: raw.extend_rules_file.map(|p| dir.join(p)),
            content_policy: raw.content_policy,
            settings,
            levels,
            ignores,
            migrate,
            source: Some(source),
        })
    }

    /// Builds the ruleset: `rules_override` (`--rules`), else `rules-file`, else the built-in
    /// rules; then `extend-rules-file` merged on top, `content-policy`, and the settings.
    pub fn ruleset(&self, rules_override: Option<&Path>) -> Result<Ruleset, miette::Report> {
        let base_path = rules_override.or(self.rules_file.as_deref());
        if base_path.is_none() && self.extend_rules_file.is_none() {
            // The built-in rules as they are: precompiled, no TOML to read at start.
            return Ruleset::builtin_with_settings(self.settings.clone(), self.content_policy)
                .map_err(miette::Report::new);
        }
        let mut file = self.read_rules_file(base_path)?;
        if let Some(policy) = self.content_policy {
            file.content.policy = policy;
        }
        Ruleset::with_settings(file, self.settings.clone()).map_err(miette::Report::new)
    }

    /// Reads the rules file at `base_path` (the built-in TOML when `None`) with the
    /// `extend-rules-file` merged on top, with diagnostics pointing into the TOML.
    fn read_rules_file(&self, base_path: Option<&Path>) -> Result<RulesFile, miette::Report> {
        let base = match base_path {
            None => BUILTIN_RULES.to_string(),
            Some(path) => read_rules(path)?,
        };
        let base_name = base_path.map_or("the built-in rules".to_string(), |p| {
            p.display().to_string()
        });
        let file = match &self.extend_rules_file {
            None => RulesFile::parse(&base).map_err(|err| toml_report(&err, &base_name, &base))?,
            Some(path) => {
                let extension = read_rules(path)?;
                let ext_name = path.display().to_string();
                extend::parse_extended(&base, &extension).map_err(|err| match err {
                    extend::ExtendError::Base(err) => toml_report(&err, &base_name, &base),
                    extend::ExtendError::Extension(err) => toml_report(&err, &ext_name, &extension),
                    extend::ExtendError::Merged(err) => {
                        // The merged document has no text; point into the extension when the
                        // error names a key written there (`unknown field `policyy``).
                        let at = err
                            .message()
                            .split('`')
                            .nth(1)
                            .and_then(|key| find_key(&extension, key));
                        miette::miette!(
                            code = "spanlint::rules::parse",
                            labels = at
                                .map(|s| vec![miette::LabeledSpan::at(s, "here")])
                                .unwrap_or_default(),
                            help = "the extension is merged on top of the base rules file \
                                    before it is read; see docs/config.md",
                            "invalid rules file {base_name} extended by {ext_name}: {}",
                            err.message()
                        )
                        .with_source_code(NamedSource::new(&ext_name, extension.clone()))
                    }
                })?
            }
        };
        Ok(file)
    }

    /// The warning for an ignore entry that matched nothing.
    pub fn unmatched_ignore(&self, ignore: &Ignore) -> Option<UnmatchedIgnore> {
        let source = self.source.as_ref()?;
        Some(UnmatchedIgnore {
            source_code: source.named(),
            at: ignore.span.clone().into(),
        })
    }
}

/// A discovered path relative to the start directory when it is inside it (shorter messages).
fn shorten(path: &Path, start: &Path) -> PathBuf {
    path.strip_prefix(start)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Where `key = …` is written in a TOML text, if on a line of its own.
fn find_key(text: &str, key: &str) -> Option<Range<usize>> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let rest = line.trim_start().strip_prefix(key);
        if rest.is_some_and(|r| r.trim_start().starts_with('=')) {
            let start = offset + indent;
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    None
}

fn read_rules(path: &Path) -> Result<String, miette::Report> {
    std::fs::read_to_string(path)
        .map_err(|err| miette::miette!(code = "spanlint::rules::io", "{}: {err}", path.display()))
}

fn toml_report(err: &toml::de::Error, name: &str, text: &str) -> miette::Report {
    miette::miette!(
        code = "spanlint::rules::parse",
        labels = err
            .span()
            .map(|s| vec![miette::LabeledSpan::at(s, "here")])
            .unwrap_or_default(),
        "invalid rules file {name}: {}",
        err.message()
    )
    .with_source_code(NamedSource::new(name, text.to_string()))
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("dir/spanlint.toml"), text.to_string())
    }

    fn error_at(text: &str) -> (String, Option<usize>, Option<String>) {
        match parse(text).expect_err("invalid") {
            ConfigError::Invalid {
                message, at, help, ..
            } => (message, at.map(|s| s.offset()), help),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            r#"
rules-file = "rules.toml"
extend-rules-file = "extra.toml"
content-policy = "allow"
allow-keys = ["gen_ai.myapp.*"]
expected-context = ["user.id"]

[rules.span-name-format]
severity = "off"

[rules.deprecated-attribute]
severity = "error"

[[ignore]]
rule = "reserved-namespace"
span-name = "chat *"
attribute = "gen_ai.openai.*"
service = "billing"
reason = "waiting for the library"
"#,
        )
        .expect("valid");
        assert_eq!(config.rules_file, Some(PathBuf::from("dir/rules.toml")));
        assert_eq!(
            config.extend_rules_file,
            Some(PathBuf::from("dir/extra.toml"))
        );
        assert_eq!(config.content_policy, Some(ContentMode::Allow));
        assert_eq!(config.settings.allow_keys, ["gen_ai.myapp.*"]);
        assert_eq!(
            config.settings.expected_context.as_deref(),
            Some(&["user.id".to_string()][..])
        );
        assert_eq!(config.levels["span-name-format"], RuleLevel::Off);
        assert_eq!(config.levels["deprecated-attribute"], RuleLevel::Error);
        assert_eq!(config.ignores.len(), 1);
        assert_eq!(config.ignores[0].rule, "reserved-namespace");
        assert_eq!(
            config.ignores[0].reason.as_deref(),
            Some("waiting for the library")
        );
    }

    #[test]
    fn settings_and_the_content_policy_reach_the_ruleset() {
        let config = parse(
            "content-policy = \"allow\"\nexpected-context = [\"enduser.id\", \"tenant.id\"]\n\
             allow-keys = [\"gen_ai.myapp.*\"]\n",
        )
        .unwrap();
        let rules = config.ruleset(None).expect("built-in rules");
        assert_eq!(rules.context_keys(), ["enduser.id", "tenant.id"]);
        assert!(rules.content_allowed());
        assert!(rules.is_allowed_key("gen_ai.myapp.cost.usd"));
        assert!(!rules.is_allowed_key("gen_ai.other"));

        let defaults = Config::default().ruleset(None).unwrap();
        // Without `expected-context`, the rules file's `[trace] context-keys`.
        assert_eq!(defaults.context_keys(), ["gen_ai.conversation.id"]);
        assert!(!defaults.content_allowed());
    }

    #[test]
    fn defaults_without_a_file() {
        let config = Config::load(ConfigChoice::Isolated).unwrap();
        assert!(config.source.is_none());
        assert_eq!(config.settings.expected_context, None);
        assert!(config.levels.is_empty() && config.ignores.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_point_at_their_place() {
        let text = "content-policy = \"allow\"\nallow-key = []\n";
        let (message, at, _) = error_at(text);
        assert!(message.contains("allow-key"), "{message}");
        assert_eq!(at, text.find("allow-key"));

        let text = "[rules.span-name-format]\nseverity = \"loud\"\n";
        let (message, at, _) = error_at(text);
        assert!(
            message.contains("loud") || message.contains("variant"),
            "{message}"
        );
        assert_eq!(at, text.find("\"loud\""));
    }

    #[test]
    fn an_unknown_rule_id_gets_a_did_you_mean() {
        let text = "[rules.span-name-fromat]\nseverity = \"off\"\n";
        let (message, at, help) = error_at(text);
        assert!(message.contains("span-name-fromat"), "{message}");
        assert_eq!(at, text.find("span-name-fromat"));
        assert_eq!(help.as_deref(), Some("did you mean `span-name-format`?"));

        let text = "[[ignore]]\nrule = \"nope\"\n";
        let (_, at, help) = error_at(text);
        assert_eq!(at, text.find("\"nope\""));
        assert!(help.unwrap().contains("spanlint rules"));
    }

    #[test]
    fn an_invalid_glob_is_an_error_at_the_glob() {
        let text = "[[ignore]]\nrule = \"reserved-namespace\"\nattribute = \"gen_ai.[\"\n";
        let (message, at, _) = error_at(text);
        assert!(message.contains("gen_ai.["), "{message}");
        assert_eq!(at, text.find("\"gen_ai.[\""));
    }

    #[test]
    fn ignore_patterns_must_all_match() {
        let config = parse(
            "[[ignore]]\nrule = \"reserved-namespace\"\nspan-name = \"chat *\"\nattribute = \"gen_ai.openai.*\"\n",
        )
        .unwrap();
        let ignore = &config.ignores[0];
        let mut finding = Finding {
            rule: "reserved-namespace",
            severity: Severity::Error,
            message: String::new(),
            help: None,
            attribute: Some("gen_ai.openai.api_base".to_string()),
            offset: 0,
            span: crate::finding::SpanIdentity {
                name: "chat gpt-4o".to_string(),
                ..Default::default()
            }
            .into(),
        };
        assert!(ignore.matches(&finding));
        std::sync::Arc::make_mut(&mut finding.span).name = "embeddings x".to_string();
        assert!(!ignore.matches(&finding), "span name must match");
        std::sync::Arc::make_mut(&mut finding.span).name = "chat gpt-4o".to_string();
        finding.attribute = None;
        assert!(
            !ignore.matches(&finding),
            "an attribute pattern needs an attribute"
        );
        finding.attribute = Some("gen_ai.openai.api_base".to_string());
        finding.rule = "content-recorded";
        assert!(!ignore.matches(&finding), "rule must match");
    }

    #[test]
    fn discovery_prefers_the_nearest_directory_and_the_dot_file() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        // (Nothing above the temporary directory counts.)
        assert!(discover(&deep).is_none_or(|p| !p.starts_with(root.path())));
        std::fs::write(root.path().join("spanlint.toml"), "").unwrap();
        assert_eq!(discover(&deep), Some(root.path().join("spanlint.toml")));
        std::fs::write(root.path().join(".spanlint.toml"), "").unwrap();
        assert_eq!(discover(&deep), Some(root.path().join(".spanlint.toml")));
        std::fs::write(root.path().join("a/spanlint.toml"), "").unwrap();
        assert_eq!(discover(&deep), Some(root.path().join("a/spanlint.toml")));
    }
}
