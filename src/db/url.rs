//! Where the data lives: `DATABASE_URL`, read into a backend and its address.

use std::path::PathBuf;

/// Where the data lives: the backend is chosen by the URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// `postgres://` / `postgresql://` → PostgreSQL; `sqlite://relative`, `sqlite:///absolute`
    /// or a plain path → SQLite. Any other `scheme://` is refused rather than guessed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("DATABASE_URL is empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_string()));
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("DATABASE_URL `sqlite://` names no file".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(format!(
                "DATABASE_URL has the unsupported scheme `{scheme}://`; use postgres://, postgresql://, sqlite:// or a file path"
            ));
        }
        if let Some(path) = raw.strip_prefix("sqlite:") {
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Ok(Self::Sqlite(PathBuf::from(raw)))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The database for a person to read: the SQLite file, or the PostgreSQL URL with its
    /// password left out.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("SQLite file {}", path.display()),
            Self::Postgres(url) => {
                let shown = match url.split_once("://") {
                    Some((scheme, rest)) => match rest.split_once('@') {
                        Some((user, host)) if !user.contains('/') => {
                            let user = user.split(':').next().unwrap_or(user);
                            format!("{scheme}://{user}@{host}")
                        }
                        _ => url.clone(),
                    },
                    None => url.clone(),
                };
                format!("PostgreSQL {shown}")
            }
        }
    }
}
